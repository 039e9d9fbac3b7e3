/**
 * Reads INI text the way Ockle read it: Python 2's SafeConfigParser. Option names are
 * lowercased, a value may go on over indented lines, `;` after whitespace starts a comment,
 * `key: value` works like `key = value`, a repeated section or key merges (the last value
 * wins), [DEFAULT] keys show in every section, and `%%` / `%(name)s` are interpolated as
 * `get()` did. Pure: text in, sections out, with what Python would have refused as problems.
 */

export interface PyKey {
  /** As written before lowercasing (for messages). */
  readonly raw: string;
  readonly value: string;
  readonly line: number;
}
export interface PySection {
  readonly name: string;
  readonly line: number;
  /** Lowercased option name → value (interpolated, [DEFAULT] merged in). */
  readonly keys: ReadonlyMap<string, PyKey>;
}
export interface PyIni {
  readonly sections: readonly PySection[];
  readonly problems: readonly { readonly line: number; readonly message: string }[];
}

const SECTION = /^\[([^\]]+)\]/;
const OPTION = /^([^:=\s][^:=]*?)\s*([:=])\s*(.*)$/;

interface Raw {
  name: string;
  line: number;
  keys: Map<string, { raw: string; parts: string[]; line: number }>;
}

/** SafeConfigParser's interpolation of one value: `%%` is `%`, `%(name)s` the option `name` of the section. */
function interpolate(value: string, lookup: (name: string) => string | undefined, depth = 0): { value: string; problem?: string } {
  if (!value.includes('%')) return { value };
  let out = '';
  let problem: string | undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const next = value[i + 1];
    if (next === '%') {
      out += '%';
      i++;
      continue;
    }
    const m = /^%\(([^)]*)\)s/.exec(value.slice(i));
    const ref = m ? lookup(m[1]!.toLowerCase()) : undefined;
    if (m && ref !== undefined && depth < 10) {
      const inner = interpolate(ref, lookup, depth + 1);
      out += inner.value;
      problem ??= inner.problem;
      i += m[0].length - 1;
      continue;
    }
    // Python raised an InterpolationError here; the text is kept as written.
    problem ??= m ? `%(${m[1]})s names no option` : 'a lone "%" (Python wanted "%%")';
    out += c;
  }
  return { value: out, ...(problem && { problem }) };
}

export function parsePythonIni(text: string): PyIni {
  const raws: Raw[] = [];
  const problems: { line: number; message: string }[] = [];
  let current: Raw | undefined;
  let lastKey: { parts: string[] } | undefined;
  text.split(/\r?\n/).forEach((line, i) => {
    const n = i + 1;
    if (line.trim() === '' || line[0] === '#' || line[0] === ';') return;
    if (/^rem(\s|$)/i.test(line)) return;
    if (/^\s/.test(line) && current && lastKey) {
      const v = line.trim();
      if (v) lastKey.parts.push(v);
      return;
    }
    const sec = SECTION.exec(line);
    if (sec) {
      const name = sec[1]!;
      current = raws.find((r) => r.name === name);
      if (!current) {
        current = { name, line: n, keys: new Map() };
        raws.push(current);
      }
      lastKey = undefined;
      return;
    }
    const opt = OPTION.exec(line);
    if (!opt) {
      problems.push({ line: n, message: 'a line that is neither [section] nor key = value (Python refused the file)' });
      return;
    }
    if (!current) {
      problems.push({ line: n, message: 'a key before any [section] (Python refused the file)' });
      return;
    }
    let value = opt[3]!;
    const semi = value.indexOf(';');
    if (semi > 0 && /\s/.test(value[semi - 1]!)) value = value.slice(0, semi);
    value = value.trim();
    if (value === '""') value = '';
    const raw = opt[1]!.trimEnd();
    const entry = { raw, parts: [value], line: n };
    current.keys.set(raw.toLowerCase(), entry);
    lastKey = entry;
  });
  const defaults = raws.find((r) => r.name === 'DEFAULT');
  const sections = raws
    .filter((r) => r.name !== 'DEFAULT')
    .map((r): PySection => {
      const merged = new Map([...(defaults?.keys ?? []), ...r.keys]);
      const joined = (k: string): string | undefined => merged.get(k)?.parts.join('\n');
      const keys = new Map<string, PyKey>();
      for (const [k, e] of merged) {
        const { value, problem } = interpolate(e.parts.join('\n'), joined);
        if (problem) problems.push({ line: e.line, message: `[${r.name}] ${k}: ${problem}` });
        keys.set(k, { raw: e.raw, value, line: e.line });
      }
      return { name: r.name, line: r.line, keys };
    });
  return { sections, problems };
}
