/**
 * The loaded configuration as the dashboard and `GET /api/config` show it: every file, every
 * section, and every key its template knows (set or defaulted), with the kind, default and help
 * text from the schema. Secret values are never included: a set secret reads `[secret]`.
 */
import type { IniSection } from './ini-lines.js';
import type { Template } from './types.js';

export interface KeyView {
  readonly key: string;
  /** The kind as the docs word it: `duration 1s–1d (e.g. …)`, `integer 1–48`… */
  readonly kind: string;
  readonly help: string;
  readonly required: boolean;
  /** The default as it would be written, or null. */
  readonly default: string | null;
  /** The line that sets it; null when the default applies (or an optional key is unset). */
  readonly line: number | null;
  /** The effective value as it would be written; `[secret]` for a secret; null when unset. */
  readonly value: string | null;
  readonly secret: boolean;
  /** Changing it takes a restart (a reload keeps the old value). */
  readonly restart: boolean;
}
export interface SectionView {
  readonly name: string;
  readonly line: number;
  readonly keys: readonly KeyView[];
}
export interface FileView {
  readonly file: string;
  readonly sections: readonly SectionView[];
}

export function sectionView(sec: IniSection, template: Template, values: Readonly<Record<string, unknown>>): SectionView {
  return {
    name: sec.name,
    line: sec.line,
    keys: Object.entries(template).map(([key, spec]) => {
      const secret = spec.kind === 'secret';
      const v = values[key];
      return {
        key,
        kind: spec.describe,
        help: spec.help,
        required: spec.required === true,
        default: spec.default === undefined || secret ? null : spec.format(spec.default),
        line: sec.keys.get(key)?.line ?? null,
        value: v === undefined ? null : secret ? '[secret]' : spec.format(v),
        secret,
        restart: spec.restart === true,
      };
    }),
  };
}
