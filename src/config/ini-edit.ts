/**
 * Minimal, safe edits of an INI file that a person also edits by hand (`ockle plugins enable`
 * writing `[plugins] enabled`). An edit touches exactly one line and keeps every other byte:
 * comments, blank lines, the order of sections and keys, CRLF or LF line ends. The line grammar
 * is ini-lines.ts's (the loader's): `[section]` headers, `key = value`, `;` and `#` comments,
 * an inline comment after an unquoted value; there are no continuation lines.
 *
 * Writing is atomic, with the previous version kept: `writeFileAtomic`.
 */
import { constants } from 'node:fs';
import { copyFile, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A section header as ini-lines.ts reads it (on the trimmed line). */
const SECTION = /^\[([^\]]*)\]\s*(?:[;#].*)?$/;

/** One line of the text and the line end that follows it ('' for the last line without one). */
interface Line {
  content: string;
  eol: string;
}

function splitLines(text: string): Line[] {
  const parts = text.split(/(\r?\n)/);
  const lines: Line[] = [];
  for (let i = 0; i < parts.length; i += 2) lines.push({ content: parts[i]!, eol: parts[i + 1] ?? '' });
  // "a\n" splits into "a", "\n", "": the empty tail is not a line of its own.
  if (lines.length > 1 && lines.at(-1)!.content === '' && lines.at(-1)!.eol === '') lines.pop();
  return lines;
}

/** What `ini` treats as a quoted value (no inline comment is looked for in one). */
export function isQuoted(v: string): boolean {
  return v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")));
}

/**
 * Where the inline comment of a value starts (the index of its whitespace before `;`/`#`), or
 * -1: the first `;` or `#` not escaped by a backslash, as `ini.unsafe` reads it.
 */
export function commentStart(rest: string): number {
  if (isQuoted(rest.trim())) return -1;
  let esc = false;
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i]!;
    if (esc) esc = false;
    else if (c === '\\') esc = true;
    else if (c === ';' || c === '#') {
      let j = i;
      while (j > 0 && /\s/.test(rest[j - 1]!)) j--;
      return j;
    }
  }
  return -1;
}

/** An item that is written as it is and reads back as itself in a comma-separated list. */
function checkItem(v: string): void {
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (v === '' || v !== v.trim() || /[,;#\\"'[\]=\x00-\x1f\x7f]/.test(v))
    throw new TypeError(`list item ${JSON.stringify(v)} cannot be written to an INI list (empty, spaces at an end, or one of , ; # \\ " ' [ ] =)`);
}

/**
 * Sets `key` of `[section]` to the comma-separated `values` and returns the new text:
 * - the key's line is rewritten in place, keeping its indentation, the spacing around `=` and
 *   an inline comment after the value (`enabled = a, b ; note` → `enabled = a, b, c ; note`);
 * - a section without the key gets the line right after its header;
 * - a text without the section gets the section appended at its end (after a blank line).
 * Every other byte is kept. New lines use the file's line end (CRLF when it has any).
 * @throws Error when the section appears twice, or the key twice in it (which line would count?),
 *   or TypeError for a value that cannot be written as a list item.
 */
export function setListKey(text: string, section: string, key: string, values: readonly string[]): string {
  for (const v of values) checkItem(v);
  const value = values.join(', ');
  const lines = splitLines(text);
  const eol = /\r\n/.test(text) ? '\r\n' : '\n';
  const headers: number[] = [];
  const keyLines: number[] = [];
  let current: string | undefined;
  lines.forEach(({ content }, i) => {
    const t = content.trim();
    if (t === '' || t.startsWith(';') || t.startsWith('#')) return;
    const sec = SECTION.exec(t);
    if (sec) {
      current = sec[1]!.trim();
      if (current === section) headers.push(i);
      return;
    }
    if (t.startsWith('[') || current !== section) return;
    const eq = t.indexOf('=');
    if (eq > 0 && t.slice(0, eq).trim() === key) keyLines.push(i);
  });
  if (headers.length > 1) throw new Error(`section [${section}] appears ${headers.length} times; merge them before ockle edits the file`);
  if (keyLines.length > 1) throw new Error(`key "${key}" is set ${keyLines.length} times in [${section}]; keep one of them before ockle edits the file`);

  if (keyLines.length === 1) {
    const line = lines[keyLines[0]!]!;
    const eq = line.content.indexOf('=');
    const prefix = line.content.slice(0, eq + 1);
    const rest = line.content.slice(eq + 1);
    const c = commentStart(rest);
    const comment = c < 0 ? '' : rest.slice(c);
    const old = c < 0 ? rest : rest.slice(0, c);
    // The spacing after "=" as it was (none stays none); one space after an empty value.
    const gap = old.trim() === '' ? ' ' : /^\s*/.exec(old)![0];
    if (value !== '') line.content = `${prefix}${gap}${value}${comment}`;
    // An empty list: `enabled =`, with the comment (if any) one space after it.
    else line.content = `${prefix}${comment === '' || /^\s/.test(comment) ? comment : ` ${comment}`}`;
  } else {
    const newLine = value === '' ? `${key} =` : `${key} = ${value}`;
    if (headers.length === 1) {
      const h = headers[0]!;
      const header = lines[h]!;
      // A header on the last line without a line end gets one now.
      if (header.eol === '') header.eol = eol;
      lines.splice(h + 1, 0, { content: newLine, eol: header.eol });
    } else {
      const last = lines.at(-1)!;
      const empty = lines.length === 1 && last.content === '';
      if (empty) lines.pop();
      else {
        if (last.eol === '') last.eol = eol;
        if (last.content.trim() !== '') lines.push({ content: '', eol });
      }
      lines.push({ content: `[${section}]`, eol }, { content: newLine, eol });
    }
  }
  return lines.map((l) => l.content + l.eol).join('');
}

/**
 * Replaces `file` with `text` atomically: the text is written to `FILE.tmp-PID` in the same
 * directory and flushed to disk, the current file is kept as `FILE.bak` (itself replaced
 * atomically), then the temporary file is renamed over `file`. A reader sees the old file or the
 * new one, never a part; a failure at any step (a read-only directory, a full disk) leaves `file`
 * as it was and removes the temporary file. The new file keeps the old one's mode.
 * @returns the backup's path, or null when there was no file to keep.
 */
export async function writeFileAtomic(file: string, text: string): Promise<{ backup: string | null }> {
  let mode = 0o644;
  let exists = true;
  try {
    mode = (await stat(file)).mode & 0o7777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    exists = false;
  }
  const tmp = `${file}.tmp-${process.pid}`;
  const backup = `${file}.bak`;
  const bakTmp = `${backup}.tmp-${process.pid}`;
  const cleanup = async (): Promise<void> => {
    await unlink(tmp).catch(() => undefined);
    await unlink(bakTmp).catch(() => undefined);
  };
  try {
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
    try {
      await fh.writeFile(text, 'utf8');
      // open's mode is masked by the umask: the new file gets exactly the old one's.
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (exists) {
      await copyFile(file, bakTmp);
      await rename(bakTmp, backup);
    }
    await rename(tmp, file);
  } catch (err) {
    await cleanup();
    throw err;
  }
  // The renames reach the disk with the directory (best effort: not every filesystem allows it).
  try {
    const dir = await open(dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // e.g. EISDIR/EPERM on some filesystems: the data itself is synced
  }
  return { backup: exists ? backup : null };
}

/**
 * One change at a time per config directory, whoever makes it (a config edit, a plugin enable):
 * two at once would read the same version of a file and write over each other.
 */
const queues = new Map<string, Promise<unknown>>();
export function serialized<T>(configDir: string, fn: () => Promise<T>): Promise<T> {
  const run = (queues.get(configDir) ?? Promise.resolve()).then(fn, fn);
  const tail = run.catch(() => undefined);
  queues.set(configDir, tail);
  void tail.then(() => {
    if (queues.get(configDir) === tail) queues.delete(configDir);
  });
  return run;
}
