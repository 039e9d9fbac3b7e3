/**
 * The code cache of the bundled daemon (src/code-cache.ts): written after a start, used by the
 * next one, and never trusted beyond what it is: a damaged, foreign or stale cache is ignored
 * and written anew, and a directory others may write to is not used at all.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeCacheDir } from '../../src/code-cache.js';
import { REPO } from '../support/demo.js';

/**
 * Each load in a process of its own, as each start of the daemon is: within one process V8
 * finds a script it compiled before in its own memory, and a cache file would never be read.
 */
const RUNNER = `
import { loadCommonJs } from ${JSON.stringify(pathToFileURL(join(REPO, 'dist', 'src', 'code-cache.js')).href)};
const [file, dir, save] = process.argv.slice(1);
const m = loadCommonJs(file, dir === '-' ? null : dir);
const out = { cache: m.cache, sum: m.exports.sum(), join: m.exports.join('a', 'b'), url: await m.exports.url() };
if (save) { out.saved = m.save(); out.again = m.save(); }
console.log(JSON.stringify(out));
`;
interface Load {
  cache: string;
  sum: number;
  join: string;
  url: string;
  saved?: boolean;
  again?: boolean;
}
const loadCommonJs = (f: string, dir: string | null, save = false): Load =>
  JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', RUNNER, f, dir ?? '-', ...(save ? ['save'] : [])], { encoding: 'utf8' })) as Load;

let root: string;
let file: string;
let cache: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ockle-code-cache-'));
  file = join(root, 'mod.cjs');
  cache = join(root, 'cache');
  // Enough code for V8 to cache, a CommonJS require, and a dynamic import() as the daemon's chunks use.
  await writeFile(
    file,
    `const { join } = require('node:path');\n` +
      Array.from({ length: 200 }, (_, i) => `function f${i}(x) { return x * ${i} + ${i}; }`).join('\n') +
      `\nexports.sum = () => [${Array.from({ length: 200 }, (_, i) => `f${i}(1)`).join(', ')}].reduce((a, b) => a + b, 0);\n` +
      // A part loaded later, as the daemon's drivers are (import() does not work in code read from the cache: src/code-cache.ts).
      `exports.join = join;\nexports.url = () => Promise.resolve().then(() => require('./lazy.cjs').kind);\n`,
  );
  await writeFile(join(root, 'lazy.cjs'), `exports.kind = typeof require('node:url').pathToFileURL;\n`);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const cacheFiles = async (): Promise<string[]> => (await readdir(cache).catch(() => [])).filter((f) => f.endsWith('.v8'));
const SUM = Array.from({ length: 200 }, (_, i) => 2 * i).reduce((a, b) => a + b, 0);

describe('the code cache', () => {
  it('is absent at first, written once after the start, then used; the module works either way', async () => {
    const first = loadCommonJs(file, cache, true);
    expect(first).toEqual({ cache: 'absent', sum: SUM, join: join('a', 'b'), url: 'function', saved: true, again: false }); // written once
    expect(await cacheFiles()).toHaveLength(1);
    const second = loadCommonJs(file, cache, true);
    expect(second).toEqual({ cache: 'used', sum: SUM, join: join('a', 'b'), url: 'function', saved: false, again: false }); // a cache that was used is not written again
  });

  it('a damaged cache file is not given to V8: compiled without it, then written anew', async () => {
    loadCommonJs(file, cache, true);
    const [name] = await cacheFiles();
    const bytes = await readFile(join(cache, name!));
    bytes.writeUInt8(bytes.readUInt8(bytes.length >> 1) ^ 0xff, bytes.length >> 1);
    await writeFile(join(cache, name!), bytes);
    expect(loadCommonJs(file, cache, true)).toMatchObject({ cache: 'damaged', sum: SUM, saved: true });
    expect(loadCommonJs(file, cache).cache).toBe('used');
    // Cut short (a write that never finished): the same.
    await writeFile(join(cache, name!), (await readFile(join(cache, name!))).subarray(0, 100));
    expect(loadCommonJs(file, cache).cache).toBe('damaged');
  });

  it('another build of the module has a cache of its own, and the stale one is removed when it is written', async () => {
    loadCommonJs(file, cache, true);
    const [before] = await cacheFiles();
    await writeFile(file, (await readFile(file, 'utf8')).replace('x * 1 + 1', 'x * 1 + 2'));
    expect(loadCommonJs(file, cache, true)).toMatchObject({ cache: 'absent', sum: SUM + 1, saved: true });
    const after = await cacheFiles();
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before);
  });

  /** Puts V8's cache of `text` (as a module beside `file`) under the name of `file`'s cache. */
  const foreignCache = async (text: string): Promise<void> => {
    loadCommonJs(file, cache, true);
    const [name] = await cacheFiles();
    const other = join(root, 'other.cjs');
    await writeFile(other, text);
    loadCommonJs(other, join(root, 'other-cache'), true);
    const [otherName] = (await readdir(join(root, 'other-cache'))).filter((f) => f.endsWith('.v8'));
    await writeFile(join(cache, name!), await readFile(join(root, 'other-cache', otherName!)));
  };

  it('a V8 cache of other code under this name (its checksum right) is refused by V8, and written anew', async () => {
    await foreignCache((await readFile(file, 'utf8')) + '// another build\n');
    expect(loadCommonJs(file, cache, true)).toMatchObject({ cache: 'rejected', sum: SUM, saved: true });
    expect(loadCommonJs(file, cache).cache).toBe('used');
  });

  it('why the name carries the bytes’ checksum: V8 runs the cache of another source of the same length', async () => {
    // Every f(i) returns x * i + i + 1 instead: the same length, other code.
    await foreignCache((await readFile(file, 'utf8')).replace(/return x \* (\d+) \+ \1;/g, (_, i: string) => `return x * ${i} + ${i}+1;`).replace(/ \+ (\d+)\+1;/g, '+$1+1;'));
    const other = await readFile(join(root, 'other.cjs'), 'utf8');
    expect(other.length).toBe((await readFile(file, 'utf8')).length);
    expect(loadCommonJs(file, cache).sum).toBe(SUM + 200);
  });

  it('a directory others may write to is not used: code from it would run as the daemon', async () => {
    const shared = join(root, 'shared');
    loadCommonJs(file, shared); // made 0700
    await chmod(shared, 0o777);
    expect(loadCommonJs(file, shared, true)).toMatchObject({ cache: 'off', sum: SUM, saved: false });
    expect((await readdir(shared)).filter((f) => f.endsWith('.v8'))).toEqual([]);
  });

  it('where it is kept: OCKLE_CODE_CACHE (or off), else systemd’s CacheDirectory, else beside the bundle', () => {
    expect(codeCacheDir({ OCKLE_CODE_CACHE: 'off', CACHE_DIRECTORY: '/c' }, '/b')).toBeNull();
    expect(codeCacheDir({ OCKLE_CODE_CACHE: '/x' }, '/b')).toBe('/x');
    expect(codeCacheDir({ CACHE_DIRECTORY: '/c:/d' }, '/b')).toBe(join('/c', 'code'));
    expect(codeCacheDir({}, '/b')).toBe('/b');
    expect(codeCacheDir({}, null)).toBeNull();
    expect(loadCommonJs(file, null).cache).toBe('off');
  });
});
