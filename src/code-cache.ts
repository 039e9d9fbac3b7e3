/**
 * Loads a CommonJS bundle through V8's code cache. Compiling the daemon (its ~1 MB bundle, and
 * every function its start runs) is most of what a start costs after Node's own boot; the cache
 * holds that compiled code, written once after a start, so the next start reads it instead of
 * compiling again (BENCHMARKS.md, issue 15). Node 20 has no compile cache of its own for ES
 * modules (`module.enableCompileCache` is Node 22), hence a CommonJS bundle and `vm.Script`.
 *
 * The cache is an optimisation and never a source of truth:
 * - its file is named by the bundle's length and a checksum of its bytes, Node's version and
 *   architecture and the V8 flags: another build or another Node makes another file. (V8 checks
 *   a cache against its source's length only: given the cache of another source of the same
 *   length, it runs that other code. test/daemon/code-cache.test.ts shows it.);
 * - its bytes carry their own CRC-32, checked before V8 sees them (V8 release builds trust a
 *   cache's payload), so a torn or damaged file is ignored and written anew;
 * - V8 still refuses a cache it cannot use (then it is written anew);
 * - it is kept only in a directory of this user's that nobody else may write to: code from a
 *   file another user could change would run as the daemon;
 * - any error reading or writing it just means compiling as without it.
 *
 * Code read from the cache loses `importModuleDynamically` (Node 20): an `import()` in the
 * loaded file itself fails once its cache is used. The daemon's bundle has none (the bundler
 * checks); modules it loads with `require()` use `import()` as any module does.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { constants, Script } from 'node:vm';
import { crc32 } from 'node:zlib';

/** What became of the cache at a load. */
export type CodeCacheUse = 'used' | 'absent' | 'rejected' | 'damaged' | 'off';

export interface CachedModule {
  readonly exports: Record<string, unknown>;
  readonly cache: CodeCacheUse;
  /** Where the cache is (or would be) kept; null when off. */
  readonly file: string | null;
  /**
   * Writes the cache from what has been compiled so far (call it after a start: the functions the
   * start ran are in it), unless the one loaded was used. Once; true if it was written now.
   */
  save(): boolean;
}

/**
 * The directory of the code cache, or null (none): `$OCKLE_CODE_CACHE` (a directory, or `off`),
 * else systemd's `$CACHE_DIRECTORY` (the unit's CacheDirectory=), else `fallback`.
 */
export function codeCacheDir(env: NodeJS.ProcessEnv, fallback: string | null): string | null {
  const own = env.OCKLE_CODE_CACHE;
  if (own === 'off') return null;
  if (own) return own;
  const systemd = env.CACHE_DIRECTORY?.split(':')[0];
  return systemd ? join(systemd, 'code') : fallback;
}

const hex = (n: number): string => n.toString(16).padStart(8, '0');

/** True when `dir` exists (made 0700 if not), is this user's and nobody else may write to it. */
function safeDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    if (!st.isDirectory() || (st.mode & 0o022) !== 0) return false;
    return typeof process.getuid !== 'function' || st.uid === process.getuid();
  } catch {
    return false;
  }
}

/** Loads `file` (a CommonJS module) with its code cache in `cacheDir` (null: none). */
export function loadCommonJs(file: string, cacheDir: string | null): CachedModule {
  const bytes = readFileSync(file);
  const flags = crc32([...process.execArgv, process.env.NODE_OPTIONS ?? ''].join('\0'));
  const name = basename(file).replace(/\.c?js$/, '');
  const dir = cacheDir !== null && safeDir(cacheDir) ? cacheDir : null;
  const cacheFile = dir && join(dir, `${name}-${bytes.length}-${hex(crc32(bytes))}-${process.version}-${process.arch}-${hex(flags)}.v8`);
  let cachedData: Buffer | undefined;
  let use: CodeCacheUse = dir ? 'absent' : 'off';
  if (cacheFile) {
    try {
      const raw = readFileSync(cacheFile);
      if (raw.length > 4 && raw.readUInt32LE(0) === crc32(raw.subarray(4))) cachedData = raw.subarray(4);
      else use = 'damaged';
    } catch {
      // absent (or unreadable): compiled as without it, and written after the start
    }
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${bytes.toString('utf8')}\n})`, {
    filename: file,
    ...(cachedData && { cachedData }),
    // import() in the bundle (its lazily loaded chunks and packages) resolves as in any module.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (cachedData) use = script.cachedDataRejected ? 'rejected' : 'used';
  const module = { exports: {} as Record<string, unknown> };
  const fn = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  fn.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  let saved = use === 'used';
  return {
    exports: module.exports,
    cache: use,
    file: cacheFile,
    save(): boolean {
      if (saved || !cacheFile || !dir) return false;
      saved = true;
      try {
        const data = script.createCachedData();
        const out = Buffer.allocUnsafe(4 + data.length);
        out.writeUInt32LE(crc32(data), 0);
        data.copy(out, 4);
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        const fd = openSync(tmp, 'w', 0o600);
        try {
          writeSync(fd, out);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        renameSync(tmp, cacheFile);
        // The caches of earlier builds or Nodes are of no more use.
        for (const f of readdirSync(dir)) if (f.startsWith(`${name}-`) && f.endsWith('.v8') && join(dir, f) !== cacheFile) unlinkSync(join(dir, f));
        return true;
      } catch {
        return false;
      }
    },
  };
}
