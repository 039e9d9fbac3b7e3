/**
 * The action journal: every requested power action with who, what, why, each step and the
 * result. Append-only JSON lines under the state directory; `start` and `finish` are synced
 * to disk, so a crash mid-action is visible after the restart (marked `interrupted`).
 *
 * Under fault: an action exists only once its start record is on disk (written whole and
 * synced), so a full disk refuses new actions with OCKLE_JOURNAL_UNWRITABLE instead of losing
 * one; a record that cannot be written whole is cut off again, never left torn; steps and
 * finishes that cannot be written yet are kept and written as soon as the disk takes them,
 * and nothing here ever throws from a timer. A torn last line found on open (power lost
 * mid-write) is cut off and reported. Ids never depend on the wall clock going forwards.
 */
import { closeSync, fdatasyncSync, ftruncateSync, openSync, writeSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { mkdir, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { OckleError } from '../errors.js';
import type { ActionRecord, ActionRequest, ActionStatus, ActionStep } from './model.js';

export const JOURNAL_FILE = 'journal.jsonl';

type Line =
  | { t: 'start'; action: ActionRecord }
  | { t: 'step'; id: string; step: ActionStep }
  | { t: 'finish'; id: string; status: Exclude<ActionStatus, 'running'>; error?: { code: string; message: string }; at: string };

export interface JournalOptions {
  readonly now?: () => Date;
  /** Told when writing starts failing (with the error) and when it works again (null). */
  readonly onTrouble?: (message: string, err: OckleError | null) => void;
  /** Actions held in memory (and in the file after a compaction), at most. */
  readonly maxInMemory?: number;
  /**
   * The file is compacted when it grows past this; what is held (in memory, and written by the
   * compaction) is kept to half of it, so the file grows by half of it between compactions.
   */
  readonly maxFileBytes?: number;
}

/** One action as held: the record without its steps, its steps, and the size of its lines. */
interface Held {
  rec: ActionRecord;
  steps: ActionStep[];
  snapshot: ActionRecord | null;
  /** Characters of its journal lines (start, steps, finish): what it costs to hold and to rewrite. */
  bytes: number;
}

export class ActionJournal {
  readonly #file: string;
  readonly #now: () => Date;
  readonly #max: number;
  readonly #maxBytes: number;
  /** Record without its steps, plus the steps (appended in place: an action may have thousands). */
  readonly #actions = new Map<string, Held>();
  /** The sum of #actions' bytes, kept at most #keepBytes by #trim (running and newest aside). */
  #heldBytes = 0;
  readonly #keepBytes: number;
  /** The file size past which the next finish compacts it. */
  #compactAt: number;
  #fd: number;
  #bytes: number;
  readonly #pending: string[] = [];
  #flushSoon: NodeJS.Immediate | null = null;
  /** Time and counter of the newest id (ids grow even when the clock steps back). */
  #lastT = 0;
  #lastN = -1;
  /** Why the journal cannot write now (null: it can); new actions are refused meanwhile. */
  #unwritable: OckleError | null = null;
  #retry: NodeJS.Timeout | null = null;
  readonly #onTrouble: (message: string, err: OckleError | null) => void;
  /** What was repaired on open, in words (a torn last record cut off), for the log and `ockle actions`. */
  readonly repairs: readonly string[];
  /** Actions found unfinished on open (the previous process died mid-action); now `interrupted`. */
  readonly interruptedOnOpen: readonly ActionRecord[];
  /** Lines that could not be parsed on open (a torn write at power loss). */
  readonly corruptLines: number;

  private constructor(file: string, o: JournalOptions, lines: string[], repairs: string[]) {
    this.#file = file;
    this.repairs = repairs;
    this.#onTrouble = o.onTrouble ?? (() => {});
    this.#now = o.now ?? (() => new Date());
    this.#max = o.maxInMemory ?? 2000;
    this.#maxBytes = o.maxFileBytes ?? 8 * 1024 * 1024;
    this.#keepBytes = Math.floor(this.#maxBytes / 2);
    this.#compactAt = this.#maxBytes;
    let corrupt = 0;
    for (const raw of lines) {
      if (raw.trim() === '') continue;
      try {
        this.#apply(JSON.parse(raw) as Line, raw.length + 1);
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
    for (const id of this.#actions.keys()) this.#seeId(id);
  }

  /** Makes later ids sort after `id` (the newest may come from a clock that was ahead). */
  #seeId(id: string): void {
    const m = /^a([0-9a-z]+)([0-9a-z]{2})$/.exec(id);
    if (!m) return;
    const t = parseInt(m[1]!, 36);
    const n = parseInt(m[2]!, 36);
    if (t > this.#lastT || (t === this.#lastT && n > this.#lastN)) {
      this.#lastT = t;
      this.#lastN = n;
    }
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
    // A last line without its newline was torn by a crash or power loss mid-write. The next
    // record would be glued onto it (and lost with it): cut it off, and say whose it was.
    const repairs: string[] = [];
    if (text.length > 0 && !text.endsWith('\n')) {
      const keep = text.lastIndexOf('\n') + 1;
      const torn = text.slice(keep);
      const bytes = Buffer.byteLength(torn);
      const id = /"(?:id|action":\{"id)":"(a[0-9a-z]+)"/.exec(torn)?.[1];
      await truncate(file, Buffer.byteLength(text.slice(0, keep)));
      text = text.slice(0, keep);
      repairs.push(`the journal's last record was torn (a crash or power loss while it was written): ${bytes} bytes dropped${id ? `, of action ${id}` : ''}`);
    }
    return new ActionJournal(file, o, text.split('\n'), repairs);
  }

  /** `size`: the characters of the line (what holding it costs, roughly). */
  #apply(l: Line, size: number): void {
    if (l.t === 'start') {
      if (this.#actions.has(l.action.id)) return;
      // The record holds no steps of its own (a compacted start line carries them): they are
      // held once, in `steps`, and a trim frees them.
      const rec = l.action.steps.length > 0 ? { ...l.action, steps: [] } : l.action;
      this.#actions.set(l.action.id, { rec, steps: [...l.action.steps], snapshot: null, bytes: size });
      this.#heldBytes += size;
      // Only the count here: a start is on the way to the action's first write, and the size
      // is brought down when an action finishes (what it frees, it frees then).
      while (this.#actions.size > this.#max) this.#drop(this.#actions.keys().next().value as string);
      return;
    }
    const a = this.#actions.get(l.id);
    if (!a) return;
    a.bytes += size;
    this.#heldBytes += size;
    a.snapshot = null;
    if (l.t === 'step') {
      a.steps.push(Object.freeze(l.step));
      return;
    }
    a.rec = { ...a.rec, status: l.status, finishedAt: l.at, ...(l.error && { error: Object.freeze(l.error) }) };
    this.#lastFinished = l.id;
    this.#trim();
  }

  /** A frozen snapshot; a new object after every change, so holders of old ones are never mutated. */
  #view(a: Held): ActionRecord {
    a.snapshot ??= Object.freeze({ ...a.rec, steps: Object.freeze(a.steps.slice()) });
    return a.snapshot;
  }

  /**
   * At each finish, keeps what is held within #keepBytes characters (the count, maxInMemory, is
   * kept at each start). A sequence of a thousand servers journals ~600 kB of steps: held by
   * count alone, a lab that large filled memory without bound, and every finish rewrote the
   * whole file once it passed maxFileBytes.
   * Over the size, the oldest finished actions lose their steps first (their records stay, with
   * the failed steps and the boot times learned from them, and say how many were dropped); then,
   * still over, whole oldest records go. Running actions, the newest and the last to finish are
   * never touched: the action just asked for, or just ended, is always shown whole.
   */
  #trim(): void {
    if (this.#heldBytes <= this.#keepBytes) return;
    const newest = [...this.#actions.keys()].at(-1);
    const kept = (id: string, a: Held): boolean => id === newest || id === this.#lastFinished || a.rec.status === 'running';
    for (const [id, a] of this.#actions) {
      if (this.#heldBytes <= this.#keepBytes) return;
      if (!kept(id, a) && a.rec.stepsDropped === undefined) this.#dropSteps(a);
    }
    for (const [id, a] of this.#actions) {
      if (this.#heldBytes <= this.#keepBytes) return;
      if (!kept(id, a)) this.#drop(id);
    }
  }
  #lastFinished: string | null = null;

  #drop(id: string): void {
    this.#heldBytes -= this.#actions.get(id)?.bytes ?? 0;
    this.#actions.delete(id);
  }

  /** An old action keeps its record, its failed steps and its learned boot times (op `up` with ms). */
  #dropSteps(a: Held): void {
    const kept = a.steps.filter((st) => !st.ok || (st.op === 'up' && st.ms !== undefined));
    a.rec = { ...a.rec, stepsDropped: a.steps.length - kept.length };
    a.steps = kept;
    a.snapshot = null;
    // What its lines will take once rewritten: the record, the kept steps, a finish line.
    const bytes = JSON.stringify(a.rec).length + JSON.stringify(kept).length + kept.length * (a.rec.id.length + 24) + 120;
    this.#heldBytes += bytes - a.bytes;
    a.bytes = bytes;
  }

  /**
   * Steps are written together once per turn of the event loop (a sequence of a thousand servers
   * makes thousands of them, and one write each was its largest CPU cost). Start and finish
   * lines flush what is pending first and are fdatasync'ed, so the file keeps its order; a crash
   * loses at most the steps of the current turn, and the action then reads as interrupted.
   *
   * A start is written before it exists in memory: if it cannot be written, it throws and
   * nothing happened. A step or a finish of an action already under way is kept in memory and
   * in order, and written as soon as the disk takes it again.
   */
  #append(l: Line, sync: boolean): void {
    // A step's line is written around its step: the same text as
    // JSON.stringify of the whole line, without encoding a wrapper object per step.
    const text = l.t === 'step' ? `{"t":"step","id":${JSON.stringify(l.id)},"step":${JSON.stringify(l.step)}}\n` : JSON.stringify(l) + '\n';
    if (l.t === 'start') {
      this.#flush();
      if (this.#pending.length > 0) throw this.#unwritable ?? new OckleError('OCKLE_JOURNAL_UNWRITABLE', 'the journal is closed');
      this.#writeWhole(text, true);
      this.#apply(l, text.length);
      return;
    }
    this.#apply(l, text.length);
    this.#pending.push(text);
    if (!sync) {
      this.#flushSoon ??= setImmediate(() => this.#flush());
      return;
    }
    this.#flush(true);
    if (this.#pending.length === 0 && this.#bytes > this.#compactAt && l.t === 'finish') {
      try {
        this.#compact();
        // What is held is at most half of maxFileBytes, but a running or newest action may be
        // larger: never compact again before the file has doubled, so a rewrite stays amortized.
        this.#compactAt = Math.max(this.#maxBytes, 2 * this.#bytes);
      } catch {
        // The file as it was is whole, and records as before: nothing is refused for this. The
        // disk is full or failing; it is tried again once the file has grown by a quarter more.
        this.#compactAt = this.#bytes + Math.floor(this.#maxBytes / 4);
      }
    }
  }

  /**
   * Writes `text` whole at the end of the file (a short write goes on where it stopped). On
   * failure the file is cut back to where it was, so no torn record is left, and it throws.
   */
  #writeWhole(text: string, sync: boolean): void {
    if (this.#fd < 0) throw new OckleError('OCKLE_JOURNAL_UNWRITABLE', 'the journal is closed');
    const buf = Buffer.from(text);
    const before = this.#bytes;
    try {
      for (let off = 0; off < buf.length; ) off += writeSync(this.#fd, buf, off, buf.length - off);
      if (sync) fdatasyncSync(this.#fd);
      this.#bytes = before + buf.length;
      this.#recovered();
    } catch (err) {
      try {
        ftruncateSync(this.#fd, before);
      } catch {
        // nothing more can be done here; the torn tail is cut off at the next open
      }
      throw this.#trouble(err);
    }
  }

  /** Writes what is pending; never throws (it runs from a timer too). */
  #flush(sync = false): void {
    if (this.#flushSoon) clearImmediate(this.#flushSoon);
    this.#flushSoon = null;
    if (this.#pending.length === 0 || this.#fd < 0) return;
    try {
      this.#writeWhole(this.#pending.join(''), sync);
      this.#pending.length = 0;
    } catch {
      // kept in #pending, in order; retried (see #trouble)
    }
  }

  #trouble(err: unknown): OckleError {
    const code = (err as NodeJS.ErrnoException).code;
    const dir = this.#file.replace(/\/[^/]*$/, '');
    const why = code === 'ENOSPC' ? `no space left on ${dir}` : code === 'EDQUOT' ? `disk quota exceeded on ${dir}` : `${(err as Error).message}`;
    const e = new OckleError('OCKLE_JOURNAL_UNWRITABLE', `cannot record actions: ${why}`, {
      hint: `Free space in ${dir} (the state directory); ockle records actions again as soon as it can write, without a restart.`,
      cause: err,
    });
    if (!this.#unwritable) this.#onTrouble(e.message, e);
    this.#unwritable = e;
    // Keep trying: pending steps and finishes reach the disk once it has room again.
    this.#retry ??= setTimeout(() => {
      this.#retry = null;
      if (this.#pending.length > 0) this.#flush(true);
      else this.#probeWritable();
    }, 1000);
    this.#retry.unref();
    return e;
  }

  /** With nothing pending, whether the file takes a byte again (then cut back). */
  #probeWritable(): void {
    try {
      writeSync(this.#fd, '\n');
      ftruncateSync(this.#fd, this.#bytes);
      this.#recovered();
    } catch (err) {
      this.#trouble(err);
    }
  }

  #recovered(): void {
    if (!this.#unwritable) return;
    this.#unwritable = null;
    this.#onTrouble('the journal can be written again: actions are accepted', null);
  }

  /** Why actions cannot be recorded now, or null. */
  get unwritable(): OckleError | null {
    return this.#unwritable;
  }

  /** Rewrites the file with the actions held in memory (atomic rename). */
  #compact(): void {
    const tmp = `${this.#file}.tmp`;
    const lines: string[] = [];
    for (const a of [...this.#actions.values()].map((x) => this.#view(x))) {
      lines.push(JSON.stringify({ t: 'start', action: { ...a, status: 'running', steps: a.steps } } satisfies Line) + '\n');
      if (a.status !== 'running')
        lines.push(JSON.stringify({ t: 'finish', id: a.id, status: a.status, at: a.finishedAt ?? a.requestedAt, ...(a.error && { error: a.error }) }) + '\n');
    }
    const buf = Buffer.from(lines.join(''));
    const fd = openSync(tmp, 'w', 0o640);
    try {
      // Whole or not at all: a short write (the disk filling up) goes on where it stopped, and
      // a failure leaves the journal as it was, without the partial copy taking the space.
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
      fdatasyncSync(fd);
    } catch (err) {
      closeSync(fd);
      try {
        unlinkSync(tmp);
      } catch {
        // gone already, or the directory refuses: the next compaction opens it with 'w' again
      }
      throw err;
    }
    closeSync(fd);
    renameSync(tmp, this.#file);
    closeSync(this.#fd);
    this.#fd = openSync(this.#file, 'a', 0o640);
    this.#bytes = statSync(this.#file).size;
  }

  /**
   * A short id, sortable, unique across restarts: `a` + base36 ms + 2-char counter. The time
   * part never goes back: with the clock stepped back (a Pi after a power cut: fake-hwclock,
   * then NTP) or a newest id from a clock that was ahead, ids go on from the newest one.
   */
  #newId(): string {
    let t = Math.max(this.#now().getTime(), this.#lastT);
    let n = t === this.#lastT ? this.#lastN + 1 : 0;
    if (n >= 36 * 36) {
      t++;
      n = 0;
    }
    this.#lastT = t;
    this.#lastN = n;
    return `a${t.toString(36)}${n.toString(36).padStart(2, '0')}`;
  }

  start(req: ActionRequest): ActionRecord {
    if (this.#unwritable) {
      // Try once more now (space may be back); refuse if it still cannot write.
      if (this.#pending.length > 0) this.#flush(true);
      else this.#probeWritable();
      if (this.#unwritable) throw this.#unwritable;
    }
    const action: ActionRecord = {
      id: this.#newId(),
      kind: req.kind,
      targets: [...req.targets],
      ...(req.outlets && { outlets: req.outlets.map((o) => ({ device: o.device, outlet: o.outlet })) }),
      ...(req.event && { event: { ...req.event, ...(req.event.wasOn && { wasOn: [...req.event.wasOn] }) } }),
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
    const full: ActionStep = { at: this.#iso(), ...step };
    if (this.#actions.has(id)) this.#append({ t: 'step', id, step: full }, false);
    return full;
  }

  /** Now, as ISO text; a sequence journals dozens of steps per millisecond, so it is kept per millisecond. */
  #iso(): string {
    const d = this.#now();
    const t = d.getTime();
    if (t !== this.#isoAt) {
      this.#isoAt = t;
      this.#isoText = d.toISOString();
    }
    return this.#isoText;
  }
  #isoAt = NaN;
  #isoText = '';

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
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#flush(true);
    if (this.#fd >= 0) {
      closeSync(this.#fd);
      this.#fd = -1;
    }
  }
}
