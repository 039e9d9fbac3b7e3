/**
 * Key kinds of the config schema. Every key of every section (daemon, devices, servers,
 * drivers, plugins) is declared once with one of these builders; TypeScript types are
 * inferred from the declarations (`Infer<T>`), never written beside them.
 */
import { inspect } from 'node:util';

/** A secret value (community, password). Prints as `[secret]` everywhere; `reveal()` gives the value. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The plain value: only for handing to a protocol library, never for logs. */
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[secret]';
  }
  toJSON(): string {
    return '[secret]';
  }
  [inspect.custom](): string {
    return '[secret]';
  }
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string; hint?: string };

export type KeyKind = 'str' | 'int' | 'bool' | 'select' | 'list' | 'multilist' | 'secret' | 'duration';

/** One declared key. `Opt` is true when the key may be absent and has no default. */
export interface KeySpec<T, Opt extends boolean = boolean> {
  readonly kind: KeyKind;
  readonly help: string;
  readonly default: T | undefined;
  readonly required: boolean;
  /** True when a change only takes effect after a restart (not on SIGHUP reload). */
  readonly restart: boolean;
  /** Human-readable type for messages and docs: `integer 1–48`, `one of: on, off`. */
  readonly describe: string;
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /**
   * Set on a TCP port that ockle listens on (the API's, a plugin's): `config check` refuses two
   * listeners on one port with overlapping addresses. `addressKey` names the key of the same
   * section holding the listen address; without one the port listens on every address.
   */
  readonly listen?: { readonly addressKey?: string };
  /** Parses the raw INI text (already unquoted, comments stripped). */
  parse(raw: string): ParseResult<T>;
  /** Renders a value back to INI text (secrets render as `[secret]`). */
  format(value: T): string;
  /** @internal phantom marker for optional-ness inference */
  readonly __opt?: Opt;
}

export type Template = Readonly<Record<string, KeySpec<unknown>>>;

type ValueOf<S> = S extends KeySpec<infer T, infer O> ? (O extends true ? T | undefined : T) : never;
/** The frozen value type of a section declared by template `T`. */
export type Infer<T extends Template> = { readonly [K in keyof T]: ValueOf<T[K]> };

interface Common<T> {
  help: string;
  restart?: boolean;
  default?: T;
  required?: boolean;
}
type OptFlag<O extends Common<unknown>> = O extends { default: unknown }
  ? false
  : O extends { required: true }
    ? false
    : true;

function spec<T, O extends Common<T>>(
  o: O,
  kind: KeyKind,
  describe: string,
  parse: (raw: string) => ParseResult<T>,
  format: (v: T) => string,
  extra: Partial<Pick<KeySpec<T>, 'choices' | 'min' | 'max'>> = {},
): KeySpec<T, OptFlag<O>> {
  return Object.freeze({
    kind,
    help: o.help,
    default: o.default,
    required: o.required ?? false,
    restart: o.restart ?? false,
    describe,
    parse,
    format,
    ...extra,
  });
}

const ok = <T>(value: T): ParseResult<T> => ({ ok: true, value });
const bad = <T>(message: string, hint?: string): ParseResult<T> =>
  hint === undefined ? { ok: false, message } : { ok: false, message, hint };

function rangeText(min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return ` ${min}–${max}`;
  if (min !== undefined) return ` ≥ ${min}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}

export function str<O extends Common<string> & { pattern?: RegExp; patternHelp?: string }>(o: O) {
  return spec<string, O>(
    o,
    'str',
    o.patternHelp ?? 'text',
    (raw) =>
      o.pattern && !o.pattern.test(raw)
        ? bad(`"${raw}" is not ${o.patternHelp ?? `of the form ${o.pattern.source}`}`)
        : ok(raw),
    (v) => v,
  );
}

const INT_RE = /^[-+]?\d+$/;
export function int<O extends Common<number> & { min?: number; max?: number }>(o: O) {
  return spec<number, O>(
    o,
    'int',
    `integer${rangeText(o.min, o.max)}`,
    (raw) => {
      if (!INT_RE.test(raw)) return bad(`"${raw}" is not a whole number`, `Write an integer${rangeText(o.min, o.max)}.`);
      const n = Number(raw);
      if ((o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max))
        return bad(`${n} is out of range`, `Use an integer${rangeText(o.min, o.max)}.`);
      return ok(n);
    },
    String,
    { ...(o.min !== undefined && { min: o.min }), ...(o.max !== undefined && { max: o.max }) },
  );
}

/**
 * A TCP port ockle listens on, 0–65535 (0: any free port). Plugins that serve anything declare
 * their port with this, naming their listen-address key, so `config check` catches two listeners
 * on one port (the API's or another plugin's) before the second fails to start.
 */
export function listenPort<O extends Common<number> & { addressKey?: string }>(o: O) {
  const s = int<O & { min: number; max: number }>({ ...o, min: 0, max: 65535 });
  return Object.freeze({ ...s, listen: o.addressKey === undefined ? {} : { addressKey: o.addressKey } });
}

const TRUE = new Set(['true', 'yes', 'on', '1']);
const FALSE = new Set(['false', 'no', 'off', '0']);
export function bool<O extends Common<boolean>>(o: O) {
  return spec<boolean, O>(
    o,
    'bool',
    'true or false',
    (raw) => {
      const v = raw.toLowerCase();
      if (TRUE.has(v)) return ok(true);
      if (FALSE.has(v)) return ok(false);
      return bad(`"${raw}" is not a boolean`, 'Write true or false.');
    },
    (v) => (v ? 'true' : 'false'),
  );
}

export function select<const C extends readonly string[], O extends Common<C[number]>>(o: O & { choices: C }) {
  return spec<C[number], O>(
    o,
    'select',
    `one of: ${o.choices.join(', ')}`,
    (raw) =>
      (o.choices as readonly string[]).includes(raw)
        ? ok(raw as C[number])
        : bad(`"${raw}" is not allowed`, `Use one of: ${o.choices.join(', ')}.${suggestHint(raw, o.choices)}`),
    (v) => v,
    { choices: o.choices },
  );
}

/** Splits a comma-separated list, trimming items and dropping empty ones. */
export function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** A comma-separated list of free names (checked elsewhere, e.g. section or server names). */
export function list<O extends Common<readonly string[]>>(o: O) {
  return spec<readonly string[], O>(
    o,
    'list',
    'comma-separated list',
    (raw) => {
      const items = splitList(raw);
      const dup = items.find((x, i) => items.indexOf(x) !== i);
      return dup === undefined ? ok(Object.freeze(items)) : bad(`"${dup}" is listed twice`, 'List each name once.');
    },
    (v) => v.join(', '),
  );
}

/** A comma-separated list whose items come from a fixed set. */
export function multilist<const C extends readonly string[], O extends Common<readonly C[number][]>>(o: O & { choices: C }) {
  return spec<readonly C[number][], O>(
    o,
    'multilist',
    `comma-separated, each one of: ${o.choices.join(', ')}`,
    (raw) => {
      const items = splitList(raw);
      for (const it of items)
        if (!(o.choices as readonly string[]).includes(it))
          return bad(`"${it}" is not allowed`, `Use items from: ${o.choices.join(', ')}.${suggestHint(it, o.choices)}`);
      const dup = items.find((x, i) => items.indexOf(x) !== i);
      if (dup !== undefined) return bad(`"${dup}" is listed twice`, 'List each item once.');
      return ok(Object.freeze(items) as readonly C[number][]);
    },
    (v) => v.join(', '),
    { choices: o.choices },
  );
}

export function secret<O extends Common<Secret>>(o: O) {
  return spec<Secret, O>(
    o,
    'secret',
    'secret text',
    (raw) => (raw.length === 0 ? bad('secret is empty', 'Give the value or remove the key.') : ok(new Secret(raw))),
    () => '[secret]',
  );
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Parses `250ms`, `30s`, `5m`, `1h30m`, `30d`, or a bare number of seconds, into milliseconds. */
export function parseDuration(raw: string): number | undefined {
  const t = raw.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
    pos = re.lastIndex;
  }
  return pos === t.length && pos > 0 ? Math.round(total) : undefined;
}
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
/**
 * The longest duration any key accepts: 24 days. A Node timer holds at most 2^31−1 ms (24.8
 * days) and fires after 1 ms when asked for more, so a 30-day `shutdown_timeout` would cut the
 * power at once and a 30-day `poll_interval` would spin.
 */
export const MAX_DURATION_MS = 24 * 86_400_000;

/** A duration; the value is in milliseconds. `min`/`max` are in milliseconds too (`max` never above MAX_DURATION_MS). */
export function duration<O extends Common<number> & { min?: number; max?: number; notATimer?: boolean }>(o: O) {
  // `notATimer`: a span nothing waits for (a retention age), so a timer's limit does not apply.
  const max = o.notATimer ? (o.max ?? Infinity) : Math.min(o.max ?? MAX_DURATION_MS, MAX_DURATION_MS);
  const range = ` ${o.min !== undefined ? formatDuration(o.min) : '0s'}–${max === Infinity ? '∞' : formatDuration(max)}`;
  return spec<number, O>(
    o,
    'duration',
    `duration${range} (e.g. 500ms, 30s, 5m, 1h)`,
    (raw) => {
      const ms = parseDuration(raw);
      if (ms === undefined) return bad(`"${raw}" is not a duration`, 'Write a number with a unit: 500ms, 30s, 5m, 1h.');
      if (!o.notATimer && ms > MAX_DURATION_MS && (o.max === undefined || o.max >= MAX_DURATION_MS))
        return bad(`${raw} is out of range`, `Use a duration${range}: 24 days is the longest a timer can wait.`);
      if ((o.min !== undefined && ms < o.min) || ms > max) return bad(`${raw} is out of range`, `Use a duration${range}.`);
      return ok(ms);
    },
    formatDuration,
    { ...(o.min !== undefined && { min: o.min }), ...(max !== Infinity && { max }) },
  );
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The nearest candidate to `word`, if it is close enough to be a likely typo. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}
function suggestHint(word: string, candidates: readonly string[]): string {
  const s = suggest(word, candidates);
  return s === undefined ? '' : ` Did you mean "${s}"?`;
}
