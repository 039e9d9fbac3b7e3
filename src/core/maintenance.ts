/**
 * Maintenance: servers an operator has paused. A paused server gets no keep-alive restart and
 * no automatic action (one asked by a plugin: keep-alive, a UPS policy, a timer); operators can
 * still act on it. Kept in the state directory, so a restart or a reload keeps it paused until
 * `ockle resume`.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OckleError } from '../errors.js';

export interface Pause {
  /** Who paused it: `cli:ada`, `web:ada`. */
  readonly by: string;
  readonly at: string;
  readonly reason: string;
}

export const MAINTENANCE_FILE = 'maintenance.json';

export class Maintenance {
  readonly #file: string | null;
  readonly #paused = new Map<string, Pause>();

  /** `stateDir` null: kept in memory only (tests of the parts). */
  constructor(stateDir: string | null) {
    this.#file = stateDir === null ? null : join(stateDir, MAINTENANCE_FILE);
    if (!this.#file) return;
    try {
      const saved = JSON.parse(readFileSync(this.#file, 'utf8')) as { paused?: Record<string, Pause> };
      for (const [name, p] of Object.entries(saved.paused ?? {}))
        if (typeof p?.by === 'string' && typeof p.at === 'string' && typeof p.reason === 'string') this.#paused.set(name, { by: p.by, at: p.at, reason: p.reason });
    } catch {
      // none yet (or unreadable: nothing is paused, which only allows what an operator allowed before)
    }
  }

  get(server: string): Pause | null {
    return this.#paused.get(server) ?? null;
  }
  get paused(): ReadonlyMap<string, Pause> {
    return this.#paused;
  }

  /** Pauses these servers; answers the ones that were not paused before. Written before it answers. */
  pause(servers: readonly string[], by: string, reason: string): string[] {
    const changed = servers.filter((s) => !this.#paused.has(s));
    const p: Pause = { by, at: new Date().toISOString(), reason };
    this.#save(() => {
      for (const s of changed) this.#paused.set(s, p);
    });
    return changed;
  }

  /** Resumes these servers; answers the ones that were paused. */
  resume(servers: readonly string[]): string[] {
    const changed = servers.filter((s) => this.#paused.has(s));
    this.#save(() => {
      for (const s of changed) this.#paused.delete(s);
    });
    return changed;
  }

  /** Applies `change`, writes the file (atomically), and undoes the change if it cannot be written. */
  #save(change: () => void): void {
    const before = new Map(this.#paused);
    change();
    if (!this.#file) return;
    try {
      const tmp = `${this.#file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ paused: Object.fromEntries(this.#paused) }, null, 2) + '\n', { mode: 0o640 });
      renameSync(tmp, this.#file);
    } catch (err) {
      this.#paused.clear();
      for (const [k, v] of before) this.#paused.set(k, v);
      throw new OckleError('OCKLE_STATE_UNWRITABLE', `cannot record the pause in ${this.#file}: ${(err as Error).message}`, {
        hint: 'Free space or fix the permissions of the state directory; nothing was paused or resumed.',
      });
    }
  }
}

/** An automatic action (asked by a plugin: keep-alive, a power policy) never touches a server in maintenance. */
export function refusePaused(req: { readonly origin: string; readonly targets: readonly string[] }, paused: (server: string) => boolean): void {
  if (!req.origin.startsWith('plugin:')) return;
  const held = req.targets.filter((t) => paused(t));
  if (held.length > 0)
    throw new OckleError('OCKLE_SERVER_PAUSED', `${held.join(', ')} ${held.length === 1 ? 'is' : 'are'} paused for maintenance: ${req.origin} may not act on ${held.length === 1 ? 'it' : 'them'}`, {
      hint: `\`ockle resume ${held[0]}\` when the maintenance is over.`,
    });
}
