/**
 * What the journal remembers of each server apart from its records: the boot time learned from
 * its newest `up` step, and its last finished action. The records are trimmed by count and size
 * (a busy lab's thousands of other actions push them out); these must outlive them:
 * - the boot times, because the restore after a long power cut, when the whole lab boots, is
 *   probed from what it learned;
 * - the last action, because a restart or a reload derives states (FORCED_OFF,
 *   FAILED_TO_START…) and keep-alive from it.
 * Both follow file order (newest wins, whatever the clock did), are written as a compaction's
 * last lines, and read back on open.
 */
import type { ActionKind, ActionRecord, ActionStatus, ActionStep } from './model.js';

/** Servers remembered, at most (far above any lab: a bound, not a limit). */
const MAX_SERVERS = 20_000;

/** How an action ended for one server it worked on; `permanent`: failed after max_attempts. */
export type ServerOutcome = Exclude<ActionStatus, 'running'> | 'permanent';

const RESULTS = new Set<string>(['ok', 'failed', 'cancelled', 'interrupted'] satisfies Exclude<ActionStatus, 'running'>[]);

/** The last finished action of a server. */
export interface LastFinished {
  readonly kind: ActionKind;
  readonly force: boolean;
  readonly result: Exclude<ActionStatus, 'running'>;
  readonly permanent?: true;
}

/** The lines a compaction writes last, so a reopen reads them after every record. */
export type MemoryLine = { t: 'boots'; boots: Record<string, number> } | { t: 'last'; last: Record<string, LastFinished> };

/** Newest last: a Map keeps insertion order, so past the bound the oldest (servers long gone) go first. */
function remember<V>(m: Map<string, V>, server: string, v: V): void {
  m.delete(server);
  m.set(server, v);
  if (m.size > MAX_SERVERS) m.delete(m.keys().next().value as string);
}

export class ServerMemory {
  readonly boots = new Map<string, number>();
  readonly last = new Map<string, LastFinished>();

  /** A step: an `up` with its boot time teaches it. */
  step(st: ActionStep): void {
    if (st.op === 'up' && st.server && st.ms !== undefined) remember(this.boots, st.server, st.ms);
  }

  /**
   * A finished action. `servers` names the servers it worked on and how each ended (a sequence
   * brings up dependencies it was not asked for by name); without (an older journal, an action
   * interrupted by a crash), it counts for its targets. Notes (ups, config) and outlet actions
   * set no server's last action.
   */
  finished(rec: ActionRecord, servers: Record<string, ServerOutcome> | undefined, steps: readonly ActionStep[] = []): void {
    if (rec.kind === 'ups' || rec.kind === 'config' || rec.outlets || rec.status === 'running') return;
    const { kind, force, status } = rec;
    if (!servers) {
      for (const t of rec.targets) remember(this.last, t, { kind, force, result: status });
      // A crash mid-action left no outcome per server (its finish is written at the next open):
      // every server its steps reached was in the middle of it, and is `interrupted`, unless an
      // on proved it up. An off that had stopped a dependent must not leave it "up" for
      // keep-alive to power back on after the restart.
      if (status === 'interrupted') {
        const up = new Set(steps.filter((st) => st.op === 'up' && st.ok && st.server && (kind === 'on' || kind === 'cycle')).map((st) => st.server!));
        for (const st of steps) if (st.server) remember(this.last, st.server, { kind, force, result: up.has(st.server) ? 'ok' : 'interrupted' });
      }
      return;
    }
    for (const [server, o] of Object.entries(servers)) {
      if (o === 'permanent') remember(this.last, server, { kind, force, result: 'failed', permanent: true });
      else if (RESULTS.has(o)) remember(this.last, server, { kind, force, result: o });
    }
  }

  /**
   * A line a compaction wrote (see lines). The `last` line is the whole map then, and replaces
   * what the compacted records before it taught: a compacted finish line carries no outcome per
   * server and counts for its targets, so a target its action never reached (blocked by a failed
   * dependency) would otherwise come back as failed. (The compacted `up` steps teach the same
   * boot times as the `boots` line.)
   */
  apply(l: MemoryLine): void {
    if (l.t === 'last') this.last.clear();
    if (l.t === 'boots') for (const [server, ms] of Object.entries(l.boots)) if (typeof ms === 'number') remember(this.boots, server, ms);
    if (l.t === 'last')
      for (const [server, last] of Object.entries(l.last))
        // A hand-edited or foreign line must not give a server a state nobody decided.
        if (typeof last?.kind === 'string' && typeof last.force === 'boolean' && RESULTS.has(last.result))
          remember(this.last, server, { kind: last.kind, force: last.force, result: last.result, ...(last.permanent === true && { permanent: true }) });
  }

  /** What a compaction writes last (the `last` line even empty: it replaces what the records before it taught). */
  lines(): MemoryLine[] {
    return [...(this.boots.size > 0 ? [{ t: 'boots' as const, boots: Object.fromEntries(this.boots) }] : []), { t: 'last', last: Object.fromEntries(this.last) }];
  }
}
