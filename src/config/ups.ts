/**
 * UPS files (config/ups/NAME.ini): an `[ups]` section naming the source (nut, snmp, sim, with
 * that type's keys) and a `[policy]` section saying what a power cut does. The policy's checks
 * that span files (servers named, keep_on among them, FSD only where the source can raise it)
 * live here; the loader calls them with each file's collector.
 */
import type { IniSection } from './ini-lines.js';
import type { upsCommonTemplate, upsPolicyTemplate } from './schema.js';
import { suggest, type Infer } from './types.js';

export interface UpsConfig {
  /** The file's base name: `ups-1` for ups/ups-1.ini. */
  readonly id: string;
  readonly file: string;
  readonly type: string;
  readonly common: Infer<typeof upsCommonTemplate>;
  /** The source type's own keys, defaults applied. */
  readonly spec: Readonly<Record<string, unknown>>;
  readonly policy: Infer<typeof upsPolicyTemplate>;
}

interface Problems {
  error(line: number | undefined, message: string, hint?: string, key?: string): void;
}

/** The servers a UPS feeds: its policy's `servers`, or every server when empty. */
export function fedServers(policy: { readonly servers: readonly string[] }, all: readonly string[]): string[] {
  return policy.servers.length === 0 ? [...all] : [...policy.servers];
}

export function checkUpsPolicy(
  c: Problems,
  sec: IniSection,
  policy: Partial<Infer<typeof upsPolicyTemplate>>,
  source: { readonly type: string; readonly spec: Readonly<Record<string, unknown>> } | undefined,
  serverNames: readonly string[],
  servers: readonly { readonly name: string; readonly dependencies: readonly string[] }[],
): void {
  const line = (key: string): number => sec.keys.get(key)?.line ?? sec.line;
  for (const key of ['servers', 'keep_on'] as const)
    for (const n of policy[key] ?? [])
      if (!serverNames.includes(n)) {
        const sug = suggest(n, serverNames);
        c.error(line(key), `${key} names "${n}", which is not a configured server`, `${sug ? `Did you mean "${sug}"? ` : ''}Servers are the files in servers/.`, key);
      }
  const fed = fedServers({ servers: policy.servers ?? [] }, serverNames);
  for (const n of policy.keep_on ?? [])
    if (serverNames.includes(n) && !fed.includes(n))
      c.error(line('keep_on'), `keep_on names "${n}", which this UPS does not feed (it is not in servers)`, `Add "${n}" to servers, or remove it from keep_on.`, 'keep_on');
  // A kept server keeps what it depends on: say so when that is not fed by this UPS either.
  const deps = new Map(servers.map((s) => [s.name, s.dependencies]));
  for (const n of policy.keep_on ?? [])
    for (const d of deps.get(n) ?? [])
      if (!fed.includes(d))
        c.error(line('keep_on'), `keep_on "${n}" depends on "${d}", which this UPS does not feed`, `Add "${d}" to servers too (a kept server keeps what it needs), or remove "${n}" from keep_on.`, 'keep_on');
  if (policy.fsd && source && !(source.type === 'nut' && source.spec.mode === 'primary'))
    c.error(
      line('fsd'),
      `fsd = true needs a NUT source in primary mode (this UPS is type ${source.type}${source.type === 'nut' ? ', mode secondary' : ''})`,
      source.type === 'nut' ? 'Set mode = primary in [ups] (its upsd.users user needs "upsmon primary"), or fsd = false.' : 'Only upsd (NUT) has forced shutdown; set fsd = false.',
      'fsd',
    );
}
