/**
 * The running gateway: holds what is known about every outlet, test and server, keeps it
 * fresh (device polls, test runs), derives server states, and carries out forced power
 * actions. Implements the `Gateway` facade the faces use.
 *
 * Truth comes from the hardware: states are only ever set from reads and probes, never from
 * what a write was meant to do. Nothing here switches an outlet except `#runForced`, which is
 * only reached from `request()`.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { Controller, OutletDevice, Power, Reading, SwitchAction, Tester } from '../../drivers/types.js';
import {
  OckleError,
  ControlTimeoutError,
  OperationAbortedError,
  ActionBusyError,
  UnknownServerError,
  DeviceRefusedError,
  DeviceUnreachableError,
  RequestValidationError,
  ServerBlockedError,
  toOckleError,
  type ConfigProblem,
} from '../errors.js';
import type { DeviceQueue } from './device-queue.js';
import type { EventBus } from './event-bus.js';
import type { ActionQuery, Gateway, Health } from './gateway.js';
import type { ActionJournal } from './journal.js';
import type {
  ActionRecord,
  ActionRequest,
  DeviceStatus,
  OckleEvents,
  OpState,
  Plan,
  ServerStatus,
  TestState,
  TreeView,
} from './model.js';
import { deriveServerState, type LastAction } from './op-state.js';
import type { OutletsRead, Sequencer, ServerMark, ServerOps, ServerPolicy, SwitchCount } from './sequence.js';
import { ProgressTracker } from './progress.js';
import { ServerTree } from './tree.js';
import { monotonicNow, sleep } from '../timers.js';

export interface RuntimeDevice {
  readonly id: string;
  readonly type: string;
  readonly description: string;
  readonly device: OutletDevice;
  readonly queue: DeviceQueue;
  readonly pollIntervalMs: number;
  /** Off time when a cycle is emulated (device without native cycle). */
  readonly cycleDelayMs: number;
  /** How long an outlet may take to read back the requested state after a switch. */
  readonly confirmTimeoutMs: number;
  /** Minimum time between two switch-ons on this device (inrush current). */
  readonly staggerMs: number;
}
export interface RuntimeServer {
  readonly name: string;
  readonly description: string;
  readonly host: string | undefined;
  readonly testIntervalMs: number;
  readonly policy: ServerPolicy;
  readonly outlets: readonly { readonly name: string; readonly device: string; readonly outlet: number }[];
  readonly controls: readonly { readonly name: string; readonly type: string; readonly controller: Controller; readonly timeoutMs?: number }[];
  readonly tests: readonly { readonly name: string; readonly type: string; readonly tester: Tester; readonly timeoutMs: number }[];
  readonly dependencies: readonly string[];
}
/** What a device slot knows, handed from one runtime to the next by a reload that kept the device. */
export interface DeviceCarry {
  readonly power: readonly Power[];
  readonly reachable: boolean | null;
  readonly error: string | null;
  readonly lastPollAt: number | null;
  readonly lastPollMs: number | null;
  readonly readings: ReadonlyMap<number, Reading>;
  /** Outlet → when it was seen turning on. */
  readonly onSince: ReadonlyMap<number, number>;
}
/** What a server slot knows (its tests' last results), for a server a reload did not change. */
export interface ServerCarry {
  /** Absent when the server's tests changed: they start NOT_RUN. */
  readonly tests?: readonly TestSlot[];
  readonly failedRuns: number;
  /** The state it showed: the new runtime's first derivation reports only real changes. */
  readonly state: OpState;
}
export interface RuntimeCarry {
  readonly devices: ReadonlyMap<string, DeviceCarry>;
  readonly servers: ReadonlyMap<string, ServerCarry>;
  /** When the first runtime of this process started (uptime, "on since start"). */
  readonly startedAt: number;
}
export interface RuntimeOptions {
  readonly devices: readonly RuntimeDevice[];
  readonly servers: readonly RuntimeServer[];
  readonly journal: ActionJournal;
  readonly events: EventBus<OckleEvents>;
  readonly log: Logger;
  readonly version: string;
  readonly configProblems?: readonly ConfigProblem[];
  /** Interval between read-backs while confirming. */
  readonly confirmIntervalMs?: number;
  readonly now?: () => number;
  /** State kept across a reload, for the devices and servers whose configuration did not change. */
  readonly carry?: RuntimeCarry;
}

export interface TestSlot {
  result: TestState;
  detail: string;
  latencyMs: number | null;
  at: number | null;
}
interface DeviceSlot {
  readonly d: RuntimeDevice;
  power: Power[]; // index 0 = outlet 1
  reachable: boolean | null;
  error: string | null;
  lastPollAt: number | null;
  lastPollMs: number | null;
  readings: ReadonlyMap<number, Reading>;
  timer: NodeJS.Timeout | null;
  polling: Promise<void> | null;
  /** Earliest time of the next switch-on (stagger). */
  nextOnAt: number;
}
interface ServerSlot {
  readonly s: RuntimeServer;
  tests: TestSlot[];
  state: OpState;
  reason: string;
  last: LastAction | null;
  actionId: string | null;
  /** Set when a sequence did not start/stop this server because another one failed. */
  blockedBy: string | null;
  /** The action that left blockedBy (shown after it ends: "not started in action 12: …"). */
  blockedIn: { readonly id: string; readonly kind: 'on' | 'off' } | null;
  /** Consecutive failed test runs while the server should be up (keep-alive). */
  failedRuns: number;
  timer: NodeJS.Timeout | null;
  testing: Promise<void> | null;
}


export class Runtime implements Gateway {
  readonly events: EventBus<OckleEvents>;
  readonly tree: () => TreeView;
  readonly #tree: ServerTree;
  readonly #devices = new Map<string, DeviceSlot>();
  readonly #servers = new Map<string, ServerSlot>();
  /** device id → outlet → server names bound to it */
  readonly #bindings = new Map<string, Map<number, { server: string; section: string }>>();
  readonly #journal: ActionJournal;
  readonly #log: Logger;
  readonly #version: string;
  readonly #problems: readonly ConfigProblem[];
  readonly #confirmIntervalMs: number;
  readonly #now: () => number;
  readonly #onSince = new Map<string, number>();
  readonly #startedAt: number;
  readonly #running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  /** Progress of each running sequenced action. */
  readonly #progress = new Map<string, ProgressTracker>();
  #monitoring = false;
  #closed = false;
  #sequencer: Sequencer | null = null;
  /** Boot time per server, learned from the journal's `up` steps (newest wins). */
  readonly #learnedBoot = new Map<string, number>();

  constructor(o: RuntimeOptions) {
    this.events = o.events;
    this.#journal = o.journal;
    this.#log = o.log;
    this.#version = o.version;
    this.#problems = o.configProblems ?? [];
    this.#confirmIntervalMs = o.confirmIntervalMs ?? 250;
    // Durations and deadlines (boot_timeout, confirm, stagger, "powered for") follow a monotonic
    // clock: a wall clock stepped by NTP must never end a boot wait early or stretch it. Times
    // shown to people (lastPollAt, test results, events) are wall-clock times.
    this.#now = o.now ?? monotonicNow;
    this.#startedAt = o.carry?.startedAt ?? this.#now();
    this.#tree = new ServerTree(o.servers.map((s) => ({ name: s.name, dependencies: s.dependencies })));
    for (const d of o.devices) {
      const kept = o.carry?.devices.get(d.id);
      this.#devices.set(d.id, {
        d,
        power: kept ? [...kept.power] : Array.from({ length: d.device.outletCount }, () => 'unknown'),
        reachable: kept?.reachable ?? null,
        error: kept?.error ?? null,
        lastPollAt: kept?.lastPollAt ?? null,
        lastPollMs: kept?.lastPollMs ?? null,
        readings: kept?.readings ?? new Map(),
        timer: null,
        polling: null,
        nextOnAt: 0,
      });
      for (const [n, at] of kept?.onSince ?? []) this.#onSince.set(`${d.id}:${n}`, at);
    }
    for (const s of o.servers) {
      for (const o2 of s.outlets) {
        let m = this.#bindings.get(o2.device);
        if (!m) this.#bindings.set(o2.device, (m = new Map()));
        m.set(o2.outlet, { server: s.name, section: o2.name });
      }
      const kept = o.carry?.servers.get(s.name);
      this.#servers.set(s.name, {
        s,
        tests: kept?.tests && kept.tests.length === s.tests.length ? kept.tests.map((t) => ({ ...t })) : s.tests.map(() => ({ result: 'NOT_RUN', detail: 'not run yet', latencyMs: null, at: null })),
        state: kept?.state ?? 'UNKNOWN',
        reason: 'not read yet',
        last: null,
        actionId: null,
        blockedBy: null,
        blockedIn: null,
        failedRuns: kept?.failedRuns ?? 0,
        timer: null,
        testing: null,
      });
    }
    // The last finished action of each server shapes its state (FORCED_ON, FAILED_TO_STOP…).
    for (const a of [...this.#journal.list({ limit: 1000 })].reverse()) {
      if (a.status === 'running') continue;
      for (const t of a.targets) {
        const slot = this.#servers.get(t);
        if (slot) slot.last = { kind: a.kind, force: a.force, phase: 'finished', result: a.status };
      }
    }
    for (const a of this.#journal.list({ limit: 1000 }))
      for (const st of a.steps)
        if (st.op === 'up' && st.server && st.ms !== undefined && !this.#learnedBoot.has(st.server)) this.#learnedBoot.set(st.server, st.ms);
    this.tree = () => this.#treeView();
    (this.#ops as { tree: ServerTree }).tree = this.#tree;
    // A reload: servers on kept devices show their state at once, not UNKNOWN until a poll.
    if (o.carry) this.#deriveAll();
  }

  /** What this runtime knows, for the next one after a reload (see RuntimeCarry). */
  carry(): RuntimeCarry {
    const devices = new Map<string, DeviceCarry>();
    for (const [id, slot] of this.#devices) {
      const onSince = new Map<number, number>();
      for (let n = 1; n <= slot.power.length; n++) {
        const at = this.#onSince.get(`${id}:${n}`);
        if (at !== undefined) onSince.set(n, at);
      }
      devices.set(id, { power: [...slot.power], reachable: slot.reachable, error: slot.error, lastPollAt: slot.lastPollAt, lastPollMs: slot.lastPollMs, readings: slot.readings, onSince });
    }
    const servers = new Map<string, ServerCarry>();
    for (const [name, slot] of this.#servers) servers.set(name, { tests: slot.tests.map((t) => ({ ...t })), failedRuns: slot.failedRuns, state: slot.state });
    return { devices, servers, startedAt: this.#startedAt };
  }

  // ── start-up and monitoring ───────────────────────────────────────────────────────────

  /**
   * Reads every device (never writes) and runs every server's tests once, so the first
   * states are the real ones. Unreachable devices do not fail the start: their outlets stay
   * `unknown` and polling keeps trying.
   */
  async adopt(signal?: AbortSignal, only?: ReadonlySet<string>): Promise<void> {
    await Promise.all([...this.#devices.values()].filter((slot) => !only || only.has(slot.d.id)).map((slot) => this.#poll(slot, signal)));
    this.#deriveAll();
  }

  /** Runs every server's tests once (servers without power are marked without probing); `only`: just these servers. */
  async testAll(signal?: AbortSignal, only?: ReadonlySet<string>): Promise<void> {
    await Promise.all([...this.#servers.values()].filter((slot) => !only || only.has(slot.s.name)).map((slot) => this.#runTests(slot, signal)));
  }

  /** Starts the periodic device polls and test runs. */
  startMonitoring(): void {
    if (this.#monitoring || this.#closed) return;
    this.#monitoring = true;
    for (const slot of this.#devices.values()) this.#schedulePoll(slot);
    for (const slot of this.#servers.values()) this.#scheduleTests(slot);
  }

  #schedulePoll(slot: DeviceSlot): void {
    if (!this.#monitoring) return;
    slot.timer = setTimeout(() => {
      void this.#poll(slot).finally(() => this.#schedulePoll(slot));
    }, slot.d.pollIntervalMs);
    slot.timer.unref();
  }
  #scheduleTests(slot: ServerSlot): void {
    if (!this.#monitoring || slot.s.tests.length === 0) return;
    slot.timer = setTimeout(() => {
      void this.#runTests(slot).finally(() => this.#scheduleTests(slot));
    }, slot.s.testIntervalMs);
    slot.timer.unref();
  }

  /** One read of all of a device's outlets (one round trip on bulk-read devices). */
  #poll(slot: DeviceSlot, signal?: AbortSignal): Promise<void> {
    if (slot.polling) return slot.polling;
    const dev = slot.d.device;
    let all = Array.from({ length: dev.outletCount }, (_, i) => i + 1);
    const started = this.#now();
    const readAll = async (s: AbortSignal): Promise<ReadonlyMap<number, Power>> => {
      // A device that learns its outlet count when opened (an SNMP PDU without `outlets =`):
      // an empty read opens it, then every outlet is read.
      if (dev.outletCount === 0) await dev.read([], s);
      if (dev.outletCount !== all.length) {
        all = Array.from({ length: dev.outletCount }, (_, i) => i + 1);
        slot.power = all.map((n) => slot.power[n - 1] ?? 'unknown');
      }
      return dev.read(all, s);
    };
    slot.polling = slot.d.queue
      // One timeout for the whole poll, retries included: a device that stops answering shows
      // as unreachable within poll_interval + timeout.
      .read(all.length > 0 ? `read outlets 1-${all.length}` : 'open and read outlets', readAll, signal, { withinTimeout: true })
      .then(
        async (map) => {
          slot.lastPollAt = Date.now();
          slot.lastPollMs = Math.round(this.#now() - started);
          for (const [n, p] of map) this.#setPower(slot, n, p);
          // Servers follow at once, before "reachable" is told and before the metering read: a
          // device never shows reachable beside server states derived from unknown outlets.
          this.#deriveAll();
          this.#setReachable(slot, true, null);
          const meter = slot.d.device.meter;
          if (slot.d.device.caps.metering && meter) {
            try {
              slot.readings = await slot.d.queue.read('read metering', (s) => meter.call(slot.d.device, all, s), signal);
              this.events.emit('device.metered', { device: slot.d.id, at: new Date().toISOString(), readings: Object.fromEntries(slot.readings) });
            } catch (err) {
              this.#log.debug({ device: slot.d.id, err: toOckleError(err).message }, 'metering read failed');
            }
          }
        },
        (err: unknown) => {
          if (err instanceof OperationAbortedError && this.#closed) return;
          this.#deviceFailed(slot, toOckleError(err).message);
        },
      )
      .finally(() => {
        slot.polling = null;
        this.#deriveAll();
      });
    return slot.polling;
  }

  #setReachable(slot: DeviceSlot, reachable: boolean, error: string | null): void {
    const before = slot.reachable;
    slot.reachable = reachable;
    slot.error = error;
    if (before === reachable) return;
    if (reachable) {
      if (before === false) this.#log.info({ device: slot.d.id }, 'device reachable again');
      this.events.emit('device.reachable', { device: slot.d.id });
    } else {
      this.#log.warn({ device: slot.d.id, error }, 'device unreachable');
      this.events.emit('device.unreachable', { device: slot.d.id, message: error ?? 'unreachable' });
    }
  }

  /** A device that did not answer: unreachable, and none of its outlets is known any more. */
  #deviceFailed(slot: DeviceSlot, message: string): void {
    this.#setReachable(slot, false, message);
    for (let n = 1; n <= slot.power.length; n++) this.#setPower(slot, n, 'unknown');
  }

  /**
   * Reads a server's outlets now, one read per device through its queue. A device that does not
   * answer is marked unreachable (its outlets unknown), exactly as a failed poll would.
   */
  async #readServer(s: RuntimeServer, signal: AbortSignal): Promise<OutletsRead> {
    const byDevice = new Map<string, number[]>();
    for (const o of s.outlets) {
      const list = byDevice.get(o.device) ?? [];
      list.push(o.outlet);
      byDevice.set(o.device, list);
    }
    await Promise.all(
      [...byDevice].map(async ([id, outlets]) => {
        const slot = this.#devices.get(id)!;
        try {
          const map = await slot.d.queue.read(`read outlet${outlets.length > 1 ? 's' : ''} ${outlets.join(', ')}`, (sg) => slot.d.device.read(outlets, sg), signal, { withinTimeout: true });
          this.#setReachable(slot, true, null);
          for (const n of outlets) this.#setPower(slot, n, map.get(n) ?? 'unknown');
        } catch (err) {
          if (signal.aborted || (err as OckleError).code === 'OCKLE_OPERATION_ABORTED') throw err;
          this.#deviceFailed(slot, toOckleError(err).message);
        }
      }),
    );
    this.#derive(this.#servers.get(s.name)!);
    return this.#outletsState(s);
  }

  /**
   * What the last reads say about switching a server. An outlet that cannot be read (device
   * unreachable; unknown or switching on a device that reads back) blocks it. An outlet of a
   * board that cannot report (assumed read-back) never blocks: it is written, not trusted.
   */
  #outletsState(s: RuntimeServer): OutletsRead {
    const why: string[] = [];
    let on = 0;
    let off = 0;
    for (const o of s.outlets) {
      const slot = this.#devices.get(o.device)!;
      const p = slot.power[o.outlet - 1] ?? 'unknown';
      if (p === 'on') on++;
      if (p === 'off') off++;
      if (slot.reachable === false) why.push(`${o.device} unreachable`);
      else if (p === 'switching') why.push(`${s.name}/${o.name} (${o.device} outlet ${o.outlet}) is switching on the device`);
      else if (p === 'unknown' && slot.d.device.caps.readBack === 'real') why.push(`${s.name}/${o.name} (${o.device} outlet ${o.outlet}) reads unknown`);
    }
    const blocked = [...new Set(why)];
    return { blocked: blocked.length > 0 ? blocked.join(', ') : null, on, off, total: s.outlets.length, poweredForMs: this.#poweredFor(s), at: this.#now() };
  }

  #poweredFor(s: RuntimeServer): number | null {
    if (s.outlets.length === 0 || this.#serverPowers(s).some((p) => p !== 'on')) return null;
    const since = Math.max(...s.outlets.map((o) => this.#onSince.get(`${o.device}:${o.outlet}`) ?? this.#startedAt));
    return this.#now() - since;
  }

  #setPower(slot: DeviceSlot, outlet: number, power: Power): void {
    const previous = slot.power[outlet - 1];
    if (previous === undefined || previous === power) return;
    slot.power[outlet - 1] = power;
    // When each outlet was last seen turning on (the first read at start counts as now: ockle
    // cannot know how long it was on before, so it never assumes a boot is over).
    const key = `${slot.d.id}:${outlet}`;
    if (power === 'on') this.#onSince.set(key, this.#now());
    else if (power === 'off') this.#onSince.delete(key);
    this.events.emit('outlet.changed', { device: slot.d.id, outlet, power, previous });
  }

  /** Runs a server's tests (all at once). Without power there is nothing to probe. */
  #runTests(slot: ServerSlot, signal?: AbortSignal): Promise<void> {
    if (slot.testing) return slot.testing;
    const powers = this.#serverPowers(slot.s);
    const unpowered = powers.length > 0 && powers.every((p) => p === 'off');
    slot.testing = Promise.all(
      slot.s.tests.map(async (t, i) => {
        if (unpowered) {
          this.#setTest(slot, i, { result: 'FAILED', detail: 'no power', latencyMs: null, at: Date.now() });
          return;
        }
        const ac = new AbortController();
        const onAbort = (): void => ac.abort();
        signal?.addEventListener('abort', onAbort, { once: true });
        const timer = setTimeout(() => ac.abort(), t.timeoutMs);
        try {
          const probe = await t.tester.probe(ac.signal);
          this.#setTest(slot, i, { result: probe.passed ? 'PASSED' : 'FAILED', detail: probe.detail, latencyMs: probe.latencyMs, at: Date.now() });
        } catch (err) {
          const detail = ac.signal.aborted && !signal?.aborted ? `no result within ${t.timeoutMs} ms` : toOckleError(err).message;
          if (!signal?.aborted && !this.#closed) this.#setTest(slot, i, { result: 'FAILED', detail, latencyMs: null, at: Date.now() });
        } finally {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        }
      }),
    )
      .then(() => undefined)
      .finally(() => {
        slot.testing = null;
        this.#derive(slot);
        if (!signal?.aborted) this.#keepalive(slot);
      });
    return slot.testing;
  }

  /**
   * Keep-alive: a server ockle brought up (its last action was a successful on or cycle) whose
   * tests fail `keepaliveFailures` runs in a row is power-cycled, alone, through the sequencer.
   */
  #keepalive(slot: ServerSlot): void {
    const limit = slot.s.policy.keepaliveFailures;
    if (limit === null || this.#closed || !this.#sequencer) return;
    const shouldBeUp = slot.last?.phase === 'finished' && slot.last.result === 'ok' && slot.last.kind !== 'off';
    if (!shouldBeUp || slot.actionId || slot.tests.some((t) => t.result === 'NOT_RUN')) {
      slot.failedRuns = 0;
      return;
    }
    if (slot.tests.every((t) => t.result === 'PASSED')) {
      slot.failedRuns = 0;
      return;
    }
    // The rules of an on hold here too: an outlet that cannot be read is never a reason to
    // cycle (the count waits until it reads again), and a server powered for less than its
    // boot_timeout is still booting.
    const read = this.#outletsState(slot.s);
    if (read.blocked) {
      this.#log.debug({ server: slot.s.name, blocked: read.blocked }, 'keep-alive waits: an outlet cannot be read');
      return;
    }
    if (read.poweredForMs !== null && read.poweredForMs < slot.s.policy.bootTimeoutMs) return;
    if (++slot.failedRuns < limit) return;
    slot.failedRuns = 0;
    const failing = slot.s.tests.filter((_, i) => slot.tests[i]!.result === 'FAILED').map((t) => t.name);
    try {
      this.request({
        kind: 'cycle',
        targets: [slot.s.name],
        force: false,
        origin: 'plugin:auto-control',
        reason: `keep-alive: ${failing.join(', ')} failed ${limit} test runs in a row`,
      });
    } catch (err) {
      this.#log.warn({ server: slot.s.name, err: toOckleError(err).message }, 'keep-alive restart not started');
    }
  }

  #setTest(slot: ServerSlot, i: number, next: TestSlot): void {
    const prev = slot.tests[i]!;
    slot.tests[i] = next;
    if (prev.result !== next.result) {
      this.events.emit('test.changed', {
        server: slot.s.name,
        test: slot.s.tests[i]!.name,
        result: next.result,
        previous: prev.result,
        detail: next.detail,
      });
    }
  }

  #serverPowers(s: RuntimeServer): Power[] {
    return s.outlets.map((o) => this.#devices.get(o.device)?.power[o.outlet - 1] ?? 'unknown');
  }

  #derive(slot: ServerSlot): void {
    const unreachable = [...new Set(slot.s.outlets.map((o) => o.device))].filter(
      (d) => this.#devices.get(d)?.reachable === false,
    );
    // Held by a sequence but not started yet (waiting for dependencies): still its real state.
    const action: LastAction | null = slot.last;
    const { state, reason } = deriveServerState({
      outlets: this.#serverPowers(slot.s),
      tests: slot.tests.map((t) => t.result),
      action,
      unreachable,
      assumed: slot.s.outlets.map((o) => this.#devices.get(o.device)?.d.device.caps.readBack === 'assumed'),
      names: { outlets: slot.s.outlets.map((o) => o.name), tests: slot.s.tests.map((t) => t.name) },
    });
    const previous = slot.state;
    // After the action ended, what blocked a server is history, said as such.
    slot.reason =
      slot.blockedBy && slot.blockedIn && !slot.actionId
        ? `${reason}; not ${slot.blockedIn.kind === 'on' ? 'started' : 'stopped'} in action ${slot.blockedIn.id}: ${slot.blockedBy} failed`
        : reason;
    if (previous === state) return;
    slot.state = state;
    this.#log.info({ server: slot.s.name, state, previous, reason }, 'server state changed');
    this.events.emit('server.changed', { server: slot.s.name, state, previous, reason });
  }
  /** Re-derives only the server an outlet powers (an action touches few; a poll may touch all). */
  #deriveBound(device: string, outlet: number): void {
    const b = this.#bindings.get(device)?.get(outlet);
    if (b) this.#derive(this.#servers.get(b.server)!);
  }
  #deriveAll(): void {
    for (const slot of this.#servers.values()) this.#derive(slot);
  }

  // ── actions ────────────────────────────────────────────────────────────────────────────

  request(req: ActionRequest): ActionRecord {
    if (this.#closed) throw new OperationAbortedError('the daemon is stopping; no new actions are accepted');
    if (req.targets.length === 0) throw new RequestValidationError('an action needs at least one target server');
    const targets = [...new Set(req.targets)];
    for (const t of targets) if (!this.#servers.has(t)) throw new UnknownServerError(t, [...this.#servers.keys()]);
    if (req.kind === 'reset') {
      // A warm reset acts on exactly the named servers (like a forced switch): check every
      // device can do it before anything is sent.
      const cannot = targets.flatMap((t) =>
        this.#servers.get(t)!.s.outlets.flatMap((o) => (this.#devices.get(o.device)!.d.device.caps.reset ? [] : [`${t} (${o.device})`])),
      );
      if (cannot.length > 0)
        throw new RequestValidationError(`reset needs a BMC that can reset the machine; ${cannot.join(', ')} cannot`, {
          hint: 'Use cycle (a power cycle) instead; reset is for ipmi and redfish devices.',
        });
      req = { ...req, force: true };
    }
    if (!req.force) return this.#requestSequenced({ ...req, targets });
    const holders = (): string[] => [...new Set(targets.flatMap((t) => (this.#servers.get(t)!.actionId ? [this.#servers.get(t)!.actionId!] : [])))];
    if (!req.queue) {
      for (const t of targets) {
        const held = this.#servers.get(t)!.actionId;
        if (held) throw new ActionBusyError(t, held);
      }
    }
    const { queue: _queue, ...journaled } = req;
    const record = this.#journal.start({ ...journaled, targets });
    this.events.emit('action.started', { action: record });
    this.#log.info(
      { actionId: record.id, origin: req.origin, kind: req.kind, targets, force: req.force, reason: req.reason },
      'action started',
    );
    const abort = new AbortController();
    const done = (async () => {
      // --queue: wait for the actions holding these servers, then switch (as a sequence does).
      // (No await unless there is someone to wait for: the servers are taken in this same turn.)
      if (holders().length > 0 && !(await this.#waitForHolders(record.id, holders, abort.signal))) return;
      for (const t of targets) {
        const slot = this.#servers.get(t)!;
        slot.actionId = record.id;
        slot.last = { kind: req.kind, force: req.force, phase: 'running' };
        this.#derive(slot);
      }
      await this.#runForced(record, targets, abort.signal);
    })().finally(() => this.#running.delete(record.id));
    this.#running.set(record.id, { abort, done });
    return this.#journal.get(record.id)!;
  }

  /** The servers a sequenced action would switch: the closure minus those already in the goal state. */
  #sequenceSet(kind: 'on' | 'off', targets: readonly string[]): { servers: string[]; skipped: string[] } {
    const goal: readonly OpState[] = kind === 'on' ? ['OK', 'FORCED_ON'] : ['OFF', 'FORCED_OFF'];
    const closure = this.#tree.closure(targets, kind);
    return {
      servers: closure.filter((n) => !goal.includes(this.#servers.get(n)!.state)),
      skipped: closure.filter((n) => goal.includes(this.#servers.get(n)!.state)),
    };
  }

  /**
   * What a sequenced action would do, without touching anything: waves, per-device order, and
   * the expected critical path from learned boot times (the last `up` step in the journal) or,
   * never seen, the configured timeout.
   */
  plan(kind: 'on' | 'off', targetsIn: readonly string[] | 'all'): Plan {
    const targets = targetsIn === 'all' ? this.#tree.order() : [...new Set(targetsIn)];
    for (const t of targets) if (!this.#servers.has(t)) throw new UnknownServerError(t, [...this.#servers.keys()]);
    const { servers, skipped } = this.#sequenceSet(kind, targets);
    const inSet = new Set(servers);
    const before = (n: string): string[] =>
      (kind === 'on' ? this.#tree.dependencies(n) : this.#tree.dependents(n)).filter((m) => inSet.has(m));
    const learned = this.#learnedBoot;
    const expected = servers.map((n) => {
      const slot = this.#servers.get(n)!;
      if (kind === 'on') {
        const l = learned.get(n);
        return l !== undefined ? { server: n, ms: l, source: 'learned' as const } : { server: n, ms: slot.s.policy.bootTimeoutMs, source: 'timeout' as const };
      }
      return slot.s.controls.length > 0
        ? { server: n, ms: slot.s.policy.shutdownTimeoutMs, source: 'timeout' as const }
        : { server: n, ms: 0, source: 'none' as const };
    });
    const cost = new Map(expected.map((e) => [e.server, e.ms]));
    const depth = new Map<string, number>();
    const finish = new Map<string, { ms: number; via: string | null }>();
    for (const n of servers) {
      const pre = before(n);
      depth.set(n, pre.length === 0 ? 0 : Math.max(...pre.map((m) => depth.get(m)!)) + 1);
      const best = pre.reduce<{ ms: number; via: string | null }>((b, m) => (finish.get(m)!.ms > b.ms ? { ms: finish.get(m)!.ms, via: m } : b), { ms: 0, via: null });
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
      for (const o of this.#servers.get(n)!.s.outlets) {
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
      devices: [...byDevice].map(([device, order]) => ({ device, staggerMs: this.#devices.get(device)!.d.staggerMs, order })),
      expected,
      criticalPath: { servers: path, ms: total },
    };
  }

  /** Installs the sequencer that carries out non-forced actions (the auto-control plugin). */
  setSequencer(seq: Sequencer | null): void {
    this.#sequencer = seq;
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
    const seqKind = req.kind === 'off' ? 'off' : 'on';
    const setFor = (): string[] => (req.kind === 'cycle' ? [...req.targets] : this.#sequenceSet(seqKind, req.targets).servers);
    const holders = (list: readonly string[]): string[] => [
      ...new Set(list.flatMap((n) => (this.#servers.get(n)!.actionId ? [this.#servers.get(n)!.actionId!] : []))),
    ];
    // Every server the request may touch, goal state or not: a server held by another action is
    // in flux, and its state now says nothing about its state when this action gets to it.
    const reach = req.kind === 'cycle' ? [...req.targets] : this.#tree.closure(req.targets, seqKind);
    let servers = setFor();
    if (!req.queue) {
      for (const n of reach) {
        const held = this.#servers.get(n)!.actionId;
        if (held) throw new ActionBusyError(n, held);
      }
    }
    const { queue: _queue, ...journaled } = req;
    const record = this.#journal.start(journaled);
    this.events.emit('action.started', { action: record });
    this.#log.info({ actionId: record.id, origin: req.origin, kind: req.kind, targets: req.targets, reason: req.reason }, 'action started');
    const abort = new AbortController();
    // Every server in progress waits on this one signal (sleeps, queue slots): not a leak.
    setMaxListeners(0, abort.signal);
    const done = (async () => {
      // Queued: wait for the actions holding our servers, then plan again from the states then.
      if (holders(reach).length > 0) {
        if (!(await this.#waitForHolders(record.id, () => holders(reach), abort.signal))) return;
        servers = setFor();
      }
      this.#step(record.id, {
        op: 'plan',
        ok: true,
        detail: servers.length === 0 ? `every server is already ${req.kind}` : `${req.kind}: ${servers.join(', ')}`,
      });
      for (const n of servers) {
        const slot = this.#servers.get(n)!;
        slot.actionId = record.id;
        slot.blockedBy = null;
      }
      const inSet = new Set(servers);
      const kind = req.kind === 'off' ? 'off' : 'on';
      this.#progress.set(
        record.id,
        new ProgressTracker(record.id, req.kind, servers, (n) =>
          req.kind === 'cycle' ? [] : (kind === 'on' ? this.#tree.dependencies(n) : this.#tree.dependents(n)).filter((m) => inSet.has(m)),
        ),
      );
      let result: Awaited<ReturnType<Sequencer>>;
      try {
        result = await seq({ action: record, servers, signal: abort.signal }, this.#ops);
      } catch (err) {
        const e = toOckleError(err);
        this.#log.error({ actionId: record.id, err: e.message }, 'sequencer failed');
        result = { status: 'failed', error: { code: e.code, message: e.message } };
      }
      if (abort.signal.aborted && result.status === 'ok') result = { status: 'cancelled' };
      const finished = this.#journal.finish(record.id, result.status, result.error);
      for (const n of servers) {
        const slot = this.#servers.get(n)!;
        slot.actionId = null;
        // Interrupted mid-server (cancel): its state comes from what is read, not from the plan.
        if (slot.last?.phase === 'running') slot.last = { ...slot.last, phase: 'finished', result: 'cancelled' };
        // A cancel blocks nothing: nobody failed, the action just stopped.
        if (result.status === 'cancelled') slot.blockedBy = slot.blockedIn = null;
        this.#derive(slot);
      }
      this.#log.info({ actionId: record.id, kind: record.kind, targets: record.targets, status: result.status, error: result.error }, 'action finished');
      this.events.emit('action.finished', { action: finished });
    })().finally(() => {
      this.#running.delete(record.id);
      this.#progress.delete(record.id);
    });
    this.#running.set(record.id, { abort, done });
    return this.#journal.get(record.id)!;
  }

  /**
   * A queued action waits until no other action holds its servers (`holders` says which do,
   * each time asked). False when it was cancelled meanwhile: then it is journaled as such.
   */
  async #waitForHolders(id: string, holders: () => string[], signal: AbortSignal): Promise<boolean> {
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    for (let h = holders(); h.length > 0; h = holders()) {
      this.#step(id, { op: 'queued', ok: true, detail: `waiting for ${h.join(', ')}` });
      await Promise.race([Promise.allSettled(h.map((x) => this.#running.get(x)?.done)), aborted]);
      if (signal.aborted) {
        const finished = this.#journal.finish(id, 'cancelled');
        this.events.emit('action.finished', { action: finished });
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
    this.#step(id, { op: 'cancel', ok: true, detail: `cancelled by ${origin}` });
    r.abort.abort(new OperationAbortedError(`cancelled by ${origin}`));
    return this.action(id);
  }

  /** Server operations for the sequencer. */
  readonly #ops: ServerOps = {
    tree: undefined as unknown as ServerTree,
    state: (n) => this.#servers.get(n)!.state,
    policy: (n) => this.#servers.get(n)!.s.policy,
    hasControls: (n) => this.#servers.get(n)!.s.controls.length > 0,
    hasTests: (n) => this.#servers.get(n)!.s.tests.length > 0,
    expectedBootMs: (n) => this.#learnedBoot.get(n),
    readOutlets: (n, signal) => this.#readServer(this.#servers.get(n)!.s, signal),
    switchOutlets: async (actionId, n, to, signal, given): Promise<SwitchCount> => {
      const slot = this.#servers.get(n)!;
      // Decide on a fresh read, never on a poll from seconds ago, and never switch on a guess.
      // A read the caller made a moment ago (at most a second) is fresh enough: the server is
      // held by this action, so only a hand at the PDU could have changed it since.
      const read = given && this.#now() - given.at <= 1000 ? given : await this.#readServer(slot.s, signal);
      if (read.blocked) {
        this.#step(actionId, { server: n, op: 'blocked', ok: false, detail: `blocked: ${read.blocked}; nothing switched` });
        throw new ServerBlockedError(n, read.blocked);
      }
      let already = 0;
      const results = await Promise.allSettled(
        slot.s.outlets.map((o) => {
          if (this.#alreadyThere(o, to)) {
            already++;
            this.#step(actionId, { server: n, device: o.device, outlet: o.outlet, op: 'already', ok: true, detail: `${o.device} outlet ${o.outlet} already reads ${to}: not switched` });
            return Promise.resolve();
          }
          return this.#switchOutlet(actionId, n, o, to, signal);
        }),
      );
      this.#derive(slot);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      return { switched: slot.s.outlets.length - already, already };
    },
    probe: async (n, signal) => {
      const slot = this.#servers.get(n)!;
      if (slot.s.tests.length === 0) {
        await Promise.all([...new Set(slot.s.outlets.map((o) => o.device))].map((d) => this.#poll(this.#devices.get(d)!, signal)));
        return this.#serverPowers(slot.s).every((p) => p === 'on');
      }
      await slot.testing;
      await this.#runTests(slot, signal);
      return slot.tests.every((t) => t.result === 'PASSED');
    },
    shutdown: async (actionId, n, signal) => {
      const slot = this.#servers.get(n)!;
      for (const c of slot.s.controls) {
        // The control's own time limit: a hung SSH session or command must not hold the sequence.
        const limit = new AbortController();
        const timer = c.timeoutMs !== undefined ? setTimeout(() => limit.abort(), c.timeoutMs) : undefined;
        const onAbort = (): void => limit.abort(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        try {
          await c.controller.shutdown(limit.signal).catch((err: unknown) => {
            if (limit.signal.aborted && !signal.aborted)
              throw new ControlTimeoutError(`no answer within timeout ${c.timeoutMs} ms`, { hint: `Check the host; raise timeout in [${c.name}] if it is slow to accept.` });
            throw err;
          });
          this.#step(actionId, { server: n, op: 'shutdown', ok: true, detail: `${c.name} (${c.type}) accepted the shutdown request` });
        } catch (err) {
          const e = toOckleError(err);
          this.#step(actionId, { server: n, op: 'shutdown', ok: false, detail: `${c.name} (${c.type}): ${e.message}` });
          throw e;
        } finally {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
        }
      }
    },
    mark: (n, m: ServerMark) => {
      const slot = this.#servers.get(n)!;
      const progress = slot.actionId ? this.#progress.get(slot.actionId)?.mark(n, m) : null;
      if (progress) this.events.emit('action.progress', progress);
      if (m.phase === 'blocked') {
        slot.blockedBy = m.by;
        slot.blockedIn = slot.actionId ? { id: slot.actionId, kind: this.#journal.get(slot.actionId)?.kind === 'off' ? 'off' : 'on' } : null;
      } else {
        slot.blockedBy = null;
        slot.blockedIn = null;
        slot.last =
          m.phase === 'running'
            ? { kind: m.kind, force: false, phase: 'running' }
            : { kind: m.kind, force: false, phase: 'finished', result: m.result, ...(m.permanent && { permanent: true }) };
      }
      this.#derive(slot);
    },
    step: (actionId, step) => this.#step(actionId, step),
    now: () => this.#now(),
  };

  /**
   * Whether an outlet already reads `to`, so a write would change nothing. Only a device that
   * reads back is trusted: a board with assumed read-back is always written (its relay may have
   * been switched by hand, or reset when it lost power).
   */
  #alreadyThere(o: RuntimeServer['outlets'][number], to: SwitchAction): boolean {
    const slot = this.#devices.get(o.device)!;
    return (to === 'on' || to === 'off') && slot.d.device.caps.readBack === 'real' && slot.reachable === true && slot.power[o.outlet - 1] === to;
  }

  /** Switches every outlet of the targets, confirms by reading back, then records the result. */
  async #runForced(record: ActionRecord, targets: readonly string[], signal: AbortSignal): Promise<void> {
    // A forced on/off reads each outlet first: one already there is journaled, not written
    // again (a BMC host that a clean shutdown already powered off gets no "power off").
    const kind = record.kind;
    if (kind === 'on' || kind === 'off')
      await Promise.allSettled(targets.map((t) => this.#readServer(this.#servers.get(t)!.s, signal)));
    const results = await Promise.allSettled(
      targets.flatMap((t) =>
        this.#servers.get(t)!.s.outlets.map((o) => {
          if (this.#alreadyThere(o, kind)) {
            this.#step(record.id, { server: t, device: o.device, outlet: o.outlet, op: 'already', ok: true, detail: `${o.device} outlet ${o.outlet} already reads ${kind}: not switched` });
            return Promise.resolve();
          }
          const dev = this.#devices.get(o.device)!;
          if ((kind === 'on' || kind === 'off') && dev.reachable === false) {
            // It did not answer the read a moment ago: a write would only wait for its timeout.
            const e = new DeviceUnreachableError(o.device, `${o.device} unreachable: ${dev.error ?? 'no answer'}; outlet ${o.outlet} not switched`);
            this.#step(record.id, { server: t, device: o.device, outlet: o.outlet, op: 'error', ok: false, detail: e.message });
            return Promise.reject(e);
          }
          return this.#switchOutlet(record.id, t, o, kind, signal);
        }),
      ),
    );
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => toOckleError(r.reason));
    let status: 'ok' | 'failed' | 'cancelled' = 'ok';
    let error: { code: string; message: string } | undefined;
    if (failures.length > 0) {
      const aborted = failures.every((f) => f.code === 'OCKLE_OPERATION_ABORTED');
      status = aborted ? 'cancelled' : 'failed';
      const first = failures.find((f) => f.code !== 'OCKLE_OPERATION_ABORTED') ?? failures[0]!;
      error = {
        code: first.code,
        message: failures.length === 1 ? first.message : `${first.message} (and ${failures.length - 1} more)`,
      };
    }
    const finished = this.#journal.finish(record.id, status, error);
    for (const t of targets) {
      const slot = this.#servers.get(t)!;
      slot.actionId = null;
      slot.last = { kind: record.kind, force: record.force, phase: 'finished', result: status };
      this.#derive(slot);
    }
    this.#log.info(
      { actionId: record.id, origin: record.origin, kind: record.kind, targets, status, error },
      'action finished',
    );
    this.events.emit('action.finished', { action: finished });
    // Prove what the switch did: tests run now, not at the next interval.
    if (!this.#closed) for (const t of targets) void this.#runTests(this.#servers.get(t)!);
  }

  #step(actionId: string, step: Parameters<ActionJournal['step']>[1]): void {
    if (step.op === 'up' && step.server && step.ms !== undefined) this.#learnedBoot.set(step.server, step.ms);
    const s = this.#journal.step(actionId, step);
    this.events.emit('action.progressed', { actionId, step: s });
  }

  async #switchOutlet(
    actionId: string,
    server: string,
    o: RuntimeServer['outlets'][number],
    kind: ActionRecord['kind'],
    signal: AbortSignal,
  ): Promise<void> {
    const slot = this.#devices.get(o.device)!;
    const where = { server, device: o.device, outlet: o.outlet };
    try {
      if (kind === 'cycle' && !slot.d.device.caps.cycle) {
        // Emulated cycle: off, confirmed, a pause for the PSU to drain, then on.
        await this.#write(actionId, slot, o.outlet, 'off', signal);
        await this.#confirm(actionId, slot, o.outlet, 'off', signal);
        this.#step(actionId, { ...where, op: 'wait', ok: true, detail: `off for ${slot.d.cycleDelayMs} ms (emulated cycle)` });
        await sleep(slot.d.cycleDelayMs, signal);
        await this.#write(actionId, slot, o.outlet, 'on', signal);
        await this.#confirm(actionId, slot, o.outlet, 'on', signal);
      } else {
        await this.#write(actionId, slot, o.outlet, kind, signal);
        // A reset keeps the power on: no off phase to wait for, as a cycle has.
        await this.#confirm(actionId, slot, o.outlet, kind === 'off' ? 'off' : 'on', signal, kind === 'cycle');
      }
    } catch (err) {
      const e = toOckleError(err);
      // A failure at the transport (no answer, port gone) says the device is unreachable: its
      // outlets are unknown from now on, not what they read before.
      if (e.code === 'OCKLE_DEVICE_UNREACHABLE' || e.code === 'OCKLE_DEVICE_TIMEOUT') {
        this.#deviceFailed(slot, e.message);
        this.#deriveBound(o.device, o.outlet);
      }
      this.#step(actionId, { ...where, op: 'error', ok: false, detail: e.message });
      throw e;
    }
  }

  /** One switch command through the device queue; a failed write is re-read, never blindly repeated. */
  async #write(actionId: string, slot: DeviceSlot, outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    const binding = this.#bindings.get(slot.d.id)?.get(outlet);
    const where = { server: binding?.server, device: slot.d.id, outlet };
    const target: Power | undefined = action === 'cycle' || action === 'reset' ? undefined : action;
    if (action !== 'off' && slot.d.staggerMs > 0) {
      // Reserve the next switch-on time first, so concurrent callers line up behind each other.
      const at = Math.max(this.#now(), slot.nextOnAt);
      slot.nextOnAt = at + slot.d.staggerMs;
      if (at > this.#now()) await sleep(at - this.#now(), signal);
    }
    await slot.d.queue.write(`switch outlet ${outlet} ${action}`, (s) => slot.d.device.switch(outlet, action, s), {
      signal,
      // A cycle cannot be verified by one read (the outlet reads on before and after).
      ...(target && {
        verify: async (s: AbortSignal) => {
          const m = await slot.d.device.read([outlet], s);
          return m.get(outlet) === target;
        },
      }),
    });
    this.#step(actionId, { ...where, op: 'switch', ok: true, detail: `${action} sent to ${slot.d.id} outlet ${outlet}` });
  }

  /**
   * Reads the outlet back until it shows `want` (after a native cycle: until it has been seen
   * off and then on again, or reads on at the deadline). The state is never updated from
   * what was written, only from what is read.
   */
  async #confirm(
    actionId: string,
    slot: DeviceSlot,
    outlet: number,
    want: 'on' | 'off',
    signal: AbortSignal,
    cycle = false,
  ): Promise<void> {
    const binding = this.#bindings.get(slot.d.id)?.get(outlet);
    const where = { server: binding?.server, device: slot.d.id, outlet };
    const deadline = this.#now() + slot.d.confirmTimeoutMs;
    let sawOff = false;
    let last: Power = 'unknown';
    for (;;) {
      const map = await slot.d.queue.read(`read outlet ${outlet}`, (s) => slot.d.device.read([outlet], s), signal);
      last = map.get(outlet) ?? 'unknown';
      this.#setPower(slot, outlet, last);
      this.#setReachable(slot, true, null);
      if (last === 'off') sawOff = true;
      const done = cycle ? sawOff && last === 'on' : last === want;
      if (done) {
        this.#step(actionId, { ...where, op: 'confirm', ok: true, detail: `outlet ${outlet} reads ${last}` });
        this.#deriveBound(slot.d.id, outlet);
        return;
      }
      if (this.#now() >= deadline) break;
      await sleep(this.#confirmIntervalMs, signal);
    }
    this.#deriveBound(slot.d.id, outlet);
    if (cycle && last === 'on') {
      this.#step(actionId, { ...where, op: 'confirm', ok: true, detail: `outlet ${outlet} reads on (off phase not observed)` });
      return;
    }
    throw new DeviceRefusedError(
      slot.d.id,
      `${slot.d.id} outlet ${outlet} still reads ${last} ${slot.d.confirmTimeoutMs} ms after "${cycle ? 'cycle' : want}" was accepted`,
      { hint: 'The device accepted the command but the outlet did not change: check it is not locked or in a delayed-switch mode.' },
    );
  }

  async waitFor(id: string, signal?: AbortSignal): Promise<ActionRecord> {
    const current = this.action(id);
    if (current.status !== 'running') return current;
    try {
      await this.events.once('action.finished', (p) => p.action.id === id, signal);
    } catch {
      // aborted: answer with the record as it is now
    }
    return this.action(id);
  }

  // ── read side ──────────────────────────────────────────────────────────────────────────

  health(): Health {
    const unreachable = [...this.#devices.values()].filter((d) => d.reachable === false).map((d) => d.d.id);
    const unwritable = this.#journal.unwritable;
    return {
      status: unreachable.length === 0 && !unwritable ? 'ok' : 'degraded',
      version: this.#version,
      uptimeS: Math.round((this.#now() - this.#startedAt) / 1000),
      servers: this.#servers.size,
      devices: this.#devices.size,
      unreachableDevices: unreachable,
      journal: { writable: !unwritable, error: unwritable?.message ?? null, repairs: this.#journal.repairs },
    };
  }

  servers(): readonly ServerStatus[] {
    return this.#tree.order().map((n) => this.server(n));
  }

  server(name: string): ServerStatus {
    const slot = this.#servers.get(name);
    if (!slot) throw new UnknownServerError(name, [...this.#servers.keys()]);
    const s = slot.s;
    return {
      name: s.name,
      description: s.description,
      host: s.host ?? null,
      state: slot.state,
      reason: slot.reason,
      outlets: s.outlets.map((o) => {
        const d = this.#devices.get(o.device);
        return {
          name: o.name,
          device: o.device,
          outlet: o.outlet,
          power: d?.power[o.outlet - 1] ?? 'unknown',
          readBack: d?.d.device.caps.readBack ?? 'real',
        };
      }),
      controls: s.controls.map((c) => ({ name: c.name, type: c.type })),
      tests: s.tests.map((t, i) => {
        const r = slot.tests[i]!;
        return {
          name: t.name,
          type: t.type,
          result: r.result,
          detail: r.detail,
          latencyMs: r.latencyMs,
          at: r.at === null ? null : new Date(r.at).toISOString(),
        };
      }),
      dependencies: this.#tree.dependencies(name),
      dependents: this.#tree.dependents(name),
      actionId: slot.actionId,
    };
  }

  #treeView(): TreeView {
    return {
      nodes: this.#tree.order().map((n) => ({ name: n, state: this.#servers.get(n)!.state })),
      edges: this.#tree.order().flatMap((n) => this.#tree.dependencies(n).map((d) => ({ from: n, to: d }))),
      order: this.#tree.order(),
    };
  }

  devices(): readonly DeviceStatus[] {
    return [...this.#devices.values()]
      .sort((a, b) => a.d.id.localeCompare(b.d.id))
      .map((slot) => {
        const info = slot.d.device.info?.() ?? {};
        const names = info.outletNames;
        return {
          id: slot.d.id,
          type: slot.d.type,
          description: slot.d.description,
          reachable: slot.reachable,
          error: slot.error,
          readBack: slot.d.device.caps.readBack,
          outletCount: slot.d.device.outletCount,
          outlets: slot.power.map((power, i) => {
            const b = this.#bindings.get(slot.d.id)?.get(i + 1);
            return {
              outlet: i + 1,
              power,
              name: names?.get(i + 1) ?? null,
              boundTo: b ? `${b.server}/${b.section}` : null,
              reading: slot.readings.get(i + 1) ?? null,
            };
          }),
          model: info.model ?? null,
          firmware: info.firmware ?? null,
          details: info.details ?? {},
          lastPollAt: slot.lastPollAt === null ? null : new Date(slot.lastPollAt).toISOString(),
          lastPollMs: slot.lastPollMs,
        };
      });
  }

  actions(query: ActionQuery = {}): readonly ActionRecord[] {
    return this.#journal.list(query);
  }

  action(id: string): ActionRecord {
    const a = this.#journal.get(id);
    if (!a) throw new OckleError('OCKLE_ACTION_UNKNOWN', `no action "${id}"`);
    return a;
  }

  configProblems(): readonly ConfigProblem[] {
    return this.#problems;
  }

  /** Running actions (for reload and shutdown decisions). */
  get busy(): boolean {
    return this.#running.size > 0;
  }

  /** Resolves when no action is running. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running.values()].map((r) => r.done));
  }

  /**
   * Stops monitoring and aborts running actions: no new write is sent after this; a write
   * already on the wire finishes in its queue. Never switches anything. Devices are closed by
   * their owner (the daemon).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#monitoring = false;
    for (const d of this.#devices.values()) if (d.timer) clearTimeout(d.timer);
    for (const s of this.#servers.values()) if (s.timer) clearTimeout(s.timer);
    for (const r of this.#running.values()) r.abort.abort(new OperationAbortedError('daemon stopping'));
    await Promise.allSettled([...this.#running.values()].map((r) => r.done));
    await Promise.allSettled([...this.#devices.values()].map((d) => d.polling));
    await Promise.allSettled([...this.#servers.values()].map((s) => s.testing));
  }
}
