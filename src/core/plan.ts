/**
 * Pure planning of a sequenced action: which servers it switches, in which waves, in which order
 * on each device, and the expected critical path. Shared by `plan()` (what an action would do)
 * and the progress tracker of a running one. Touches nothing.
 */
import type { OpState, Plan } from './model.js';
import type { RemotePort } from './remote.js';
import type { RuntimeOutlet } from './slots.js';
import type { ServerTree } from './tree.js';

const GOAL: Readonly<Record<'on' | 'off', readonly OpState[]>> = { on: ['OK', 'FORCED_ON'], off: ['OFF', 'FORCED_OFF'] };

/** The servers a sequenced action would switch: the closure minus those already in the goal state. */
export function sequenceSet(
  tree: ServerTree,
  state: (server: string) => OpState,
  kind: 'on' | 'off',
  targets: readonly string[],
): { servers: string[]; skipped: string[] } {
  const closure = tree.closure(targets, kind);
  const servers = notThere(closure, state, kind);
  return { servers, skipped: closure.filter((n) => GOAL[kind].includes(state(n))) };
}

/** Of a closure (tree.closure, in its order), the servers not in the goal state yet. */
export function notThere(closure: readonly string[], state: (server: string) => OpState, kind: 'on' | 'off'): string[] {
  const goal = GOAL[kind];
  return closure.filter((n) => !goal.includes(state(n)));
}

/** A server's predecessors within a set: what must finish first (on: dependencies, off: dependents). */
export function predecessors(tree: ServerTree, kind: 'on' | 'off', set: ReadonlySet<string>): (server: string) => string[] {
  return (n) => (kind === 'on' ? tree.dependencies(n) : tree.dependents(n)).filter((m) => set.has(m));
}

/**
 * Wave of each server: the length of its longest chain of predecessors. `servers` must be in
 * sequence order (predecessors first).
 */
export function waveOf(servers: readonly string[], before: (server: string) => readonly string[]): Map<string, number> {
  const wave = new Map<string, number>();
  for (const n of servers) {
    let w = 0;
    for (const m of before(n)) {
      const wm = wave.get(m);
      if (wm !== undefined && wm + 1 > w) w = wm + 1;
    }
    wave.set(n, w);
  }
  return wave;
}

export interface PlanInput {
  readonly kind: 'on' | 'off';
  readonly targets: readonly string[];
  readonly tree: ServerTree;
  state(server: string): OpState;
  /** Expected time of one server's boot (on) or shutdown (off), and where the figure comes from. */
  expected(server: string): Plan['expected'][number];
  outlets(server: string): readonly RuntimeOutlet[];
  staggerMs(device: string): number;
  /** Servers of other gateways (federation); none: the plan names none. */
  readonly remote?: Pick<RemotePort, 'dependencies' | 'dependents' | 'view'>;
}

/** Whether a remote server counts as stopped: its gateway reads it off. */
export const remoteStopped = (v: { readonly state: string; readonly power: string }): boolean => v.state === 'OFF' || v.state === 'FORCED_OFF' || v.power === 'off';

/** The remote servers a sequence over `servers` waits on (Plan.remote). */
export function remoteWaits(kind: 'on' | 'off', servers: readonly string[], remote: PlanInput['remote']): Plan['remote'] {
  if (!remote) return [];
  const byRef = new Map<string, string[]>();
  for (const n of servers) for (const ref of kind === 'on' ? remote.dependencies(n) : remote.dependents(n)) byRef.set(ref, [...(byRef.get(ref) ?? []), n]);
  return [...byRef].map(([ref, forServers]) => {
    const v = remote.view(ref);
    return { ref, state: v.state, reason: v.reason, for: forServers, ask: v.state !== 'UNKNOWN' && (kind === 'on' ? !v.serving : !remoteStopped(v)) };
  });
}

export function planSequence(p: PlanInput): Plan {
  const { kind, targets, tree } = p;
  const { servers, skipped } = sequenceSet(tree, (n) => p.state(n), kind, targets);
  const before = predecessors(tree, kind, new Set(servers));
  const expected = servers.map((n) => p.expected(n));
  const cost = new Map(expected.map((e) => [e.server, e.ms]));
  const depth = waveOf(servers, before);
  const finish = new Map<string, { ms: number; via: string | null }>();
  for (const n of servers) {
    const best = before(n).reduce<{ ms: number; via: string | null }>((b, m) => (finish.get(m)!.ms > b.ms ? { ms: finish.get(m)!.ms, via: m } : b), { ms: 0, via: null });
    finish.set(n, { ms: best.ms + cost.get(n)!, via: best.via });
  }
  const waves: string[][] = [];
  for (const n of servers) (waves[depth.get(n)!] ??= []).push(n);
  let end: string | null = servers.reduce<string | null>((b, n) => (b === null || finish.get(n)!.ms > finish.get(b)!.ms ? n : b), null);
  const path: string[] = [];
  const total = end ? finish.get(end)!.ms : 0;
  while (end) {
    path.unshift(end);
    end = finish.get(end)!.via;
  }
  const byDevice = new Map<string, string[]>();
  for (const n of waves.flat())
    for (const o of p.outlets(n)) {
      const list = byDevice.get(o.device) ?? [];
      list.push(`${n}/${o.name} (outlet ${o.outlet})`);
      byDevice.set(o.device, list);
    }
  return {
    kind,
    targets,
    servers,
    skipped,
    waves,
    devices: [...byDevice].map(([device, order]) => ({ device, staggerMs: p.staggerMs(device), order })),
    expected,
    criticalPath: { servers: path, ms: total },
    remote: remoteWaits(kind, servers, p.remote),
  };
}
