import { setMaxListeners } from 'node:events';

/**
 * One abort listener per signal, fanning out to every waiter registered under it. A sequenced
 * action's one signal is waited on by every server in progress (sleeps, probes, queue slots):
 * with a listener each, EventTarget's removeEventListener scans them all on every removal, which
 * made a thousand-server sequence quadratic in its waits.
 */
const waiters = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls `fn` (once) when `signal` aborts; returns the function that unregisters it. */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let set = waiters.get(signal);
  if (!set) {
    const s = (set = new Set());
    waiters.set(signal, s);
    signal.addEventListener(
      'abort',
      () => {
        const all = [...s];
        s.clear();
        for (const f of all) f();
      },
      { once: true },
    );
  }
  set.add(fn);
  return () => void set.delete(fn);
}

/** One operation's share of a TimeoutGroups signal. */
export interface TimeoutLease {
  /** Aborts when the timeout runs out while the operation is pending, or when a parent aborts. */
  readonly signal: AbortSignal;
  /** Whether the timeout (not a parent) aborted it. */
  readonly timedOut: boolean;
  /** The operation ended: it is no longer timed out, and the group is freed once all have ended. */
  release(): void;
}

interface Group {
  readonly ac: AbortController;
  readonly timeoutMs: number;
  readonly parents: readonly (AbortSignal | undefined)[];
  readonly at: number;
  readonly pending: Set<Lease>;
  timer: NodeJS.Timeout | undefined;
  timedOut: boolean;
  open: boolean;
  unlink: (() => void)[];
}

/**
 * Abort signals with a timeout, shared by the operations that start within the same millisecond
 * with the same timeout and the same parent signals. Creating an AbortSignal costs ~4 µs on
 * Node 20 (its prototype is set after construction), and a thousand-server sequence made one
 * per device operation and one per test run: the largest self-time left in its profile.
 * Operations that start together with the same timeout time out together, so they share one
 * controller and one timer. Node's timers are no finer: a setTimeout counts from the loop's
 * cached time, which may be a whole turn older than the call; here an operation may time out at
 * most 1 ms before its own `timeoutMs` (exactly on time under fake timers).
 *
 * When the timer fires, each operation still pending is told (`onTimeout`), then the signal
 * aborts. An operation that ended before is not told, and its signal may still abort later: as
 * with any signal shared by several calls, a driver must ignore an abort after it returned.
 */
export class TimeoutGroups {
  readonly #now: () => number;
  readonly #reason: () => Error;
  #open: Group[] = [];

  /**
   * `reason`: what the signal aborts with (a timeout or a parent's abort). `now`: the clock that
   * says which operations start in the same millisecond; it must be the one the timers follow
   * (Date.now by default, which fake timers fake along with setTimeout; a step of the wall
   * clock only ends a group early).
   */
  constructor(reason: () => Error, now: () => number = () => Date.now()) {
    this.#reason = reason;
    this.#now = now;
  }

  join(timeoutMs: number, parents: readonly (AbortSignal | undefined)[], onTimeout: () => void): TimeoutLease {
    const now = this.#now();
    let g = this.#open.find((x) => x.timeoutMs === timeoutMs && this.#joinable(x, now) && sameParents(x.parents, parents));
    if (!g) {
      // Groups of an earlier millisecond take no one new; those with nothing pending go.
      for (const x of [...this.#open]) if (x.pending.size === 0 && !this.#joinable(x, now)) this.#close(x);
      g = this.#group(timeoutMs, parents, now);
    }
    if (g.timer === undefined) this.#arm(g, timeoutMs);
    else if (g.pending.size === 0) g.timer.ref();
    const lease = new Lease(g, onTimeout, this.#ended);
    g.pending.add(lease);
    return lease;
  }

  /**
   * A lease was released. With nobody left to time out, the timer stays (stopping and starting
   * it again for the next operation of the same millisecond was itself a cost) but no longer
   * holds the process open; when it fires with nobody pending, it only closes the group.
   */
  readonly #ended = (g: Group): void => {
    if (g.pending.size === 0) g.timer?.unref();
  };

  #joinable(g: Group, now: number): boolean {
    const since = now - g.at;
    return g.open && since >= 0 && since < 1 && !g.timedOut && !g.ac.signal.aborted;
  }

  #group(timeoutMs: number, parents: readonly (AbortSignal | undefined)[], at: number): Group {
    const ac = new AbortController();
    // Every operation of the group may listen on it (a driver's socket, a sleep): not a leak.
    setMaxListeners(0, ac.signal);
    const g: Group = { ac, timeoutMs, parents, at, pending: new Set(), timer: undefined, timedOut: false, open: true, unlink: [] };
    for (const p of parents) if (p) g.unlink.push(onAbort(p, () => ac.abort(this.#reason())));
    this.#open.push(g);
    return g;
  }

  #arm(g: Group, ms: number): void {
    g.timer = setTimeout(() => {
      g.timer = undefined;
      if (g.pending.size === 0) return this.#close(g);
      g.timedOut = true;
      const late = [...g.pending];
      g.pending.clear();
      this.#close(g);
      for (const lease of late) lease.expire();
      g.ac.abort(this.#reason());
    }, ms);
  }

  #close(g: Group): void {
    if (!g.open) return;
    g.open = false;
    clearTimeout(g.timer);
    g.timer = undefined;
    for (const u of g.unlink) u();
    const i = this.#open.indexOf(g);
    if (i >= 0) this.#open.splice(i, 1);
  }
}

/** A class, not an object literal: a literal with a getter was itself a hot spot, made per operation. */
class Lease implements TimeoutLease {
  readonly #g: Group;
  readonly #onTimeout: () => void;
  readonly #ended: (g: Group) => void;
  #done = false;

  constructor(g: Group, onTimeout: () => void, ended: (g: Group) => void) {
    this.#g = g;
    this.#onTimeout = onTimeout;
    this.#ended = ended;
  }
  get signal(): AbortSignal {
    return this.#g.ac.signal;
  }
  get timedOut(): boolean {
    return this.#g.timedOut;
  }
  /** The group timed out while this operation was pending. */
  expire(): void {
    this.#done = true;
    this.#onTimeout();
  }
  release(): void {
    if (this.#done) return;
    this.#done = true;
    this.#g.pending.delete(this);
    this.#ended(this.#g);
  }
}

function sameParents(a: readonly (AbortSignal | undefined)[], b: readonly (AbortSignal | undefined)[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}
