/**
 * What is known about every outlet, test and server of one configuration, and how it is kept
 * fresh: device polls, test runs, fresh reads for a decision, and the derivation of server
 * states. Emits outlet, device, test and server events.
 *
 * Truth comes from the hardware: a power state is only ever set from a read, never from what a
 * write was meant to do. Nothing here writes to a device.
 */
import type { Logger } from 'pino';
import type { Power } from '../../drivers/types.js';
import { TimeoutGroups } from '../abort.js';
import { OperationAbortedError, toOckleError, type OckleError } from '../errors.js';
import type { EventBus } from './event-bus.js';
import type { LastFinished } from './server-memory.js';
import type { OckleEvents, OpState, TestState } from './model.js';
import { deriveServerState, runningState, type Derived, type LastAction } from './op-state.js';
import type { OutletsRead } from './sequence.js';
import type { DeviceCarry, DeviceSlot, RuntimeCarry, RuntimeDevice, RuntimeServer, ServerSlot, TestSlot } from './slots.js';
import { ServerTree } from './tree.js';
import { ReadBatches } from './read-batch.js';

export interface StateOptions {
  readonly devices: readonly RuntimeDevice[];
  readonly servers: readonly RuntimeServer[];
  readonly events: EventBus<OckleEvents>;
  readonly log: Logger;
  /** The monotonic clock of durations and deadlines. */
  readonly now: () => number;
  /** Each server's last finished action (the journal's, see lastActions): it shapes its state (FORCED_ON…) and keep-alive. */
  readonly last: ReadonlyMap<string, LastFinished>;
  readonly carry?: RuntimeCarry;
}

export class LabState {
  readonly tree: ServerTree;
  readonly devices = new Map<string, DeviceSlot>();
  readonly servers = new Map<string, ServerSlot>();
  /** device id → outlet → the server (and its outlet section) bound to it */
  readonly bindings = new Map<string, Map<number, { server: string; section: string }>>();
  readonly startedAt: number;
  readonly now: () => number;
  readonly events: EventBus<OckleEvents>;
  /** Called after every finished test run of a server (keep-alive listens here). */
  onTested: ((slot: ServerSlot) => void) | null = null;
  #monitoring = false;
  #closed = false;
  readonly #log: Logger;
  /** device:outlet → when it was seen turning on */
  readonly #onSince = new Map<string, number>();
  readonly #probeTimeouts: TimeoutGroups;
  readonly #reads = new ReadBatches();

  constructor(o: StateOptions) {
    this.events = o.events;
    this.#log = o.log;
    this.now = o.now;
    this.#probeTimeouts = new TimeoutGroups(() => new OperationAbortedError('test run aborted'), o.now);
    this.startedAt = o.carry?.startedAt ?? o.now();
    this.tree = new ServerTree(o.servers.map((s) => ({ name: s.name, dependencies: s.dependencies })));
    for (const d of o.devices) {
      const kept = o.carry?.devices.get(d.id);
      this.devices.set(d.id, {
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
      for (const b of s.outlets) {
        let m = this.bindings.get(b.device);
        if (!m) this.bindings.set(b.device, (m = new Map()));
        m.set(b.outlet, { server: s.name, section: b.name });
      }
      const kept = o.carry?.servers.get(s.name);
      const fresh = (): TestSlot => ({ result: 'NOT_RUN', detail: 'not run yet', latencyMs: null, at: null });
      this.servers.set(s.name, {
        s,
        fixed: {
          power: this.#powerOutlets(s),
          devices: [...new Set(s.outlets.map((b) => b.device))],
          assumed: this.#powerOutlets(s).map((b) => this.devices.get(b.device)?.d.device.caps.readBack === 'assumed'),
          names: { outlets: this.#powerOutlets(s).map((b) => b.name), tests: s.tests.map((t) => t.name) },
        },
        tests: kept?.tests && kept.tests.length === s.tests.length ? kept.tests.map((t) => ({ ...t })) : s.tests.map(fresh),
        state: kept?.state ?? 'UNKNOWN',
        reason: 'not read yet',
        last: null,
        actionId: null,
        blockedBy: null,
        blockedIn: null,
        timer: null,
        testing: null,
      });
    }
    for (const [name, last] of o.last) {
      const slot = this.servers.get(name);
      if (slot) slot.last = { ...last, phase: 'finished' };
    }
    // A reload: servers on kept devices show their state at once, not UNKNOWN until a poll.
    if (o.carry) this.deriveAll();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** What this state knows, for the next one after a reload (see RuntimeCarry). */
  carry(): RuntimeCarry {
    const devices = new Map<string, DeviceCarry>();
    for (const [id, slot] of this.devices) {
      const onSince = new Map<number, number>();
      for (let n = 1; n <= slot.power.length; n++) {
        const at = this.#onSince.get(`${id}:${n}`);
        if (at !== undefined) onSince.set(n, at);
      }
      devices.set(id, { power: [...slot.power], reachable: slot.reachable, error: slot.error, lastPollAt: slot.lastPollAt, lastPollMs: slot.lastPollMs, readings: slot.readings, onSince });
    }
    const servers = new Map([...this.servers].map(([name, slot]) => [name, { tests: slot.tests.map((t) => ({ ...t })), state: slot.state }]));
    return { devices, servers, startedAt: this.startedAt };
  }

  // ── monitoring ───────────────────────────────────────────────────────────────────────

  /** Reads the devices (every one, or `only`), never writes, then derives every server. */
  async adopt(signal?: AbortSignal, only?: ReadonlySet<string>): Promise<void> {
    await Promise.all([...this.devices.values()].filter((slot) => !only || only.has(slot.d.id)).map((slot) => this.poll(slot, signal)));
    this.deriveAll();
  }

  /** Runs every server's tests once (servers without power are marked without probing); `only`: just these. */
  async testAll(signal?: AbortSignal, only?: ReadonlySet<string>): Promise<void> {
    await Promise.all([...this.servers.values()].filter((slot) => !only || only.has(slot.s.name)).map((slot) => this.runTests(slot, signal)));
  }

  startMonitoring(): void {
    if (this.#monitoring || this.#closed) return;
    this.#monitoring = true;
    for (const slot of this.devices.values()) this.#schedulePoll(slot);
    for (const slot of this.servers.values()) this.#scheduleTests(slot);
  }

  #schedulePoll(slot: DeviceSlot): void {
    if (!this.#monitoring) return;
    slot.timer = setTimeout(() => void this.poll(slot).finally(() => this.#schedulePoll(slot)), slot.d.pollIntervalMs);
    slot.timer.unref();
  }
  #scheduleTests(slot: ServerSlot): void {
    if (!this.#monitoring || slot.s.tests.length === 0) return;
    slot.timer = setTimeout(() => void this.runTests(slot).finally(() => this.#scheduleTests(slot)), slot.s.testIntervalMs);
    slot.timer.unref();
  }

  /** One read of all of a device's outlets (one round trip on bulk-read devices), then metering. */
  poll(slot: DeviceSlot, signal?: AbortSignal): Promise<void> {
    if (slot.polling) return slot.polling;
    const dev = slot.d.device;
    let all = Array.from({ length: dev.outletCount }, (_, i) => i + 1);
    const started = this.now();
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
          slot.lastPollMs = Math.round(this.now() - started);
          for (const [n, p] of map) this.setPower(slot, n, p);
          // Servers follow at once, before "reachable" is told and before the metering read: a
          // device never shows reachable beside server states derived from unknown outlets.
          this.deriveAll();
          this.setReachable(slot, true, null);
          const meter = dev.meter;
          if (dev.caps.metering && meter) {
            try {
              slot.readings = await slot.d.queue.read('read metering', (s) => meter.call(dev, all, s), signal);
              this.events.emit('device.metered', { device: slot.d.id, at: new Date().toISOString(), readings: Object.fromEntries(slot.readings) });
            } catch (err) {
              this.#log.debug({ device: slot.d.id, err: toOckleError(err).message }, 'metering read failed');
            }
          }
        },
        (err: unknown) => {
          if (err instanceof OperationAbortedError && this.#closed) return;
          this.deviceFailed(slot, toOckleError(err).message);
        },
      )
      .finally(() => {
        slot.polling = null;
        this.deriveAll();
      });
    return slot.polling;
  }

  setReachable(slot: DeviceSlot, reachable: boolean, error: string | null): void {
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
  deviceFailed(slot: DeviceSlot, message: string): void {
    this.setReachable(slot, false, message);
    for (let n = 1; n <= slot.power.length; n++) this.setPower(slot, n, 'unknown');
  }

  setPower(slot: DeviceSlot, outlet: number, power: Power): void {
    const previous = slot.power[outlet - 1];
    if (previous === undefined || previous === power) return;
    slot.power[outlet - 1] = power;
    // When each outlet was last seen turning on (the first read at start counts as now: ockle
    // cannot know how long it was on before, so it never assumes a boot is over).
    const key = `${slot.d.id}:${outlet}`;
    if (power === 'on') this.#onSince.set(key, this.now());
    else if (power === 'off') this.#onSince.delete(key);
    this.events.emit('outlet.changed', { device: slot.d.id, outlet, power, previous });
  }

  // ── fresh reads for a decision ───────────────────────────────────────────────────────

  /** Reads a server's outlets now (see readOutlets) and derives its state. */
  async readServer(s: RuntimeServer, signal: AbortSignal): Promise<OutletsRead> {
    await this.readOutlets(s.outlets, signal);
    this.derive(this.servers.get(s.name)!);
    return this.outletsState(s);
  }

  /**
   * Reads these outlets now, one read per device through its queue. A device that does not
   * answer is marked unreachable (its outlets unknown), exactly as a failed poll would.
   */
  async readOutlets(outlets: readonly { readonly device: string; readonly outlet: number }[], signal: AbortSignal): Promise<void> {
    const byDevice = new Map<string, number[]>();
    for (const o of outlets) {
      const list = byDevice.get(o.device) ?? [];
      if (!list.includes(o.outlet)) list.push(o.outlet);
      byDevice.set(o.device, list);
    }
    await Promise.all(
      [...byDevice].map(async ([id, ns]) => {
        const slot = this.devices.get(id)!;
        try {
          const map = await this.readDevice(slot, ns, signal, true);
          this.setReachable(slot, true, null);
          for (const n of ns) this.setPower(slot, n, map.get(n) ?? 'unknown');
        } catch (err) {
          if (signal.aborted || (err as OckleError).code === 'OCKLE_OPERATION_ABORTED') throw err;
          this.deviceFailed(slot, toOckleError(err).message);
        }
      }),
    );
  }

  /**
   * Reads outlets of one device through its queue, together with every other read of that
   * device asked for in the same turn under the same signal (src/core/read-batch.ts).
   */
  readDevice(slot: DeviceSlot, outlets: readonly number[], signal: AbortSignal, withinTimeout = false): Promise<ReadonlyMap<number, Power>> {
    return this.#reads.read(slot, outlets, signal, withinTimeout);
  }

  /**
   * The outlets whose power says something: all but those of on-only devices (Wake-on-LAN),
   * which cannot report or cut power; a server with only those is judged by its tests.
   */
  #powerOutlets(s: RuntimeServer): readonly RuntimeServer['outlets'][number][] {
    return s.outlets.filter((o) => !this.devices.get(o.device)?.d.device.caps.onOnly);
  }

  /**
   * What the last reads say about switching a server. An outlet that cannot be read (device
   * unreachable; unknown or switching on a device that reads back) blocks it. An outlet of a
   * board that cannot report (assumed read-back) never blocks: it is written, not trusted.
   */
  outletsState(s: RuntimeServer): OutletsRead {
    const why: string[] = [];
    let on = 0;
    let off = 0;
    const outlets = this.servers.get(s.name)?.fixed.power ?? this.#powerOutlets(s);
    for (const o of outlets) {
      const slot = this.devices.get(o.device)!;
      const p = slot.power[o.outlet - 1] ?? 'unknown';
      if (p === 'on') on++;
      if (p === 'off') off++;
      if (slot.reachable === false) why.push(`${o.device} unreachable`);
      else if (p === 'switching') why.push(`${s.name}/${o.name} (${o.device} outlet ${o.outlet}) is switching on the device`);
      else if (p === 'unknown' && slot.d.device.caps.readBack === 'real') why.push(`${s.name}/${o.name} (${o.device} outlet ${o.outlet}) reads unknown`);
    }
    const blocked = [...new Set(why)];
    return { blocked: blocked.length > 0 ? blocked.join(', ') : null, on, off, total: outlets.length, poweredForMs: this.#poweredFor(outlets, on), at: this.now() };
  }

  #poweredFor(outlets: readonly RuntimeServer['outlets'][number][], on: number): number | null {
    if (outlets.length === 0 || on !== outlets.length) return null;
    let since = -Infinity;
    for (const o of outlets) since = Math.max(since, this.#onSince.get(`${o.device}:${o.outlet}`) ?? this.startedAt);
    return this.now() - since;
  }

  serverPowers(s: RuntimeServer): Power[] {
    return (this.servers.get(s.name)?.fixed.power ?? this.#powerOutlets(s)).map((o) => this.devices.get(o.device)?.power[o.outlet - 1] ?? 'unknown');
  }

  // ── tests ────────────────────────────────────────────────────────────────────────────

  /** Runs a server's tests (all at once). Without power there is nothing to probe. */
  runTests(slot: ServerSlot, signal?: AbortSignal): Promise<void> {
    if (slot.testing) return slot.testing;
    const powers = this.serverPowers(slot.s);
    const unpowered = powers.length > 0 && powers.every((p) => p === 'off');
    const n = slot.s.tests.length;
    // One promise for the run (a sequence probes each server a few times per boot, a thousand
    // servers at once): most servers have one test, run without a Promise.all around it.
    slot.testing = (async (): Promise<void> => {
      try {
        if (n === 1) await this.#runTest(slot, 0, unpowered, signal);
        else await Promise.all(slot.s.tests.map((_, i) => this.#runTest(slot, i, unpowered, signal)));
      } finally {
        slot.testing = null;
        this.derive(slot);
        if (!signal?.aborted && !this.#closed) this.onTested?.(slot);
      }
    })();
    return slot.testing;
  }

  /** One test of a run; never rejects (a failure is the test's result). */
  async #runTest(slot: ServerSlot, i: number, unpowered: boolean, signal?: AbortSignal): Promise<void> {
    if (unpowered) return this.#setTest(slot, i, { result: 'FAILED', detail: 'no power', latencyMs: null, at: Date.now() });
    const t = slot.s.tests[i]!;
    // Its timeout's signal is shared with the test runs that start in the same millisecond
    // (a wave of a sequence probes a hundred servers at once): see TimeoutGroups.
    const lease = this.#probeTimeouts.join(t.timeoutMs, [signal], () => {});
    try {
      const probe = await t.tester.probe(lease.signal);
      this.#setTest(slot, i, { result: probe.passed ? 'PASSED' : 'FAILED', detail: probe.detail, latencyMs: probe.latencyMs, at: Date.now() });
    } catch (err) {
      const detail = lease.timedOut && !signal?.aborted ? `no result within ${t.timeoutMs} ms` : toOckleError(err).message;
      if (!signal?.aborted && !this.#closed) this.#setTest(slot, i, { result: 'FAILED', detail, latencyMs: null, at: Date.now() });
    } finally {
      lease.release();
    }
  }

  #setTest(slot: ServerSlot, i: number, next: TestSlot): void {
    const prev = slot.tests[i]!;
    slot.tests[i] = next;
    if (prev.result !== next.result)
      this.events.emit('test.changed', { server: slot.s.name, test: slot.s.tests[i]!.name, result: next.result, previous: prev.result, detail: next.detail });
  }

  // ── derivation ───────────────────────────────────────────────────────────────────────

  derive(slot: ServerSlot): void {
    // Held by a sequence but not started yet (waiting for dependencies): still its real state.
    const action: LastAction | null = slot.last;
    // Under a running action the state is the action's (runningState): nothing to gather.
    const { state, reason } = action?.phase === 'running' ? runningState(action) : this.#deriveFromReadings(slot, action);
    const previous: OpState = slot.state;
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
  #deriveFromReadings(slot: ServerSlot, action: LastAction | null): Derived {
    const f = slot.fixed;
    const unreachable = f.devices.filter((d) => this.devices.get(d)?.reachable === false);
    const tests: TestState[] = [];
    for (const t of slot.tests) tests.push(t.result);
    return deriveServerState({ outlets: this.serverPowers(slot.s), tests, action, unreachable, assumed: f.assumed, names: f.names });
  }
  /** Re-derives only the server an outlet powers (an action touches few; a poll may touch all). */
  deriveBound(device: string, outlet: number): void {
    const b = this.bindings.get(device)?.get(outlet);
    if (b) this.derive(this.servers.get(b.server)!);
  }
  deriveAll(): void {
    for (const slot of this.servers.values()) this.derive(slot);
  }

  /** Stops polls and test runs and waits for those under way. Never switches anything. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#monitoring = false;
    for (const d of this.devices.values()) if (d.timer) clearTimeout(d.timer);
    for (const s of this.servers.values()) if (s.timer) clearTimeout(s.timer);
    await Promise.allSettled([...this.devices.values()].map((d) => d.polling));
    await Promise.allSettled([...this.servers.values()].map((s) => s.testing));
  }
}
