/**
 * The action journal: every requested power action with who, what, why, each step and the
 * result. Append-only JSON lines under the state directory; `start` and `finish` are synced
 * to disk, so a crash mid-action is visible after the restart (marked `interrupted`).
 */
import { closeSync, fdatasyncSync, openSync, writeSync, renameSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ActionRecord, ActionRequest, ActionStatus, ActionStep } from './model.js';

export const JOURNAL_FILE = 'journal.jsonl';

type Line =
  | { t: 'start'; action: ActionRecord }
  | { t: 'step'; id: string; step: ActionStep }
  | { t: 'finish'; id: string; status: Exclude<ActionStatus, 'running'>; error?: { code: string; message: string }; at: string };

export interface JournalOptions {
  readonly now?: () => Date;
  readonly maxInMemory?: number;
  readonly maxFileBytes?: number;
}

export class ActionJournal {
  readonly #file: string;
  readonly #now: () => Date;
  readonly #max: number;
  readonly #maxBytes: number;
  /** Record without its steps, plus the steps (appended in place: an action may have thousands). */
  readonly #actions = new Map<string, { rec: ActionRecord; steps: ActionStep[]; snapshot: ActionRecord | null }>();
  #fd: number;
  #bytes: number;
  readonly #pending: string[] = [];
  #flushSoon: NodeJS.Immediate | null = null;
  #lastId = '';
  /** Actions found unfinished on open (the previous process died mid-action); now `interrupted`. */
  readonly interruptedOnOpen: readonly ActionRecord[];
  /** Lines that could not be parsed on open (a torn write at power loss). */
  readonly corruptLines: number;

  private constructor(file: string, o: JournalOptions, lines: string[]) {
    this.#file = file;
    this.#now = o.now ?? (() => new Date());
    this.#max = o.maxInMemory ?? 2000;
    this.#maxBytes = o.maxFileBytes ?? 8 * 1024 * 1024;
    let corrupt = 0;
    for (const raw of lines) {
      if (raw.trim() === '') continue;
      try {
        this.#apply(JSON.parse(raw) as Line);
      } catch {
        corrupt++;
      }
    }
    this.corruptLines = corrupt;
    this.#fd = openSync(file, 'a', 0o640);
    this.#bytes = statSync(file).size;
    const unfinished = [...this.#actions.values()].map((a) => this.#view(a)).filter((a) => a.status === 'running');
    this.interruptedOnOpen = unfinished.map((a) =>
      this.finish(a.id, 'interrupted', { code: 'OCKLE_OPERATION_ABORTED', message: 'daemon stopped before the action finished' }),
    );
    for (const id of this.#actions.keys()) if (id > this.#lastId) this.#lastId = id;
  }

  static async open(stateDir: string, o: JournalOptions = {}): Promise<ActionJournal> {
    await mkdir(stateDir, { recursive: true, mode: 0o750 });
    const file = join(stateDir, JOURNAL_FILE);
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return new ActionJournal(file, o, text.split('\n'));
  }

  #apply(l: Line): void {
    if (l.t === 'start') {
      this.#actions.set(l.action.id, { rec: l.action, steps: [...l.action.steps], snapshot: null });
      this.#trim();
      return;
    }
    const a = this.#actions.get(l.id);
    if (!a) return;
    if (l.t === 'step') a.steps.push(Object.freeze(l.step));
    else a.rec = { ...a.rec, status: l.status, finishedAt: l.at, ...(l.error && { error: Object.freeze(l.error) }) };
    a.snapshot = null;
  }

  /** A frozen snapshot; a new object after every change, so holders of old ones are never mutated. */
  #view(a: { rec: ActionRecord; steps: ActionStep[]; snapshot: ActionRecord | null }): ActionRecord {
    a.snapshot ??= Object.freeze({ ...a.rec, steps: Object.freeze(a.steps.slice()) });
    return a.snapshot;
  }

  #trim(): void {
    while (this.#actions.size > this.#max) {
      const oldest = this.#actions.keys().next().value as string;
      this.#actions.delete(oldest);
    }
  }

  /**
   * Steps are written together once per turn of the event loop (a sequence of a thousand servers
   * makes thousands of them, and one write each was its largest CPU cost). Start and finish
   * lines flush what is pending first and are fdatasync'ed, so the file keeps its order; a crash
   * loses at most the steps of the current turn, and the action then reads as interrupted.
   */
  #append(l: Line, sync: boolean): void {
    const text = JSON.stringify(l) + '\n';
    this.#apply(l);
    if (!sync) {
      this.#pending.push(text);
      this.#flushSoon ??= setImmediate(() => this.#flush());
      return;
    }
    this.#flush();
    this.#bytes += writeSync(this.#fd, text);
    fdatasyncSync(this.#fd);
    if (this.#bytes > this.#maxBytes && l.t === 'finish') this.#compact();
  }

  #flush(): void {
    if (this.#flushSoon) clearImmediate(this.#flushSoon);
    this.#flushSoon = null;
    if (this.#pending.length === 0 || this.#fd < 0) return;
    const text = this.#pending.join('');
    this.#pending.length = 0;
    this.#bytes += writeSync(this.#fd, text);
  }

  /** Rewrites the file with the actions held in memory (atomic rename). */
  #compact(): void {
    const tmp = `${this.#file}.tmp`;
    const fd = openSync(tmp, 'w', 0o640);
    for (const a of [...this.#actions.values()].map((x) => this.#view(x))) {
      writeSync(fd, JSON.stringify({ t: 'start', action: { ...a, status: 'running', steps: a.steps } } satisfies Line) + '\n');
      if (a.status !== 'running')
        writeSync(
          fd,
          JSON.stringify({ t: 'finish', id: a.id, status: a.status, at: a.finishedAt ?? a.requestedAt, ...(a.error && { error: a.error }) }) +
            '\n',
        );
    }
    fdatasyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.#file);
    closeSync(this.#fd);
    this.#fd = openSync(this.#file, 'a', 0o640);
    this.#bytes = statSync(this.#file).size;
  }

  /** A short id, sortable by time, unique across restarts: `a` + base36 ms + 2-char counter. */
  #newId(): string {
    const base = `a${this.#now().getTime().toString(36)}`;
    for (let n = 0; ; n++) {
      const id = `${base}${n.toString(36).padStart(2, '0')}`;
      if (id > this.#lastId) return (this.#lastId = id);
    }
  }

  start(req: ActionRequest): ActionRecord {
    const action: ActionRecord = {
      id: this.#newId(),
      kind: req.kind,
      targets: [...req.targets],
      force: req.force,
      origin: req.origin,
      reason: req.reason,
      requestedAt: this.#now().toISOString(),
      status: 'running',
      steps: [],
    };
    this.#append({ t: 'start', action }, true);
    return this.#view(this.#actions.get(action.id)!);
  }

  step(id: string, step: Omit<ActionStep, 'at'>): ActionStep {
    const full: ActionStep = { at: this.#now().toISOString(), ...step };
    if (this.#actions.has(id)) this.#append({ t: 'step', id, step: full }, false);
    return full;
  }

  finish(id: string, status: Exclude<ActionStatus, 'running'>, error?: { code: string; message: string }): ActionRecord {
    this.#append({ t: 'finish', id, status, at: this.#now().toISOString(), ...(error && { error }) }, true);
    return this.#view(this.#actions.get(id)!);
  }

  get(id: string): ActionRecord | undefined {
    const a = this.#actions.get(id);
    return a && this.#view(a);
  }

  /** Newest first. */
  list(q: { limit?: number; server?: string; status?: ActionStatus } = {}): ActionRecord[] {
    const out: ActionRecord[] = [];
    const all = [...this.#actions.values()];
    for (let i = all.length - 1; i >= 0 && out.length < (q.limit ?? 100); i--) {
      const a = all[i]!.rec;
      if (q.server && !a.targets.includes(q.server)) continue;
      if (q.status && a.status !== q.status) continue;
      out.push(this.#view(all[i]!));
    }
    return out;
  }

  running(): ActionRecord[] {
    return [...this.#actions.values()].filter((a) => a.rec.status === 'running').map((a) => this.#view(a));
  }

  async close(): Promise<void> {
    this.#flush();
    if (this.#fd >= 0) {
      closeSync(this.#fd);
      this.#fd = -1;
    }
  }
}
