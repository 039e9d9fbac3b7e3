/**
 * The minimal INI edit behind `ockle plugins enable|disable`: one line changes, every other byte
 * stays (comments, order, blank lines, CRLF), and the loader reads back what was written. The
 * atomic write keeps the previous file as .bak and leaves nothing behind when it fails.
 */
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { setListKey, writeFileAtomic } from '../../src/config/ini-edit.js';
import { parseIni } from '../../src/config/ini-lines.js';
import { splitList } from '../../src/config/types.js';
import { readOnly, writable } from '../support/read-only.js';

/** The list the loader reads from key of [section]. */
const read = (text: string, section: string, key: string): string[] | undefined => {
  const v = parseIni(text).sections.find((s) => s.name === section)?.keys.get(key)?.value;
  return v === undefined ? undefined : splitList(v);
};
/** The lines of `after` that differ from `before` (same number of lines). */
const changed = (before: string, after: string): [number, string][] => {
  const a = before.split('\n');
  const b = after.split('\n');
  expect(b.length).toBe(a.length);
  return b.flatMap((l, i) => (l === a[i] ? [] : [[i + 1, l] as [number, string]]));
};

const MAIN = `; ockle
[daemon]
log_level = info

[plugins]
; which ones
enabled = auto-control, logger   ; the note stays
directories = plugins

[plugins.logger]
; not this one
enabled = nope
retention = 30d
`;

describe('setListKey', () => {
  it('rewrites exactly the key line of the section, keeping its inline comment', () => {
    const out = setListKey(MAIN, 'plugins', 'enabled', ['auto-control', 'logger', 'hello']);
    expect(changed(MAIN, out)).toEqual([[7, 'enabled = auto-control, logger, hello   ; the note stays']]);
    expect(read(out, 'plugins', 'enabled')).toEqual(['auto-control', 'logger', 'hello']);
    // The look-alike key of another section is untouched.
    expect(read(out, 'plugins.logger', 'enabled')).toEqual(['nope']);
  });

  it('writes an empty list as `key =` and reads back empty; and back again', () => {
    const out = setListKey(MAIN, 'plugins', 'enabled', []);
    expect(changed(MAIN, out)).toEqual([[7, 'enabled =   ; the note stays']]);
    expect(read(out, 'plugins', 'enabled')).toEqual([]);
    const again = setListKey(out, 'plugins', 'enabled', ['auto-control', 'logger']);
    expect(read(again, 'plugins', 'enabled')).toEqual(['auto-control', 'logger']);
    expect(again).toBe(MAIN); // the round trip gives back the very bytes
  });

  it('keeps indentation, the spacing around "=", and a comment right after the value', () => {
    const text = '[plugins]\n  enabled=a;x\n';
    expect(setListKey(text, 'plugins', 'enabled', ['a', 'b'])).toBe('[plugins]\n  enabled=a, b;x\n');
    expect(setListKey('[plugins]\nenabled =\n', 'plugins', 'enabled', ['a'])).toBe('[plugins]\nenabled = a\n');
    expect(setListKey('[plugins]\nenabled = a # hash\n', 'plugins', 'enabled', ['b'])).toBe('[plugins]\nenabled = b # hash\n');
    // A quoted value has no inline comment: it is replaced whole.
    expect(setListKey('[plugins]\nenabled = "a;b"\n', 'plugins', 'enabled', ['c'])).toBe('[plugins]\nenabled = c\n');
  });

  it('adds the key right after the section header when the section lacks it', () => {
    const text = '[daemon]\nlog_level = info\n\n[plugins] ; plugins\n; comment\ndirectories = plugins\n';
    const out = setListKey(text, 'plugins', 'enabled', ['logger']);
    expect(out).toBe('[daemon]\nlog_level = info\n\n[plugins] ; plugins\nenabled = logger\n; comment\ndirectories = plugins\n');
    expect(read(out, 'plugins', 'enabled')).toEqual(['logger']);
  });

  it('appends the section when there is none, after a blank line, also to a file without a final newline', () => {
    expect(setListKey('[daemon]\nlog_level = info\n', 'plugins', 'enabled', ['logger'])).toBe('[daemon]\nlog_level = info\n\n[plugins]\nenabled = logger\n');
    expect(setListKey('[daemon]\nlog_level = info', 'plugins', 'enabled', ['logger'])).toBe('[daemon]\nlog_level = info\n\n[plugins]\nenabled = logger\n');
    expect(setListKey('[daemon]\nlog_level = info\n\n', 'plugins', 'enabled', ['a'])).toBe('[daemon]\nlog_level = info\n\n[plugins]\nenabled = a\n');
    expect(setListKey('', 'plugins', 'enabled', ['a'])).toBe('[plugins]\nenabled = a\n');
    // [plugins.logger] is another section, not [plugins].
    const out = setListKey('[plugins.logger]\nenabled = x\n', 'plugins', 'enabled', ['a']);
    expect(out).toBe('[plugins.logger]\nenabled = x\n\n[plugins]\nenabled = a\n');
    expect(read(out, 'plugins.logger', 'enabled')).toEqual(['x']);
  });

  it('keeps CRLF line ends, and uses them for the lines it adds', () => {
    const crlf = MAIN.replace(/\n/g, '\r\n');
    const out = setListKey(crlf, 'plugins', 'enabled', ['logger']);
    expect(out).toBe(crlf.replace('enabled = auto-control, logger   ;', 'enabled = logger   ;'));
    const added = setListKey('[daemon]\r\nlog_level = info\r\n\r\n[plugins]\r\ndirectories = x\r\n', 'plugins', 'enabled', ['a']);
    expect(added).toBe('[daemon]\r\nlog_level = info\r\n\r\n[plugins]\r\nenabled = a\r\ndirectories = x\r\n');
    expect(setListKey('[daemon]\r\nx = 1\r\n', 'plugins', 'enabled', ['a'])).toBe('[daemon]\r\nx = 1\r\n\r\n[plugins]\r\nenabled = a\r\n');
  });

  it('has no continuation lines: the line after the key is never read as part of it', () => {
    const text = '[plugins]\nenabled = a \\\n  b = c\n';
    const out = setListKey(text, 'plugins', 'enabled', ['x']);
    expect(out).toBe('[plugins]\nenabled = x\n  b = c\n');
  });

  it('ignores commented-out keys, and keys before any section', () => {
    const text = 'enabled = top\n[plugins]\n; enabled = old\n# enabled = older\n';
    expect(setListKey(text, 'plugins', 'enabled', ['a'])).toBe('enabled = top\n[plugins]\nenabled = a\n; enabled = old\n# enabled = older\n');
  });

  it('refuses what it cannot edit safely: the section or the key twice, or an item that is not a plain word', () => {
    expect(() => setListKey('[plugins]\nenabled = a\n[plugins]\n', 'plugins', 'enabled', ['b'])).toThrow(/section \[plugins\] appears 2 times/);
    expect(() => setListKey('[plugins]\nenabled = a\nenabled = b\n', 'plugins', 'enabled', ['b'])).toThrow(/key "enabled" is set 2 times/);
    for (const bad of ['a,b', 'a;b', ' a', '', 'a\nb', 'a#', '"a"'])
      expect(() => setListKey('[plugins]\n', 'plugins', 'enabled', [bad])).toThrow(TypeError);
  });
});

describe('writeFileAtomic', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) {
      await writable(dir);
      await rm(dir, { recursive: true, force: true });
    }
    dir = undefined;
  });

  it('replaces the file, keeps the previous one as .bak with its mode, and leaves no temporary file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ockle-ini-edit-'));
    const f = join(dir, 'ockle.ini');
    await writeFile(f, 'old\n', { mode: 0o640 });
    await chmod(f, 0o640);
    expect(await writeFileAtomic(f, 'new\n')).toEqual({ backup: `${f}.bak` });
    expect(await readFile(f, 'utf8')).toBe('new\n');
    expect(await readFile(`${f}.bak`, 'utf8')).toBe('old\n');
    expect((await stat(f)).mode & 0o777).toBe(0o640);
    await writeFileAtomic(f, 'newer\n');
    expect(await readFile(`${f}.bak`, 'utf8')).toBe('new\n');
    expect((await readdir(dir)).sort()).toEqual(['ockle.ini', 'ockle.ini.bak']);
  });

  it('creates a file that did not exist, without a backup', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ockle-ini-edit-'));
    expect(await writeFileAtomic(join(dir, 'x.ini'), 'x\n')).toEqual({ backup: null });
    expect(await readdir(dir)).toEqual(['x.ini']);
  });

  it('in a read-only directory fails with the system’s reason and changes nothing', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ockle-ini-edit-'));
    const f = join(dir, 'ockle.ini');
    await writeFile(f, 'old\n');
    await readOnly(dir);
    await expect(writeFileAtomic(f, 'new\n')).rejects.toThrow(/EACCES|EPERM|EROFS/);
    expect(await readFile(f, 'utf8')).toBe('old\n');
    expect(await readdir(dir)).toEqual(['ockle.ini']);
  });
});
