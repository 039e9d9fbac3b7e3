/**
 * Line-level edits of an INI file a person also edits by hand: set or remove a key, add or
 * remove a section. Each edit touches only the lines that change and keeps every other byte
 * (comments, blank lines, order, indentation, CRLF or LF). The grammar is ini-lines.ts's (the
 * loader's): `[section]` headers, `key = value`, `;`/`#` comments, an inline comment after an
 * unquoted value, a value in double quotes decoded as JSON (`ini.unsafe`).
 *
 * Also here: masking secret values line by line, and a small line diff for summaries.
 */
import ini from 'ini';
import { OckleError } from '../../errors.js';
import { commentStart } from '../ini-edit.js';

/** A section header as ini-lines.ts reads it (on the trimmed line). */
const SECTION = /^\[([^\]]*)\]\s*(?:[;#].*)?$/;
/** What a key or section name may be when ockle writes it. */
const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const SECTION_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export interface Line {
  content: string;
  eol: string;
}

export function splitLines(text: string): Line[] {
  if (text === '') return [];
  const parts = text.split(/(\r?\n)/);
  const lines: Line[] = [];
  for (let i = 0; i < parts.length; i += 2) lines.push({ content: parts[i]!, eol: parts[i + 1] ?? '' });
  if (lines.length > 1 && lines.at(-1)!.content === '' && lines.at(-1)!.eol === '') lines.pop();
  return lines;
}
const join = (lines: readonly Line[]): string => lines.map((l) => l.content + l.eol).join('');
const eolOf = (text: string): string => (/\r\n/.test(text) ? '\r\n' : '\n');

/** One line as the loader sees it: a header, a key (with where its value starts), or nothing. */
type Parsed = { kind: 'section'; name: string } | { kind: 'key'; key: string; eq: number } | { kind: 'other' };
function parseLine(content: string): Parsed {
  const t = content.trim();
  if (t === '' || t.startsWith(';') || t.startsWith('#')) return { kind: 'other' };
  const sec = SECTION.exec(t);
  if (sec) return { kind: 'section', name: sec[1]!.trim() };
  if (t.startsWith('[')) return { kind: 'other' };
  const eq = content.indexOf('=');
  if (eq < 0 || content.slice(0, eq).trim() === '') return { kind: 'other' };
  return { kind: 'key', key: content.slice(0, eq).trim(), eq };
}

/** Each line's section (undefined before the first header) and what it is. */
function annotate(lines: readonly Line[]): { section: string | undefined; parsed: Parsed }[] {
  let current: string | undefined;
  return lines.map((l) => {
    const parsed = parseLine(l.content);
    if (parsed.kind === 'section') current = parsed.name;
    return { section: current, parsed };
  });
}

function splitKeyLine(content: string, eq: number): { prefix: string; gap: string; raw: string; comment: string } {
  const prefix = content.slice(0, eq + 1);
  const rest = content.slice(eq + 1);
  const c = commentStart(rest);
  const comment = c < 0 ? '' : rest.slice(c);
  const old = c < 0 ? rest : rest.slice(0, c);
  const gap = /^\s*/.exec(old)![0];
  return { prefix, gap, raw: old.slice(gap.length).trimEnd(), comment };
}

/**
 * A value as it must be written so that the loader reads it back as itself: as it is when it
 * can be, else in double quotes (JSON, which the loader decodes). A line break or a control
 * character is refused: an INI value is one line.
 * @throws OckleError OCKLE_REQUEST_INVALID
 */
export function encodeValue(value: string): string {
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value))
    throw new OckleError('OCKLE_REQUEST_INVALID', `the value ${JSON.stringify(value.slice(0, 40))} has a line break or a control character, which an INI value cannot hold`, {
      hint: 'Write the value on one line.',
    });
  if (String(ini.unsafe(value)) === value && !/^\s|\s$/.test(value)) return value;
  const quoted = JSON.stringify(value);
  if (String(ini.unsafe(quoted)) === value) return quoted;
  throw new OckleError('OCKLE_REQUEST_INVALID', `the value ${JSON.stringify(value.slice(0, 40))} cannot be written so that the INI loader reads it back unchanged`, {
    hint: 'Avoid a value that is itself quoted or ends in a backslash.',
  });
}

function checkName(what: 'key' | 'section', name: string): void {
  if (!(what === 'key' ? KEY : SECTION_NAME).test(name))
    throw new OckleError('OCKLE_REQUEST_INVALID', `${what} name ${JSON.stringify(name)} is not valid`, {
      hint: what === 'key' ? 'Keys are letters, digits, "_", "-" and "."; starting with a letter or "_".' : 'Section names are letters, digits, "_", "-" and ".".',
    });
}

function sectionRange(lines: readonly Line[], section: string): { header: number; lastKey: number; end: number } | undefined {
  const info = annotate(lines);
  const headers = info.flatMap((x, i) => (x.parsed.kind === 'section' && x.parsed.name === section ? [i] : []));
  if (headers.length > 1)
    throw new OckleError('OCKLE_CONFIG_INVALID', `section [${section}] appears ${headers.length} times; merge them before ockle edits the file`, {
      hint: 'Edit the file by hand (`ockle config check` shows both lines).',
    });
  const header = headers[0];
  if (header === undefined) return undefined;
  let end = lines.length;
  let lastKey = header;
  for (let i = header + 1; i < lines.length; i++) {
    const p = info[i]!.parsed;
    if (p.kind === 'section') {
      end = i;
      break;
    }
    if (p.kind === 'key') lastKey = i;
  }
  return { header, lastKey, end };
}

function keyLines(lines: readonly Line[], section: string, key: string): number[] {
  return annotate(lines).flatMap((x, i) => (x.section === section && x.parsed.kind === 'key' && x.parsed.key === key ? [i] : []));
}

/** One structured edit of a file. */
export type Edit =
  | { readonly op: 'set'; readonly section: string; readonly key: string; readonly value: string }
  | { readonly op: 'unset'; readonly section: string; readonly key: string }
  | { readonly op: 'add-section'; readonly section: string }
  | { readonly op: 'remove-section'; readonly section: string };

/**
 * Sets `key` of `[section]` to `value`: the key's line is rewritten in place (indentation,
 * spacing around `=` and an inline comment kept); an absent key gets a line after the
 * section's last key; an absent section is appended at the end of the file with the key.
 */
export function setKey(text: string, section: string, key: string, value: string): string {
  checkName('section', section);
  checkName('key', key);
  const v = encodeValue(value);
  const lines = splitLines(text);
  const eol = eolOf(text);
  const found = keyLines(lines, section, key);
  if (found.length > 1)
    throw new OckleError('OCKLE_CONFIG_INVALID', `key "${key}" is set ${found.length} times in [${section}]; keep one of them before ockle edits the file`);
  if (found.length === 1) {
    const line = lines[found[0]!]!;
    const p = parseLine(line.content) as { kind: 'key'; eq: number };
    const { prefix, gap, raw, comment } = splitKeyLine(line.content, p.eq);
    // An empty value: `key =`, with the comment (if any) one space after it.
    if (v === '') line.content = `${prefix}${comment === '' || /^\s/.test(comment) ? comment : ` ${comment}`}`;
    // The spacing after "=" as it was (none stays none); one space after an empty value.
    else line.content = `${prefix}${raw === '' ? ' ' : gap}${v}${comment}`;
    return join(lines);
  }
  const newLine = v === '' ? `${key} =` : `${key} = ${v}`;
  const range = sectionRange(lines, section);
  if (range) {
    const at = range.lastKey;
    const had = lines[at]!.eol;
    if (had === '') lines[at]!.eol = eol;
    lines.splice(at + 1, 0, { content: newLine, eol: had });
    return join(lines);
  }
  return join(appendSection(lines, eol, section, [newLine]));
}

function appendSection(lines: Line[], eol: string, section: string, body: readonly string[]): Line[] {
  if (lines.length > 0) {
    const last = lines.at(-1)!;
    if (last.eol === '') last.eol = eol;
    if (last.content.trim() !== '') lines.push({ content: '', eol });
  }
  lines.push({ content: `[${section}]`, eol }, ...body.map((content) => ({ content, eol })));
  return lines;
}

/** Removes `key` from `[section]` (its one line); the text unchanged when it is not set. */
export function unsetKey(text: string, section: string, key: string): string {
  const lines = splitLines(text);
  const found = keyLines(lines, section, key);
  if (found.length === 0) return text;
  for (const i of [...found].reverse()) lines.splice(i, 1);
  return join(lines);
}

/** Adds an empty `[section]` at the end of the file; the text unchanged when it has one. */
export function addSection(text: string, section: string): string {
  checkName('section', section);
  const lines = splitLines(text);
  if (sectionRange(lines, section)) return text;
  return join(appendSection(lines, eolOf(text), section, []));
}

/**
 * Removes `[section]`: its header and every line up to its last key (comments between them
 * too), and one blank line so that no double blank is left. Comments above the header and
 * after the last key stay (they may be about what follows).
 */
export function removeSection(text: string, section: string): string {
  const lines = splitLines(text);
  const r = sectionRange(lines, section);
  if (!r) return text;
  let from = r.header;
  let to = r.lastKey + 1;
  const blank = (i: number): boolean => i >= 0 && i < lines.length && lines[i]!.content.trim() === '';
  if (blank(to) && (from === 0 || blank(from - 1))) to++;
  else if (to >= lines.length && blank(from - 1)) from--;
  lines.splice(from, to - from);
  return join(lines);
}

export function applyEdits(text: string, edits: readonly Edit[]): string {
  let t = text;
  for (const e of edits) {
    if (e.op === 'set') t = setKey(t, e.section, e.key, e.value);
    else if (e.op === 'unset') t = unsetKey(t, e.section, e.key);
    else if (e.op === 'add-section') t = addSection(t, e.section);
    else t = removeSection(t, e.section);
  }
  return t;
}

/** The placeholder a masked secret reads as. */
export const SECRET = '[secret]';
/** Keys whose values are masked even where the schema does not say (a section not validated yet). */
const SECRET_NAME = /pass(word|phrase)?|community|secret|private_key|^token$/i;

/** Whether `[section] key` of a file is a secret: the schema's word (from the config view), or the key's name. */
export type IsSecret = (section: string | undefined, key: string) => boolean;
export function secretPredicate(known: ReadonlySet<string>): IsSecret {
  return (section, key) => SECRET_NAME.test(key) || known.has(`${section ?? ''}\0${key}`);
}

/** The text's lines (without line ends) with every secret value replaced by `[secret]`. */
export function maskedLines(text: string, isSecret: IsSecret): string[] {
  const lines = splitLines(text);
  return annotate(lines).map((x, i) => {
    const content = lines[i]!.content;
    if (x.parsed.kind !== 'key' || !isSecret(x.section, x.parsed.key)) return content;
    const { prefix, gap, raw, comment } = splitKeyLine(content, x.parsed.eq);
    return raw === '' ? content : `${prefix}${gap || ' '}${SECRET}${comment}`;
  });
}

export function maskText(text: string, isSecret: IsSecret): string {
  const lines = splitLines(text);
  const masked = maskedLines(text, isSecret);
  return lines.map((l, i) => masked[i]! + l.eol).join('');
}

/**
 * `text` with each secret line whose value is `[secret]` put back as it is in `stored` (the
 * same key of the same section): a masked file sent back unchanged keeps its secrets.
 * @throws OckleError OCKLE_REQUEST_INVALID for a `[secret]` with no stored value to keep
 */
export function restoreSecrets(text: string, stored: string | null, isSecret: IsSecret): string {
  const lines = splitLines(text);
  const old = stored === null ? [] : splitLines(stored);
  const oldInfo = annotate(old);
  annotate(lines).forEach((x, i) => {
    if (x.parsed.kind !== 'key') return;
    const key = x.parsed.key;
    const { raw } = splitKeyLine(lines[i]!.content, x.parsed.eq);
    if (raw !== SECRET) return;
    const j = oldInfo.findIndex((o) => o.section === x.section && o.parsed.kind === 'key' && o.parsed.key === key);
    if (j < 0 || !isSecret(x.section, key))
      throw new OckleError('OCKLE_REQUEST_INVALID', `line ${i + 1}: ${key} = ${SECRET} keeps a stored secret, but [${x.section ?? ''}] ${key} has none stored`, {
        hint: 'Write the value itself (it is never shown back).',
      });
    lines[i]!.content = old[j]!.content;
  });
  return join(lines);
}

/** One line of a diff: removed from the old text (its line there) or added in the new one. */
export interface DiffLine {
  readonly op: '-' | '+';
  readonly line: number;
  readonly text: string;
}
export interface DiffSummary {
  readonly added: number;
  readonly removed: number;
  /** The changed lines, secrets masked; at most 200. */
  readonly lines: readonly DiffLine[];
}

/** A line diff of two texts (an LCS; prefix and suffix only for very large ones), shown with `mask`ed lines. */
export function diffLines(before: string | null, after: string | null, isSecret: IsSecret): DiffSummary {
  const a = before === null ? [] : splitLines(before).map((l) => l.content);
  const b = after === null ? [] : splitLines(after).map((l) => l.content);
  const ma = before === null ? [] : maskedLines(before, isSecret);
  const mb = after === null ? [] : maskedLines(after, isSecret);
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  const A = a.slice(p, a.length - s);
  const B = b.slice(p, b.length - s);
  const out: DiffLine[] = [];
  if (A.length * B.length > 4_000_000) {
    A.forEach((_, i) => out.push({ op: '-', line: p + i + 1, text: ma[p + i]! }));
    B.forEach((_, i) => out.push({ op: '+', line: p + i + 1, text: mb[p + i]! }));
  } else {
    // lcs[i][j]: the longest common subsequence of A[i..] and B[j..].
    const lcs = Array.from({ length: A.length + 1 }, () => new Uint32Array(B.length + 1));
    for (let i = A.length - 1; i >= 0; i--) for (let j = B.length - 1; j >= 0; j--) lcs[i]![j] = A[i] === B[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    let i = 0;
    let j = 0;
    while (i < A.length || j < B.length) {
      if (i < A.length && j < B.length && A[i] === B[j]) {
        i++;
        j++;
      } else if (i < A.length && (j === B.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
        out.push({ op: '-', line: p + i + 1, text: ma[p + i]! });
        i++;
      } else {
        out.push({ op: '+', line: p + j + 1, text: mb[p + j]! });
        j++;
      }
    }
  }
  return { added: out.filter((l) => l.op === '+').length, removed: out.filter((l) => l.op === '-').length, lines: out.slice(0, 200) };
}
