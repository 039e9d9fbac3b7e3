/**
 * Power actions: admission (targets, holds, the queue), the journal (who, what, why, every step,
 * the result), forced runs (exactly the named servers' outlets, now), sequenced runs handed to
 * the sequencer, and cancel. The only way anything is switched.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { OckleError, OperationAbortedError, ActionBusyError, DeviceUnreachableError, toOckleError } from '../errors.js';
import type { EventBus } from './event-bus.js';
import type { ActionJournal } from './journal.js';
import type { ServerOutcome } from './server-memory.js';
import type { ActionRecord, ActionRequest, ActionStep, OckleEvents, OutletRef } from './model.js';
import type { RuntimeOutlet } from './slots.js';
import type { SwitchAction } from '../../drivers/types.js';
import { notThere, predecessors } from './plan.js';
import { ProgressTracker } from './progress.js';
import type { Sequencer, ServerOps } from './sequence.js';
import { createServerOps } from './server-ops.js';
import type { LabState } from './state.js';
import { Switcher } from './switching.js';
import { shutdownServer, refuseShutdown } from './shutdown.js';
import { outcome } from './outcome.js';
import { refusePaused } from './maintenance.js';
import { refuseHeldOutlets, resolveOutlets } from './outlet-refs.js';
import { checkRequest } from './admission.js';

export interface ActionsOptions {
  readonly state: LabState;
  /** Whether an operator paused a server for maintenance (automatic actions are refused for it). */
  readonly paused?: (server: string) => boolean;
  readonly journal: ActionJournal;
  readonly events: EventBus<OckleEvents>;
  readonly log: Logger;
  /** Interval between read-backs while confirming. */
  readonly confirmIntervalMs: number;
}

interface Running {
  readonly abort: AbortController;
  readonly done: Promise<void>;
}

export class Actions {
  readonly #state: LabState;
  readonly #journal: ActionJournal;
  readonly #events: EventBus<OckleEvents>;
  readonly #log: Logger;
  readonly #switcher: Switcher;
  readonly #running = new Map<string, Running>();
  /** Progress of each running sequenced action. */
  readonly #progress = new Map<string, ProgressTracker>();
  readonly #ops: ServerOps;
  readonly #paused: (server: string) => boolean;
  #sequencer: Sequencer | null = null;
  #closed = false;
  /** device/outlet → the outlet action switching it. */
  readonly #heldOutlets = new Map<string, string>();

  constructor(o: ActionsOptions) {
    this.#state = o.state;
    this.#journal = o.journal;
    this.#events = o.events;
    this.#log = o.log;
    this.#paused = o.paused ?? (() => false);
    this.#switcher = new Switcher(o.state, (id, step) => this.step(id, step), o.confirmIntervalMs);
    this.#ops = createServerOps({
      state: o.state,
      switcher: this.#switcher,
      step: (id, step) => this.step(id, step),
      learnedBoot: (n) => this.learnedBoot(n),
      progress: (id) => this.#progress.get(id),
      kindOf: (id) => this.#journal.get(id)?.kind,
      emitProgress: (p) => this.#events.emit('action.progress', p),
    });
  }

  /** Installs the sequencer that carries out non-forced actions (the auto-control plugin). */
  setSequencer(seq: Sequencer | null): void {
    this.#sequencer = seq;
  }

  /** Boot time learned from the server's newest `up` step (the journal keeps them, see learnedBoots). */
  learnedBoot(server: string): number | undefined {
    return this.#journal.learnedBoots().get(server);
  }

  step(actionId: string, step: Omit<ActionStep, 'at'>): void {
    const s = this.#journal.step(actionId, step);
    this.#events.emit('action.progressed', { actionId, step: s });
  }

  action(id: string): ActionRecord {
    const a = this.#journal.get(id);
    if (!a) throw new OckleError('OCKLE_ACTION_UNKNOWN', `no action "${id}"`);
    return a;
  }

  #slot(name: string) {
    return this.#state.servers.get(name)!;
  }
  /** The actions holding any of `servers`. */
  #holders(servers: readonly string[]): string[] {
    return [...new Set(servers.flatMap((n) => (this.#slot(n).actionId ? [this.#slot(n).actionId!] : [])))];
  }

  request(req: ActionRequest): ActionRecord {
    if (this.#closed) throw new OperationAbortedError('the daemon is stopping; no new actions are accepted');
    refusePaused(req, this.#paused);
    req = checkRequest(this.#state, req);
    if (req.outlets) return this.#requestOutlets(req, req.outlets);
    if (req.kind === 'shutdown') return this.#requestShutdown(req);
    return req.force ? this.#requestForced(req) : this.#requestSequenced(req);
  }

  /** Opens the journal record of an admitted action and tells the faces. */
  #begin(req: ActionRequest): ActionRecord {
    const { queue: _queue, ...journaled } = req;
    const record = this.#journal.start(journaled);
    this.#events.emit('action.started', { action: record });
    this.#log.info({ actionId: record.id, origin: req.origin, kind: req.kind, targets: req.targets, force: req.force, reason: req.reason }, 'action started');
    return record;
  }

  #track(record: ActionRecord, abort: AbortController, run: Promise<void>): ActionRecord {
    const done = run.finally(() => {
      this.#running.delete(record.id);
      this.#progress.delete(record.id);
    });
    this.#running.set(record.id, { abort, done });
    return this.#journal.get(record.id)!;
  }

  /** A forced action: exactly the named servers' outlets, now. */
  #requestForced(req: ActionRequest): ActionRecord {
    const { targets } = req;
    if (!req.queue)
      for (const t of targets) {
        const held = this.#slot(t).actionId;
        if (held) throw new ActionBusyError(t, held);
      }
    const record = this.#begin(req);
    const abort = new AbortController();
    const run = (async () => {
      // --queue: wait for the actions holding these servers, then switch (as a sequence does).
      // (No await unless there is someone to wait for: the servers are taken in this same turn.)
      if (this.#holders(targets).length > 0 && !(await this.#waitForHolders(record.id, () => this.#holders(targets), abort.signal))) return;
      for (const t of targets) {
        const slot = this.#slot(t);
        slot.actionId = record.id;
        slot.last = { kind: req.kind, force: req.force, phase: 'running' };
        this.#state.derive(slot);
      }
      await this.#runForced(record, targets, abort.signal);
    })();
    return this.#track(record, abort, run);
  }

  /** Exactly the targets' OSes, through their controls; nothing is cut (src/core/shutdown.ts). */
  #requestShutdown(req: ActionRequest): ActionRecord {
    refuseShutdown(this.#state, req.targets);
    for (const t of req.targets) {
      const held = this.#slot(t).actionId;
      if (held) throw new ActionBusyError(t, held);
    }
    const record = this.#begin(req);
    for (const t of req.targets) {
      const slot = this.#slot(t);
      slot.actionId = record.id;
      slot.last = { kind: 'shutdown', force: false, phase: 'running' };
      this.#state.derive(slot);
    }
    const abort = new AbortController();
    const jobs = req.targets.map((t) => () => shutdownServer(this.#ops, record.id, t, abort.signal));
    const run = this.#settle(record, jobs, req.targets, (result) => {
      for (const t of req.targets) {
        const slot = this.#slot(t);
        slot.actionId = null;
        slot.last = { kind: 'shutdown', force: false, phase: 'finished', result };
      }
    });
    return this.#track(record, abort, run);
  }

  /**
   * A sequenced action: the targets with what they need (on) or what needs them (off), minus the
   * servers already there, handed to the sequencer. Every server of that set is held by the
   * action; a request touching a held server is refused with the holder's id.
   */
  #requestSequenced(req: ActionRequest): ActionRecord {
    const seq = this.#sequencer;
    if (!seq) {
      throw new OckleError(
        'OCKLE_ACTION_NO_SEQUENCER',
        `a sequenced "${req.kind}" of ${req.targets.join(', ')} needs the auto-control plugin, which is not running`,
        { hint: 'Enable auto-control in [plugins] enabled, or pass force to switch exactly these servers’ outlets now.' },
      );
    }
    // A sequenced cycle restarts exactly the targets (keep-alive, `ockle cycle`): power-cycle,
    // then the boot tests and retries of a power-on; dependents are left as they are.
    // (reset never gets here: it is always a forced action)
    const kind = req.kind === 'off' ? 'off' : 'on';
    const tree = this.#state.tree;
    // Every server the request may touch, goal state or not: a server held by another action is
    // in flux, and its state now says nothing about its state when this action gets to it.
    // (One walk of the graph: the set to switch is taken from it, now and after a queue.)
    const reach = req.kind === 'cycle' ? [...req.targets] : tree.closure(req.targets, kind);
    const setFor = (): string[] => (req.kind === 'cycle' ? [...req.targets] : notThere(reach, (n) => this.#slot(n).state, kind));
    let servers = setFor();
    if (!req.queue)
      for (const n of reach) {
        const held = this.#slot(n).actionId;
        if (held) throw new ActionBusyError(n, held);
      }
    const record = this.#begin(req);
    const abort = new AbortController();
    // Every server in progress waits on this one signal (sleeps, queue slots): not a leak.
    setMaxListeners(0, abort.signal);
    const run = (async () => {
      // Queued: wait for the actions holding our servers, then plan again from the states then.
      if (this.#holders(reach).length > 0) {
        if (!(await this.#waitForHolders(record.id, () => this.#holders(reach), abort.signal))) return;
        servers = setFor();
      }
      const detail = servers.length === 0 ? `every server is already ${req.kind}` : `${req.kind}: ${servers.join(', ')}`;
      this.step(record.id, { op: 'plan', ok: true, detail });
      for (const n of servers) {
        const slot = this.#slot(n);
        slot.actionId = record.id;
        slot.blockedBy = null;
      }
      // What each server's last action was before this one: those this action marked are journaled with how it ended for them.
      const lastBefore = servers.map((n) => this.#slot(n).last);
      const before = req.kind === 'cycle' ? () => [] : predecessors(tree, kind, new Set(servers));
      this.#progress.set(record.id, new ProgressTracker(record.id, req.kind, servers, before));
      let result: Awaited<ReturnType<Sequencer>>;
      let crashed = false;
      try {
        result = await seq({ action: record, servers, signal: abort.signal }, this.#ops);
      } catch (err) {
        crashed = true;
        const e = toOckleError(err);
        this.#log.error({ actionId: record.id, err: e.message }, 'sequencer failed');
        result = { status: 'failed', error: { code: e.code, message: e.message } };
      }
      if (abort.signal.aborted && result.status === 'ok') result = { status: 'cancelled' };
      const outcomes: Record<string, ServerOutcome> = {};
      // What changed for a server here, or while the action held it, needs a new derivation;
      // the others were derived at the sequencer's last mark and by every reading since, with
      // the same inputs (deriving a thousand servers again was half of a large action's finish).
      const again = new Set<string>();
      servers.forEach((n, i) => {
        const slot = this.#slot(n);
        // Interrupted mid-server (cancel): its state comes from what is read, not from the plan.
        if (slot.last?.phase === 'running') {
          slot.last = { ...slot.last, phase: 'finished', result: 'cancelled' };
          again.add(n);
        }
        const last = slot.last;
        if (last !== lastBefore[i] && last?.phase === 'finished' && last.result) outcomes[n] = last.permanent ? 'permanent' : last.result;
      });
      const finished = this.#journal.finish(record.id, result.status, result.error, outcomes);
      for (const n of servers) {
        const slot = this.#slot(n);
        slot.actionId = null;
        // Its reason says what blocked it, once no action holds it.
        if (slot.blockedBy) again.add(n);
        // A cancel blocks nothing: nobody failed, the action just stopped.
        if (result.status === 'cancelled') slot.blockedBy = slot.blockedIn = null;
        if (again.has(n) || crashed) this.#state.derive(slot);
      }
      this.#log.info({ actionId: record.id, kind: record.kind, targets: record.targets, status: result.status, error: result.error }, 'action finished');
      this.#events.emit('action.finished', { action: finished });
    })();
    return this.#track(record, abort, run);
  }

  /**
   * A queued action waits until no other action holds its servers (`holders` says which do,
   * each time asked). False when it was cancelled meanwhile: then it is journaled as such.
   */
  async #waitForHolders(id: string, holders: () => string[], signal: AbortSignal): Promise<boolean> {
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    for (let h = holders(); h.length > 0; h = holders()) {
      this.step(id, { op: 'queued', ok: true, detail: `waiting for ${h.join(', ')}` });
      await Promise.race([Promise.allSettled(h.map((x) => this.#running.get(x)?.done)), aborted]);
      if (signal.aborted) {
        // Cancelled while queued: it worked on no server.
        const finished = this.#journal.finish(id, 'cancelled', undefined, {});
        this.#events.emit('action.finished', { action: finished });
        return false;
      }
    }
    return true;
  }

  /**
   * Cancels a running action: nothing new is scheduled, operations already on the wire finish,
   * and every state stays the truth (it is read, never assumed).
   */
  cancel(id: string, origin: string): ActionRecord {
    const a = this.action(id);
    const r = this.#running.get(id);
    if (a.status !== 'running' || !r) return a;
    this.step(id, { op: 'cancel', ok: true, detail: `cancelled by ${origin}` });
    r.abort.abort(new OperationAbortedError(`cancelled by ${origin}`));
    return this.action(id);
  }

  /** Switches every outlet of the targets, confirms by reading back, then records the result. */
  #runForced(record: ActionRecord, targets: readonly string[], signal: AbortSignal): Promise<void> {
    const items = targets.flatMap((t) => this.#slot(t).s.outlets.map((o) => ({ server: t as string | undefined, o })));
    return this.#runItems(record, items, targets, signal, (result) => {
      for (const t of targets) {
        const slot = this.#slot(t);
        slot.actionId = null;
        slot.last = { kind: record.kind, force: record.force, phase: 'finished', result };
      }
    });
  }

  /**
   * Switches `items` (each outlet, with the server that owns it if any), confirms each by reading
   * back, then records the result; `release` frees what the action held before states are
   * derived and the faces are told.
   */
  async #runItems(
    record: ActionRecord,
    items: readonly { readonly server: string | undefined; readonly o: RuntimeOutlet }[],
    owners: readonly string[],
    signal: AbortSignal,
    release: (status: 'ok' | 'failed' | 'cancelled') => void,
    offMs?: number,
  ): Promise<void> {
    const kind = record.kind as SwitchAction; // outlet and forced server actions only switch
    // A forced on/off reads each outlet first: one already there is journaled, not written
    // again (a BMC host that a clean shutdown already powered off gets no "power off").
    if (kind === 'on' || kind === 'off') await this.#state.readOutlets(items.map((i) => i.o), signal).catch(() => undefined);
    const jobs = items.map(({ server, o }) => (): Promise<void> => {
        const where = { ...(server !== undefined && { server }), device: o.device, outlet: o.outlet };
        if (this.#switcher.alreadyThere(o, kind)) {
          this.step(record.id, { ...where, op: 'already', ok: true, detail: `${o.device} outlet ${o.outlet} already reads ${kind}: not switched` });
          return Promise.resolve();
        }
        const dev = this.#state.devices.get(o.device)!;
        if ((kind === 'on' || kind === 'off') && dev.reachable === false) {
          // It did not answer the read a moment ago: a write would only wait for its timeout.
          const e = new DeviceUnreachableError(o.device, `${o.device} unreachable: ${dev.error ?? 'no answer'}; outlet ${o.outlet} not switched`);
          this.step(record.id, { ...where, op: 'error', ok: false, detail: e.message });
          return Promise.reject(e);
        }
        return this.#switcher.switchOutlet(record.id, server, o, kind, signal, offMs).then(() => undefined);
    });
    await this.#settle(record, jobs, owners, release);
  }

  /** Runs the jobs of an action (each may fail alone), then records the result (see #runItems). */
  async #settle(record: ActionRecord, jobs: readonly (() => Promise<void>)[], owners: readonly string[], release: (status: 'ok' | 'failed' | 'cancelled') => void): Promise<void> {
    const { status, error } = outcome(await Promise.allSettled(jobs.map((j) => j())));
    const finished = this.#journal.finish(record.id, status, error);
    release(status);
    for (const t of owners) this.#state.derive(this.#slot(t));
    this.#log.info({ actionId: record.id, origin: record.origin, kind: record.kind, targets: owners, outlets: record.outlets, status, error }, 'action finished');
    this.#events.emit('action.finished', { action: finished });
    // Prove what the switch did: tests run now, not at the next interval.
    if (!this.#closed) for (const t of owners) void this.#state.runTests(this.#slot(t));
  }

  /**
   * An outlet action: exactly the named outlets, now (always forced). A server that owns one is
   * held meanwhile, and an outlet action on a server a sequence holds is refused, naming it.
   */
  #requestOutlets(req: ActionRequest, refs: readonly OutletRef[]): ActionRecord {
    const items = resolveOutlets(this.#state, refs, req.kind);
    const owners = [...new Set(items.flatMap((i) => (i.server === undefined ? [] : [i.server])))];
    refuseHeldOutlets(this.#state, items, owners, this.#heldOutlets);
    const record = this.#begin({ ...req, targets: owners, force: true, outlets: items.map((i) => ({ device: i.o.device, outlet: i.o.outlet })) });
    for (const n of owners) this.#slot(n).actionId = record.id;
    for (const i of items) this.#heldOutlets.set(`${i.o.device}/${i.o.outlet}`, record.id);
    const abort = new AbortController();
    const run = this.#runItems(
      record,
      items,
      owners,
      abort.signal,
      () => {
        for (const n of owners) this.#slot(n).actionId = null;
        for (const i of items) this.#heldOutlets.delete(`${i.o.device}/${i.o.outlet}`);
      },
      req.offMs,
    );
    return this.#track(record, abort, run);
  }

  async waitFor(id: string, signal?: AbortSignal): Promise<ActionRecord> {
    if (this.action(id).status !== 'running') return this.action(id);
    try {
      await this.#events.once('action.finished', (p) => p.action.id === id, signal);
    } catch {
      // aborted: answer with the record as it is now
    }
    return this.action(id);
  }

  get busy(): boolean {
    return this.#running.size > 0;
  }

  /** Resolves when no action is running. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running.values()].map((r) => r.done));
  }

  /** Refuses new actions, aborts the running ones and waits for them (a write on the wire finishes in its queue). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const r of this.#running.values()) r.abort.abort(new OperationAbortedError('daemon stopping'));
    await Promise.allSettled([...this.#running.values()].map((r) => r.done));
  }
}

