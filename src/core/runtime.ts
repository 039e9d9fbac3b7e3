/**
 * The running gateway: the `Gateway` facade the faces use, for the whole life of the process.
 *
 * It composes the parts of one configuration (a `Lab`: the state, the switching and the
 * actions) and swaps that lab whole on a reload, so the faces keep one object while the world
 * beneath them changes. Nothing here switches an outlet: only `Actions` does, and only when
 * asked through `request()`.
 */
import type { Logger } from 'pino';
import type { ConfigProblem } from '../errors.js';
import { Actions } from './actions.js';
import { Maintenance } from './maintenance.js';
import type { EventBus } from './event-bus.js';
import type { ActionQuery, Gateway, Health } from './gateway.js';
import type { ActionJournal } from './journal.js';
import type { ActionEvent, ActionRecord, ActionRequest, DeviceStatus, OckleEvents, Plan, ServerStatus, TreeView } from './model.js';
import { planSequence } from './plan.js';
import type { RemoteLab } from './remote.js';
import type { KeepAlive, Sequencer } from './sequence.js';
import type { RuntimeCarry, RuntimeDevice, RuntimeServer, ServerSlot } from './slots.js';
import { LabState } from './state.js';
import { devicesView, serverView, treeView, unreachableDevices } from './views.js';
import { monotonicNow } from '../timers.js';
import { UnknownServerError } from '../errors.js';

export type { RuntimeCarry, RuntimeDevice, RuntimeServer, ServerCarry, DeviceCarry, TestSlot } from './slots.js';

export interface RuntimeOptions {
  readonly journal: ActionJournal;
  readonly events: EventBus<OckleEvents>;
  readonly log: Logger;
  readonly version: string;
  /** Interval between read-backs while confirming. */
  readonly confirmIntervalMs?: number;
  /** The clock of durations and deadlines (default: monotonic). */
  readonly now?: () => number;
  /** Servers paused for maintenance (default: in memory only). */
  readonly maintenance?: Maintenance;
  /** Servers of other gateways (federation); none: the lab names none. */
  readonly remote?: RemoteLab;
}

/** What one configuration is made of, as the composition root built it. */
export interface LabSpec {
  readonly devices: readonly RuntimeDevice[];
  readonly servers: readonly RuntimeServer[];
  readonly configProblems?: readonly ConfigProblem[];
  /** Carries out non-forced actions (auto-control); none: only forced actions run. */
  readonly sequencer?: Sequencer | null;
  readonly keepAlive?: KeepAlive | null;
  /** State kept across a reload, for the devices and servers whose configuration did not change. */
  readonly carry?: RuntimeCarry;
}

/** The parts of one configuration, composed. */
export class Lab {
  readonly state: LabState;
  readonly actions: Actions;
  readonly problems: readonly ConfigProblem[];

  constructor(o: RuntimeOptions, spec: LabSpec) {
    // Durations and deadlines (boot_timeout, confirm, stagger, "powered for") follow a monotonic
    // clock: a wall clock stepped by NTP must never end a boot wait early or stretch it. Times
    // shown to people (lastPollAt, test results, events) are wall-clock times.
    const now = o.now ?? monotonicNow;
    this.#paused = (n) => o.maintenance?.get(n) != null;
    this.problems = spec.configProblems ?? [];
    this.state = new LabState({
      devices: spec.devices,
      servers: spec.servers,
      events: o.events,
      log: o.log,
      now,
      last: o.journal.lastActions(),
      ...(spec.carry && { carry: spec.carry }),
    });
    const maintenance = o.maintenance;
    this.actions = new Actions({ state: this.state, ...(maintenance && { paused: (n: string) => maintenance.get(n) !== null }), journal: o.journal, events: o.events, log: o.log, confirmIntervalMs: o.confirmIntervalMs ?? 250 });
    const seq = spec.sequencer ?? null;
    this.actions.setSequencer(seq);
    const keep = spec.keepAlive;
    // Keep-alive restarts through the sequencer: without one it has nothing to ask.
    if (keep && seq) this.state.onTested = (slot) => slot.s.policy.keepaliveFailures !== null && keep.tested(this.#testRun(slot));
  }

  readonly #paused: (server: string) => boolean;

  #testRun(slot: ServerSlot) {
    const last = slot.last;
    return {
      server: slot.s.name,
      policy: slot.s.policy,
      tests: slot.s.tests.map((t, i) => ({ name: t.name, result: slot.tests[i]!.result })),
      shouldBeUp: last?.phase === 'finished' && last.result === 'ok' && last.kind !== 'off',
      held: slot.actionId !== null,
      paused: this.#paused(slot.s.name),
      outlets: () => this.state.outletsState(slot.s),
    };
  }

  async close(): Promise<void> {
    // The state stops first (no poll or test result is taken as a failure while stopping), then
    // running actions are aborted and awaited, then the polls and probes under way.
    const stopping = this.state.close();
    await this.actions.close();
    await stopping;
  }
}

export class Runtime implements Gateway {
  readonly events: EventBus<OckleEvents>;
  readonly #o: RuntimeOptions;
  readonly #maintenance: Maintenance;
  #lab: Lab;

  constructor(o: RuntimeOptions, spec: LabSpec) {
    this.#maintenance = o.maintenance ?? new Maintenance(null);
    o = { ...o, maintenance: this.#maintenance };
    this.#o = o;
    this.events = o.events;
    this.#lab = new Lab(o, spec);
  }

  /** Builds the parts of a configuration without touching the running ones; a throw leaves all as it was. */
  prepare(spec: LabSpec): Lab {
    return new Lab(this.#o, spec);
  }

  /** Closes the running lab (it writes nothing) and puts `next` in its place. */
  async swap(next: Lab): Promise<void> {
    const old = this.#lab;
    await old.close();
    this.#lab = next;
  }

  /** The running lab (its state and actions), for the composition root. */
  get lab(): Lab {
    return this.#lab;
  }

  carry(): RuntimeCarry {
    return this.#lab.state.carry();
  }

  // ── Gateway ──────────────────────────────────────────────────────────────────────────

  health(): Health {
    const unreachable = unreachableDevices(this.#lab.state);
    const unwritable = this.#o.journal.unwritable;
    return {
      status: unreachable.length === 0 && !unwritable ? 'ok' : 'degraded',
      version: this.#o.version,
      uptimeS: Math.round((this.#lab.state.now() - this.#lab.state.startedAt) / 1000),
      servers: this.#lab.state.servers.size,
      devices: this.#lab.state.devices.size,
      unreachableDevices: unreachable,
      journal: { writable: !unwritable, error: unwritable?.message ?? null, repairs: this.#o.journal.repairs },
    };
  }
  servers(): readonly ServerStatus[] {
    const state = this.#lab.state;
    return state.tree.order().map((n) => serverView(state, n, this.#maintenance.get(n), this.#o.remote));
  }
  server(name: string): ServerStatus {
    return serverView(this.#lab.state, name, this.#maintenance.get(name), this.#o.remote);
  }

  /**
   * Pauses servers for maintenance (all of them with 'all'): no keep-alive restart, no automatic
   * action, until resumed; kept across restarts. Answers the servers whose pause changed.
   */
  pause(targets: readonly string[] | 'all', origin: string, reason: string): readonly string[] {
    return this.#maintenance.pause(this.#names(targets), origin, reason);
  }
  resume(targets: readonly string[] | 'all'): readonly string[] {
    return targets === 'all' ? this.#maintenance.resume([...this.#maintenance.paused.keys()]) : this.#maintenance.resume(this.#names(targets));
  }
  #names(targets: readonly string[] | 'all'): string[] {
    const state = this.#lab.state;
    if (targets === 'all') return [...state.tree.order()];
    for (const t of targets) if (!state.servers.has(t)) throw new UnknownServerError(t, [...state.servers.keys()]);
    return [...new Set(targets)];
  }
  tree(): TreeView {
    return treeView(this.#lab.state, this.#o.remote?.list());
  }
  devices(): readonly DeviceStatus[] {
    return devicesView(this.#lab.state);
  }
  actions(query: ActionQuery = {}): readonly ActionRecord[] {
    return this.#o.journal.list(query);
  }
  action(id: string): ActionRecord {
    return this.#lab.actions.action(id);
  }
  request(req: ActionRequest): ActionRecord {
    return this.#lab.actions.request(req);
  }
  cancel(id: string, origin: string): ActionRecord {
    return this.#lab.actions.cancel(id, origin);
  }
  waitFor(id: string, signal?: AbortSignal): Promise<ActionRecord> {
    return this.#lab.actions.waitFor(id, signal);
  }
  configProblems(): readonly ConfigProblem[] {
    return this.#lab.problems;
  }
  async test(name: string): Promise<ServerStatus> {
    const state = this.#lab.state;
    const slot = state.servers.get(name);
    if (!slot) throw new UnknownServerError(name, [...state.servers.keys()]);
    await state.runTests(slot);
    return serverView(state, name, this.#maintenance.get(name), this.#o.remote);
  }

  /**
   * What a sequenced action would do, without touching anything: waves, per-device order, and
   * the expected critical path from learned boot times (the last `up` step in the journal) or,
   * never seen, the configured timeout.
   */
  plan(kind: 'on' | 'off', targetsIn: readonly string[] | 'all'): Plan {
    const { state, actions } = this.#lab;
    const targets = targetsIn === 'all' ? state.tree.order() : [...new Set(targetsIn)];
    for (const t of targets) if (!state.servers.has(t)) throw new UnknownServerError(t, [...state.servers.keys()]);
    const server = (n: string) => state.servers.get(n)!.s;
    return planSequence({
      kind,
      targets,
      tree: state.tree,
      state: (n) => state.servers.get(n)!.state,
      expected: (n) => {
        if (kind === 'on') {
          const l = actions.learnedBoot(n);
          return l !== undefined ? { server: n, ms: l, source: 'learned' } : { server: n, ms: server(n).policy.bootTimeoutMs, source: 'timeout' };
        }
        return server(n).controls.length > 0 ? { server: n, ms: server(n).policy.shutdownTimeoutMs, source: 'timeout' } : { server: n, ms: 0, source: 'none' };
      },
      outlets: (n) => server(n).outlets,
      staggerMs: (d) => state.devices.get(d)!.d.staggerMs,
      ...(this.#o.remote && { remote: this.#o.remote }),
    });
  }

  /**
   * Journals a change of the configuration files beside the power actions (who, which file, why,
   * one step per changed line, secrets already masked by the caller). It switches nothing.
   */
  journalConfig(c: { readonly origin: string; readonly reason: string; readonly lines: readonly string[] }): ActionRecord {
    const journal = this.#o.journal;
    const record = journal.start({ kind: 'config', targets: [], force: false, origin: c.origin, reason: c.reason });
    this.events.emit('action.started', { action: record });
    for (const detail of c.lines.slice(0, 50)) journal.step(record.id, { op: 'config', ok: true, detail });
    const finished = journal.finish(record.id, 'ok');
    this.events.emit('action.finished', { action: finished });
    return finished;
  }

  /**
   * Journals a record that switches nothing: where a power event stands (kind `ups`: a cut
   * began, mains came back, the event ended, FSD was sent), with its servers and steps.
   */
  journalNote(n: { readonly kind: 'ups'; readonly origin: string; readonly reason: string; readonly targets: readonly string[]; readonly event: ActionEvent; readonly steps?: readonly string[]; readonly status?: 'ok' | 'failed' }): ActionRecord {
    const journal = this.#o.journal;
    const record = journal.start({ kind: n.kind, targets: n.targets, force: false, origin: n.origin, reason: n.reason, event: n.event });
    this.events.emit('action.started', { action: record });
    for (const detail of n.steps ?? []) journal.step(record.id, { op: 'ups', ok: n.status !== 'failed', detail });
    const finished = journal.finish(record.id, n.status ?? 'ok');
    this.events.emit('action.finished', { action: finished });
    return finished;
  }

  /** Running actions (for reload and shutdown decisions). */
  get busy(): boolean {
    return this.#lab.actions.busy;
  }
  idle(): Promise<void> {
    return this.#lab.actions.idle();
  }

  /**
   * Stops monitoring and aborts running actions: no new write is sent after this; a write
   * already on the wire finishes in its queue. Never switches anything. Devices are closed by
   * their owner (the composition root).
   */
  close(): Promise<void> {
    return this.#lab.close();
  }
}
