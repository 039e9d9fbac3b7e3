/**
 * A line-level INI reader that keeps positions. The `ini` package decodes values (quotes,
 * escapes, inline comments) but loses line numbers and nests dotted section names
 * (`[plugins.logger]`), so this pass mirrors its line grammar, keeps `file:line` for every
 * section and key, and hands each value to `ini.unsafe` for decoding. A test checks that both
 * agree on plain files.
 */
import ini from 'ini';

export interface IniKey {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}
export interface IniSection {
  readonly name: string;
  readonly line: number;
  readonly keys: ReadonlyMap<string, IniKey>;
}
export interface IniProblem {
  readonly line: number;
  readonly message: string;
  readonly hint?: string;
}
export interface IniFile {
  readonly sections: readonly IniSection[];
  readonly problems: readonly IniProblem[];
}

const SECTION = /^\[([^\]]*)\]\s*(?:[;#].*)?$/;

export function parseIni(text: string): IniFile {
  const sections: { name: string; line: number; keys: Map<string, IniKey> }[] = [];
  const problems: IniProblem[] = [];
  let current: (typeof sections)[number] | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (t === '' || t.startsWith(';') || t.startsWith('#')) return;
    const sec = SECTION.exec(t);
    if (sec) {
      const name = sec[1]!.trim();
      if (name === '') {
        problems.push({ line, message: 'empty section name "[]"', hint: 'Name the section, e.g. [server].' });
        current = undefined;
        return;
      }
      const dup = sections.find((s) => s.name === name);
      if (dup) {
        problems.push({ line, message: `section [${name}] appears twice (first at line ${dup.line})`, hint: 'Merge the two sections into one.' });
        current = dup;
        return;
      }
      current = { name, line, keys: new Map() };
      sections.push(current);
      return;
    }
    if (t.startsWith('[')) {
      problems.push({ line, message: `malformed section header "${t}"`, hint: 'Write it as [name] on its own line.' });
      return;
    }
    const eq = t.indexOf('=');
    if (eq <= 0) {
      // The line itself is never echoed: a mistyped "password: S3cret" must not reach a log.
      // What looks like its key is named, nothing after it.
      const word = /^[A-Za-z_][\w.-]*/.exec(t)?.[0];
      problems.push({
        line,
        message: eq === 0 ? 'the line has no key before "="' : `the line${word ? ` starting with "${word}"` : ''} is not "key = value"`,
        hint: 'Write key = value, or start the line with ; to make it a comment.',
      });
      return;
    }
    const key = t.slice(0, eq).trim();
    if (!current) {
      problems.push({ line, message: `key "${key}" comes before any [section]`, hint: 'Move it into a section.' });
      return;
    }
    if (key.endsWith('[]')) {
      problems.push({ line, message: `array syntax "${key}" is not used by ockle`, hint: 'Write lists as comma-separated values: key = a, b, c.' });
      return;
    }
    const prev = current.keys.get(key);
    if (prev) {
      problems.push({ line, message: `key "${key}" is set twice in [${current.name}] (first at line ${prev.line})`, hint: 'Keep one of the two lines.' });
      return;
    }
    current.keys.set(key, { key, value: String(ini.unsafe(t.slice(eq + 1).trim())), line });
  });
  return { sections, problems };
}
