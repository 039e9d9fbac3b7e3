/**
 * Writes ockle INI files: sections of `key = value` lines, a value quoted (JSON, which the
 * `ini` decoder reads back) when written bare it would lose something: a `;` or `#` that
 * would start a comment, a backslash, a leading quote, or spaces at either end.
 */

export interface OutSection {
  readonly name: string;
  /** Comment lines written above the header (without the leading `; `). */
  readonly comments?: readonly string[];
  readonly keys: readonly (readonly [string, string])[];
}

export function iniValue(v: string): string {
  if (v === '') return '';
  const safe = !/[;#\\\r\n]/.test(v) && !/^["'\s]/.test(v) && !/\s$/.test(v);
  return safe ? v : JSON.stringify(v);
}

export function writeIni(header: readonly string[], sections: readonly OutSection[]): string {
  const out: string[] = header.map((h) => `; ${h}`);
  for (const s of sections) {
    if (out.length > 0) out.push('');
    for (const c of s.comments ?? []) out.push(`; ${c}`);
    out.push(`[${s.name}]`);
    for (const [k, v] of s.keys) out.push(`${k} = ${iniValue(v)}`);
  }
  return out.join('\n') + '\n';
}
