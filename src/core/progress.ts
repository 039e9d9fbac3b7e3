/**
 * Progress of one sequenced action, kept incrementally from the sequencer's marks (O(1) per mark
 * apart from the wave bookkeeping), so a thousand-server sequence does not re-read its journal.
 */
import type { ActionKind, ActionProgress } from './model.js';
import type { ServerMark } from './sequence.js';
import { waveOf } from './plan.js';

export class ProgressTracker {
  readonly #wave: ReadonlyMap<string, number>;
  /** Per wave: servers not done yet. */
  readonly #left: number[] = [];
  readonly #active = new Set<string>();
  readonly #done = new Set<string>();
  #current = 0;

  /**
   * @param servers the action's servers, in sequence order (predecessors first)
   * @param before a server's predecessors in this action (on: dependencies, off: dependents)
   */
  constructor(
    readonly actionId: string,
    readonly kind: ActionKind,
    servers: readonly string[],
    before: (server: string) => readonly string[],
  ) {
    this.#wave = waveOf(servers, before);
    for (const w of this.#wave.values()) this.#left[w] = (this.#left[w] ?? 0) + 1;
  }

  get total(): number {
    return this.#wave.size;
  }

  /** What the mark means for the action, or null when it is not one of its servers or no news. */
  mark(server: string, m: ServerMark): ActionProgress | null {
    const w = this.#wave.get(server);
    if (w === undefined || this.#done.has(server)) return null;
    let event: ActionProgress['event'];
    if (m.phase === 'running') {
      if (this.#active.has(server)) return null;
      this.#active.add(server);
      event = 'started';
    } else if (m.phase === 'blocked') {
      event = 'blocked';
    } else if (m.result === 'ok') {
      event = 'done';
    } else if (m.result === 'cancelled') {
      event = 'cancelled';
    } else if (m.permanent || m.kind !== 'on') {
      // A power-off is not retried: its failure is final. A power-on gives up after max_attempts.
      event = 'gave-up';
    } else {
      // A failed attempt that will be retried: still active.
      return this.#report(server, w, 'failed');
    }
    if (event !== 'started') {
      this.#active.delete(server);
      this.#done.add(server);
      this.#left[w]!--;
      while (this.#current < this.#left.length && this.#left[this.#current] === 0) this.#current++;
    }
    return this.#report(server, w, event);
  }

  #report(server: string, w: number, event: ActionProgress['event']): ActionProgress {
    const total = this.total;
    return {
      actionId: this.actionId,
      kind: this.kind,
      server,
      event,
      wave: w + 1,
      waves: this.#left.length,
      currentWave: Math.min(this.#current + 1, this.#left.length),
      done: this.#done.size,
      total,
      percent: total === 0 ? 100 : Math.round((this.#done.size / total) * 100),
      active: [...this.#active],
    };
  }
}
