/**
 * The action journal: every requested power action with who, what, why, each step and the
 * result. Append-only JSON lines under the state directory; `start` and `finish` are synced
 * to disk, so a crash mid-action is visible after the restart (marked `interrupted`).
 *
 * Under fault: an action exists only once its start record is on disk (written whole and
 * synced), so a full disk refuses new actions with OCKLE_JOURNAL_UNWRITABLE instead of losing
 * one; how records reach the disk, and what happens when it refuses them, is
 * src/core/journal-file.ts. Ids never depend on the wall clock going forwards.
 */
import { join } from 'node:path';
import type { OckleError } from '../errors.js';
import { JournalFile } from './journal-file.js';
import type { ActionRecord, ActionRequest, ActionStatus, ActionStep } from './model.js';
import { ServerMemory, type LastFinished, type MemoryLine, type ServerOutcome } from './server-memory.js';

export const JOURNAL_FILE = 'journal.jsonl';

type Line =
  | { t: 'start'; action: ActionRecord }
  | { t: 'step'; id: string; step: ActionStep }
  | { t: 'finish'; id: string; status: Exclude<ActionStatus, 'running'>; error?: { code: string; message: string }; at: string; servers?: Record<string, ServerOutcome> }
  /** Written last by a compaction (src/core/server-memory.ts). */
  | MemoryLine;

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
  /** Characters of each step's line, beside `steps` (a compacted start line's share for its steps). */
  stepBytes: number[];
}

export class ActionJournal {
  readonly #file: JournalFile;
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
  /** Time and counter of the newest id (ids grow even when the clock steps back). */
  #lastT = 0;
  #lastN = -1;
  /** What was repaired on open, in words (a torn last record cut off), for the log and `ockle actions`. */
  readonly repairs: readonly string[];
  /** Actions found unfinished on open (the previous process died mid-action); now `interrupted`. */
  readonly interruptedOnOpen: readonly ActionRecord[];
  /** Lines that could not be parsed on open (a torn write at power loss). */
  readonly corruptLines: number;

  private constructor(file: string, o: JournalOptions, lines: string[], repairs: string[]) {
    this.repairs = repairs;
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
    this.#file = new JournalFile(file, o.onTrouble ?? (() => {}));
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
    const file = join(stateDir, JOURNAL_FILE);
    const { lines, repairs } = await JournalFile.read(stateDir, file);
    return new ActionJournal(file, o, lines, repairs);
  }

  /** `size`: the characters of the line (what holding it costs, roughly). */
  #apply(l: Line, size: number): void {
    if (l.t === 'boots' || l.t === 'last') {
      this.#memory.apply(l);
      return;
    }
    if (l.t === 'start') {
      if (this.#actions.has(l.action.id)) return;
      for (const st of l.action.steps) this.#memory.step(st);
      // The record holds no steps of its own (a compacted start line carries them): they are
      // held once, in `steps`, and a trim frees them.
      const rec = l.action.steps.length > 0 ? { ...l.action, steps: [] } : l.action;
      const share = Math.round(size / (l.action.steps.length + 1));
      this.#actions.set(l.action.id, { rec, steps: [...l.action.steps], snapshot: null, bytes: size, stepBytes: l.action.steps.map(() => share) });
      this.#heldBytes += size;
      const ev = l.action.event;
      if (ev?.stage === 'start') this.#openEvents.set(ev.source, ev.id);
      else if (ev?.stage === 'end' && this.#openEvents.get(ev.source) === ev.id) this.#openEvents.delete(ev.source);
      // Only the count here: a start is on the way to the action's first write, and the size
      // is brought down when an action finishes (what it frees, it frees then).
      if (this.#actions.size > this.#max)
        for (const [id, a] of this.#actions) {
          if (this.#actions.size <= this.#max) break;
          if (!this.#pinned(a)) this.#drop(id);
        }
      return;
    }
    const a = this.#actions.get(l.id);
    if (!a) return;
    a.bytes += size;
    this.#heldBytes += size;
    a.snapshot = null;
    if (l.t === 'step') {
      a.steps.push(Object.freeze(l.step));
      a.stepBytes.push(size);
      this.#memory.step(l.step);
      return;
    }
    a.rec = { ...a.rec, status: l.status, finishedAt: l.at, ...(l.error && { error: Object.freeze(l.error) }) };
    this.#memory.finished(a.rec, l.servers, a.steps);
    this.#lastFinished = l.id;
    this.#trim();
  }

  /**
   * Whether a record belongs to the open power event of its source (a UPS): the journal is that
   * event's memory, and a daemon restarted mid-event rebuilds it from these records (which
   * stages ran, what was on before the cut). However busy the lab is meanwhile, they are never
   * dropped, by count or by size, until the event's end is journaled; only the newest event of
   * each source is held so (an event whose source left the configuration is not kept forever).
   */
  #pinned(a: Held): boolean {
    const ev = a.rec.event;
    return ev !== undefined && this.#openEvents.get(ev.source) === ev.id;
  }
  /** Source → id of its newest power event that has not ended. */
  readonly #openEvents = new Map<string, string>();

  /** Each server's learned boot time and last finished action, apart from the records (src/core/server-memory.ts). */
  readonly #memory = new ServerMemory();
  /** Each server's last finished action (see ServerMemory). */
  lastActions(): ReadonlyMap<string, LastFinished> {
    return this.#memory.last;
  }

  /** Boot times learned so far, per server (see ServerMemory). */
  learnedBoots(): ReadonlyMap<string, number> {
    return this.#memory.boots;
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
    const kept = (id: string, a: Held): boolean => id === newest || id === this.#lastFinished || a.rec.status === 'running' || this.#pinned(a);
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
    const kept: ActionStep[] = [];
    const keptBytes: number[] = [];
    let stepsBytes = 0;
    a.steps.forEach((st, i) => {
      if (st.ok && !(st.op === 'up' && st.ms !== undefined)) return;
      kept.push(st);
      keptBytes.push(a.stepBytes[i]!);
      stepsBytes += a.stepBytes[i]!;
    });
    a.rec = { ...a.rec, stepsDropped: a.steps.length - kept.length };
    a.steps = kept;
    a.stepBytes = keptBytes;
    a.snapshot = null;
    // What its lines will take once rewritten: the record, the kept steps (their lines' sizes,
    // counted as they came: stringifying a thousand kept steps again cost ~1 ms of a finish), a
    // finish line.
    const bytes = JSON.stringify(a.rec).length + stepsBytes + 120;
    this.#heldBytes += bytes - a.bytes;
    a.bytes = bytes;
  }

  /**
   * Writes a line (see JournalFile). A start is written before it exists in memory: if it
   * cannot be written, it throws and nothing happened. A step or a finish of an action already
   * under way is kept in memory and in order, and written as soon as the disk takes it again;
   * steps once per turn, a finish synced.
   */
  #append(l: Line, sync: boolean): void {
    // A step's line is written around its step: the same text as
    // JSON.stringify of the whole line, without encoding a wrapper object per step.
    const text = l.t === 'step' ? `{"t":"step","id":${JSON.stringify(l.id)},"step":${JSON.stringify(l.step)}}\n` : JSON.stringify(l) + '\n';
    if (l.t === 'start') {
      this.#file.writeNow(text);
      this.#apply(l, text.length);
      return;
    }
    this.#apply(l, text.length);
    this.#file.queue(text, sync);
    if (sync && l.t === 'finish' && !this.#file.pending && !this.#file.rewriting && this.#file.bytes > this.#compactAt) this.#compact();
  }

  /**
   * Rewrites the file with the actions held in memory now, in the background (see
   * JournalFile.rewriteSoon): the finish that triggered it, and everything after, go on at once.
   */
  #compact(): void {
    const views = [...this.#actions.values()].map((x) => this.#view(x));
    const memory = this.#memory.lines();
    this.#compacting = this.#file.rewriteSoon(compactedLines(views, memory)).then((ok) => {
      // What is held is at most half of maxFileBytes, but a running or newest action may be
      // larger: never compact again before the file has doubled, so a rewrite stays amortized.
      // Refused (the disk is full or failing): the file as it was is whole, and records as
      // before; nothing is refused for this. Tried again once it has grown by a quarter more.
      this.#compactAt = ok ? Math.max(this.#maxBytes, 2 * this.#file.bytes) : this.#file.bytes + Math.floor(this.#maxBytes / 4);
    });
  }
  #compacting: Promise<void> = Promise.resolve();

  /** Resolves once a compaction under way has replaced the file (or given up). */
  compacted(): Promise<void> {
    return this.#compacting;
  }

  /** Why actions cannot be recorded now, or null; new actions are refused meanwhile. */
  get unwritable(): OckleError | null {
    return this.#file.unwritable;
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
    // Cannot write: tried once more now (space may be back), refused if it still cannot.
    const why = this.#file.retryNow();
    if (why) throw why;
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

  /** `servers`: the servers the action worked on and how each ended (see ServerMemory); without, its targets. */
  finish(id: string, status: Exclude<ActionStatus, 'running'>, error?: { code: string; message: string }, servers?: Record<string, ServerOutcome>): ActionRecord {
    this.#append({ t: 'finish', id, status, at: this.#now().toISOString(), ...(error && { error }), ...(servers && { servers }) }, true);
    return this.#view(this.#actions.get(id)!);
  }

  get(id: string): ActionRecord | undefined {
    const a = this.#actions.get(id);
    return a && this.#view(a);
  }

  /** Newest first. */
  list(q: { limit?: number; server?: string; status?: ActionStatus; source?: string } = {}): ActionRecord[] {
    const out: ActionRecord[] = [];
    const all = [...this.#actions.values()];
    for (let i = all.length - 1; i >= 0 && out.length < (q.limit ?? 100); i--) {
      const a = all[i]!.rec;
      if (q.server && !a.targets.includes(q.server)) continue;
      if (q.status && a.status !== q.status) continue;
      if (q.source && a.event?.source !== q.source) continue;
      out.push(this.#view(all[i]!));
    }
    return out;
  }

  running(): ActionRecord[] {
    return [...this.#actions.values()].filter((a) => a.rec.status === 'running').map((a) => this.#view(a));
  }

  async close(): Promise<void> {
    await this.#file.close();
  }
}

/**
 * The lines of a compacted journal, a piece at a time (JournalFile.rewriteSoon takes them
 * between writes): each action as one start line with its steps (a running one without its
 * finish), and what ServerMemory writes last. The steps of a large action (a sequence of a
 * thousand servers journals ~3000) are stringified 500 at a time, so that no piece holds the
 * event loop for long.
 */
function* compactedLines(views: readonly ActionRecord[], memory: readonly MemoryLine[]): Generator<string> {
  for (const a of views) {
    const { steps, ...rec } = a;
    // The same line as JSON.stringify({ t: 'start', action: { ...a, status: 'running' } }), steps last.
    const head = JSON.stringify({ ...rec, status: 'running' });
    yield `{"t":"start","action":${head.slice(0, -1)},"steps":[`;
    for (let i = 0; i < steps.length; i += 500) yield (i > 0 ? ',' : '') + steps.slice(i, i + 500).map((st) => JSON.stringify(st)).join(',');
    yield ']}}\n';
    if (a.status !== 'running') yield JSON.stringify({ t: 'finish', id: a.id, status: a.status, at: a.finishedAt ?? a.requestedAt, ...(a.error && { error: a.error }) }) + '\n';
  }
  for (const l of memory) yield JSON.stringify(l) + '\n';
}
