/**
 * A UPS policy, as pure functions: given the UPS's reading, the clock, where the power event
 * stands and the servers' states, what happens next. The monitor (monitor.ts) applies one
 * decision, then asks again, until the answer is to wait. Nothing here touches anything, so the
 * stages are table-tested without a daemon, and `ockle plan ups` shows them from the same code.
 *
 * The stages (docs/ups.md):
 *  - on battery for `on_battery_delay` (a flicker does nothing): the event begins; the servers
 *    on then are remembered (journaled) for the restore;
 *  - tiers: each shed tier (servers' `shed_priority`, 1 first) is a sequenced off, `tier_interval`
 *    after the previous one; a server something still running depends on waits for a later
 *    tier (or the low battery): a tier never cuts what a running server needs;
 *  - low battery (the UPS's LB, runtime under `min_runtime`, charge under `min_charge`, or an
 *    FSD from upsd): a sequenced off of everything still on except `keep_on` and what it needs;
 *    then, if configured, FSD to the UPS's other monitors;
 *  - mains back for `restore_delay` with `restore_min_charge`: a sequenced on of exactly the
 *    servers that were on when the event began. Mains failing again cancels the restore and
 *    starts a new cut of the same event (its stages may run again, each once per cut).
 */
import type { OpState, UpsStage } from '../core/model.js';
import type { UpsReading } from '../../drivers/types.js';

export interface Policy {
  /** Servers this UPS feeds. */
  readonly servers: readonly string[];
  readonly onBatteryDelayMs: number;
  readonly tierIntervalMs: number;
  /** 0: not used. */
  readonly minRuntimeMs: number;
  /** 0: not used. */
  readonly minChargePct: number;
  readonly keepOn: readonly string[];
  readonly fsd: boolean;
  readonly restore: boolean;
  readonly restoreDelayMs: number;
  readonly restoreMinChargePct: number;
}

export interface ServerFacts {
  readonly name: string;
  readonly state: OpState;
  readonly dependencies: readonly string[];
  readonly dependents: readonly string[];
  readonly shedPriority: number | null;
  readonly paused: boolean;
}

/** Where a power event stands (rebuilt from the journal after a restart). */
export interface EventState {
  readonly id: string;
  readonly startedAt: string;
  readonly wasOn: readonly string[];
  /** The cut: 1, then +1 each time mains fails again before the event ended. */
  cut: number;
  /** Whether the mains is out in this cut (false once it came back). */
  cutActive: boolean;
  /** Stages that ran in this cut, with how they ended (a cancelled or interrupted one did not run). */
  readonly done: Map<string, 'ok' | 'failed' | 'skipped'>;
  /** Monotonic ms when the last stage of this cut ended (tier_interval counts from it). */
  lastStageEndedAt: number | null;
}

export interface Snapshot {
  readonly now: number;
  readonly reading: UpsReading | null;
  /** Monotonic ms since when the UPS has been on battery (this on-battery period); null when not. */
  readonly onBatterySince: number | null;
  /** Monotonic ms since when mains has been back; null when not. */
  readonly mainsSince: number | null;
  readonly event: EventState | null;
  /** The stage whose action is running, if any. */
  readonly running: string | null;
  readonly servers: ReadonlyMap<string, ServerFacts>;
  /** The source released its login after the final stage (NUT secondary: the primary may cut now). */
  readonly released: boolean;
  /** Whether the source can raise FSD. */
  readonly canFsd: boolean;
}

export type Decision =
  | { readonly do: 'wait'; readonly stage: UpsStage; readonly detail: string; readonly wakeAt: number | null }
  | { readonly do: 'begin'; readonly wasOn: readonly string[]; readonly reason: string }
  | { readonly do: 'new-cut'; readonly reason: string }
  | { readonly do: 'mains-back'; readonly reason: string }
  | { readonly do: 'cancel'; readonly reason: string }
  | { readonly do: 'skip'; readonly stage: string; readonly reason: string }
  | {
      readonly do: 'stage';
      readonly stage: string;
      readonly kind: 'on' | 'off';
      readonly targets: readonly string[];
      readonly held: readonly { readonly server: string; readonly why: string }[];
      readonly reason: string;
    }
  | { readonly do: 'fsd'; readonly reason: string }
  | { readonly do: 'release'; readonly reason: string }
  | { readonly do: 'end'; readonly reason: string };

const POWERED: ReadonlySet<OpState> = new Set(['OK', 'SWITCHING_ON', 'FORCED_ON', 'NOT_SERVING', 'FAILED_TO_STOP', 'PERMANENTLY_FAILED_TO_STOP']);
const OFF: ReadonlySet<OpState> = new Set(['OFF', 'FORCED_OFF']);

/** A server counted as on (powered) for "what was on before the cut". */
export const isOn = (s: OpState): boolean => POWERED.has(s);
/** A server nothing is left to shed of. */
export const isOff = (s: OpState): boolean => OFF.has(s);

const secs = (ms: number): string => (ms < 60_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 6000) / 10} min`);

/** The reading in a few words, for reasons: `71 % charge, 12 min runtime`. */
export function readingWords(r: UpsReading | null): string {
  if (!r) return 'no reading';
  const parts = [
    r.chargePct !== undefined && `${Math.round(r.chargePct)} % charge`,
    r.runtimeS !== undefined && `${secs(r.runtimeS * 1000)} runtime`,
    r.lowBattery && 'battery low (LB)',
    r.forcedShutdown && 'forced shutdown (FSD)',
  ].filter(Boolean);
  return parts.join(', ') || (r.flags.join(' ') || r.power);
}

/** Why the battery counts as low now, or null. */
export function lowBattery(p: Policy, r: UpsReading | null): string | null {
  if (!r) return null;
  if (r.forcedShutdown) return 'the UPS asks every monitor to shut down (FSD)';
  if (r.power !== 'battery') return null;
  if (r.lowBattery) return 'the UPS says its battery is low (LB)';
  if (p.minRuntimeMs > 0 && r.runtimeS !== undefined && r.runtimeS * 1000 < p.minRuntimeMs) return `runtime ${secs(r.runtimeS * 1000)} is under min_runtime ${secs(p.minRuntimeMs)}`;
  if (p.minChargePct > 0 && r.chargePct !== undefined && r.chargePct < p.minChargePct) return `charge ${Math.round(r.chargePct)} % is under min_charge ${p.minChargePct} %`;
  return null;
}

/** The tiers the fed servers name, in order. */
export function tiers(p: Policy, servers: ReadonlyMap<string, ServerFacts>): number[] {
  return [...new Set(p.servers.flatMap((n) => (servers.get(n)?.shedPriority != null ? [servers.get(n)!.shedPriority!] : [])))].sort((a, b) => a - b);
}

/** Each server with every server it (transitively) depends on. */
function withDependencies(names: readonly string[], servers: ReadonlyMap<string, ServerFacts>): Set<string> {
  const out = new Set<string>();
  const todo = [...names];
  while (todo.length > 0) {
    const n = todo.pop()!;
    if (out.has(n)) continue;
    out.add(n);
    todo.push(...(servers.get(n)?.dependencies ?? []));
  }
  return out;
}

/**
 * What a shed stage would switch off: `wanted` minus what is already off, minus (with a reason)
 * what must stay: a server something still running depends on, unless that dependent goes too.
 */
export function shedSet(
  wanted: readonly string[],
  servers: ReadonlyMap<string, ServerFacts>,
  held: Map<string, string>,
): string[] {
  const set = new Set(wanted.filter((n) => servers.has(n) && !isOff(servers.get(n)!.state) && !held.has(n)));
  for (let changed = true; changed; ) {
    changed = false;
    for (const n of set) {
      const blocker = servers.get(n)!.dependents.find((d) => !set.has(d) && servers.has(d) && !isOff(servers.get(d)!.state));
      if (blocker) {
        set.delete(n);
        held.set(n, `${blocker} still runs and depends on it`);
        changed = true;
      }
    }
  }
  return [...set];
}

/** Tier k: fed servers of priority ≤ k still on (an earlier tier's server held then may go now), paused ones kept. */
export function tierStage(p: Policy, servers: ReadonlyMap<string, ServerFacts>, k: number): { targets: string[]; held: Map<string, string> } {
  const held = new Map<string, string>();
  const wanted = p.servers.filter((n) => {
    const s = servers.get(n);
    if (!s || s.shedPriority === null || s.shedPriority > k || isOff(s.state)) return false;
    if (s.paused) {
      held.set(n, 'paused for maintenance (kept until the battery runs low)');
      return false;
    }
    return true;
  });
  return { targets: shedSet(wanted, servers, held), held };
}

/** Low battery: everything fed that is still on, except keep_on and what it needs (paused servers too: the power goes anyway). */
export function lowBatteryStage(p: Policy, servers: ReadonlyMap<string, ServerFacts>): { targets: string[]; held: Map<string, string> } {
  const keep = withDependencies(p.keepOn, servers);
  const held = new Map<string, string>();
  for (const n of keep) if (servers.has(n) && !isOff(servers.get(n)!.state)) held.set(n, p.keepOn.includes(n) ? 'keep_on' : 'a keep_on server needs it');
  const wanted = p.servers.filter((n) => !keep.has(n));
  return { targets: shedSet(wanted, servers, held), held };
}

/** Restore: exactly the servers that were on before the event and are not on now (paused ones left as they are). */
export function restoreStage(wasOn: readonly string[], servers: ReadonlyMap<string, ServerFacts>): { targets: string[]; held: Map<string, string> } {
  const held = new Map<string, string>();
  const targets = wasOn.filter((n) => {
    const s = servers.get(n);
    if (!s) {
      held.set(n, 'no longer configured');
      return false;
    }
    if (s.paused) {
      held.set(n, 'paused for maintenance');
      return false;
    }
    return !isOn(s.state);
  });
  return { targets, held };
}

const heldList = (held: Map<string, string>) => [...held].map(([server, why]) => ({ server, why }));

/** What happens next. */
export function decide(p: Policy, s: Snapshot): Decision {
  const r = s.reading;
  const ev = s.event;
  const low = lowBattery(p, r);
  if (!r || r.power === 'unknown') {
    return {
      do: 'wait',
      stage: 'unknown',
      detail: `the UPS does not answer: no stage starts on a guess${ev ? ` (event ${ev.id} open${s.running ? `, ${s.running} running` : ''})` : ''}`,
      wakeAt: null,
    };
  }
  const battery = r.power === 'battery' || r.forcedShutdown;

  if (s.running) {
    if (s.running === 'restore' && battery) return { do: 'cancel', reason: `mains failed again during the restore (${readingWords(r)})` };
    if (s.running.startsWith('tier-') && low && !ev?.done.has('low-battery')) return { do: 'cancel', reason: `battery low (${low}): the low-battery stage takes over` };
    return { do: 'wait', stage: s.running === 'restore' ? 'restoring' : s.running === 'low-battery' ? 'low-battery' : 'shedding', detail: `${s.running} running`, wakeAt: null };
  }

  if (battery) {
    const since = s.onBatterySince ?? s.now;
    const onFor = s.now - since;
    const due = since + p.onBatteryDelayMs;
    const why = `on battery for ${secs(onFor)}, ${readingWords(r)}`;
    if (!ev || !ev.cutActive) {
      if (!low && s.now < due) return { do: 'wait', stage: 'on-battery', detail: `${why}; nothing happens before ${secs(p.onBatteryDelayMs)} (a flicker)`, wakeAt: due };
      const reason = low ? `${why}; ${low}` : why;
      if (!ev) return { do: 'begin', wasOn: p.servers.filter((n) => s.servers.has(n) && isOn(s.servers.get(n)!.state)), reason };
      return { do: 'new-cut', reason: `mains failed again: ${reason}` };
    }
    if (low) {
      if (!ev.done.has('low-battery')) {
        const { targets, held } = lowBatteryStage(p, s.servers);
        if (targets.length === 0) return { do: 'skip', stage: 'low-battery', reason: `${low}: nothing left to shut down` };
        return { do: 'stage', stage: 'low-battery', kind: 'off', targets, held: heldList(held), reason: `${low}; ${why}` };
      }
      if (p.fsd && s.canFsd && !ev.done.has('fsd')) return { do: 'fsd', reason: `${low}: everything but keep_on is down; telling the UPS's other monitors to shut down` };
      if ((r.forcedShutdown || ev.done.has('fsd')) && !s.released) return { do: 'release', reason: 'final stage done: logging out so the primary can cut the UPS' };
      return { do: 'wait', stage: 'low-battery', detail: `${low}; everything but keep_on is down; waiting for mains`, wakeAt: null };
    }
    for (const k of tiers(p, s.servers)) {
      const name = `tier-${k}`;
      if (ev.done.has(name)) continue;
      const at = ev.lastStageEndedAt === null ? s.now : ev.lastStageEndedAt + p.tierIntervalMs;
      if (s.now < at) return { do: 'wait', stage: 'shedding', detail: `${why}; ${name} in ${secs(at - s.now)}`, wakeAt: at };
      const { targets, held } = tierStage(p, s.servers, k);
      if (targets.length === 0) return { do: 'skip', stage: name, reason: held.size > 0 ? `nothing to shed now (${heldList(held).map((h) => `${h.server}: ${h.why}`).join('; ')})` : 'its servers are already off' };
      return { do: 'stage', stage: name, kind: 'off', targets, held: heldList(held), reason: `${name}: ${why}` };
    }
    return { do: 'wait', stage: 'shedding', detail: `${why}; every tier is shed; the rest waits for mains or a low battery`, wakeAt: null };
  }

  // Mains (or bypass: the load is fed) and no FSD.
  if (!ev) return { do: 'wait', stage: 'normal', detail: `on ${r.power}, ${readingWords(r)}`, wakeAt: null };
  if (ev.cutActive) return { do: 'mains-back', reason: `mains is back (${readingWords(r)})` };
  if (!p.restore) return { do: 'end', reason: 'mains is back; restore = false: servers stay as they are' };
  const since = s.mainsSince ?? s.now;
  const due = since + p.restoreDelayMs;
  if (s.now < due) return { do: 'wait', stage: 'waiting-for-mains', detail: `mains back for ${secs(s.now - since)}; the restore starts after ${secs(p.restoreDelayMs)}`, wakeAt: due };
  if (p.restoreMinChargePct > 0 && r.chargePct !== undefined && r.chargePct < p.restoreMinChargePct)
    return { do: 'wait', stage: 'waiting-for-mains', detail: `mains back; charging: ${Math.round(r.chargePct)} % of the ${p.restoreMinChargePct} % the restore waits for`, wakeAt: null };
  if (ev.done.has('restore')) return { do: 'end', reason: `mains is back and the restore ${ev.done.get('restore') === 'failed' ? 'ended with failures' : 'is done'}` };
  const { targets, held } = restoreStage(ev.wasOn, s.servers);
  if (targets.length === 0) return { do: 'end', reason: `mains is back; every server that was on before the cut is on${held.size > 0 ? ` (left as they are: ${heldList(held).map((h) => `${h.server}: ${h.why}`).join('; ')})` : ''}` };
  return { do: 'stage', stage: 'restore', kind: 'on', targets, held: heldList(held), reason: `mains back for ${secs(s.now - since)}, ${readingWords(r)}: bringing back what was on before the cut` };
}
