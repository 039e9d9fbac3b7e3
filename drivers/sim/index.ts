/**
 * `sim` outlet device, controller and tester: simulated hardware with realistic latencies and
 * fault injection, for the demo config, the tests and the benchmarks.
 */
import { bool, duration, int, multilist, select } from '../../src/config/types.js';
import { DeviceRefusedError, DeviceUnreachableError, OckleError, OperationAbortedError, UnknownOutletError } from '../../src/errors.js';
import { defineDriver, type Controller, type DriverContext, type OutletDevice, type Power, type Probe, type Reading, type SwitchAction, type Tester } from '../types.js';
import { SimWorld, type DeviceFault } from './world.js';
import { sleep } from '../../src/timers.js';

/** Simulated latency; zero means none (a 0 ms timer still costs a millisecond or more). */
async function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms > 0) return sleep(ms, signal);
  if (signal.aborted) throw new OperationAbortedError();
}

export { SimWorld };

const worldOf = (ctx: DriverContext): SimWorld =>
  ctx.shared('sim-world', () => new SimWorld({ stateDir: ctx.stateDir }));


const deviceTemplate = {
  outlets: int({ min: 1, max: 64, default: 8, help: 'Number of outlets.' }),
  switch_latency: duration({ min: 0, default: 300, help: 'Time a switch command takes.' }),
  read_latency: duration({ min: 0, default: 20, help: 'Time a read of any number of outlets takes.' }),
  cycle_time: duration({ min: 0, default: 2000, help: 'Off time of a native cycle.' }),
  native_cycle: bool({ default: true, help: 'The device cycles by itself (otherwise the core emulates off → cycle_delay → on).' }),
  metering: bool({ default: true, help: 'The device reports watts, amps, volts and energy per outlet.' }),
  read_back: select({ choices: ['real', 'assumed'], default: 'real', help: 'assumed: behave like a board that cannot report its state.' }),
  max_concurrency: int({ min: 1, max: 16, default: 4, help: 'Operations the device accepts at once.' }),
  initial: select({ choices: ['on', 'off'], default: 'off', help: 'State of every outlet the first time the device is created (later: the persisted state).' }),
  load_watts: int({ min: 0, max: 5000, default: 150, help: 'Power drawn by an outlet that is on.' }),
  fault: multilist({ choices: ['unreachable', 'slow', 'refuse_switch', 'stuck'], default: [], help: 'Injected faults.' }),
};

export class SimOutlets implements OutletDevice {
  readonly caps: OutletDevice['caps'];
  readonly meter?: (outlets: readonly number[], signal: AbortSignal) => Promise<ReadonlyMap<number, Reading>>;
  readonly #world: SimWorld;
  readonly #spec: { outlets: number; switch_latency: number; read_latency: number; cycle_time: number; load_watts: number };

  constructor(
    readonly id: string,
    spec: {
      outlets: number;
      switch_latency: number;
      read_latency: number;
      cycle_time: number;
      native_cycle: boolean;
      metering: boolean;
      read_back: 'real' | 'assumed';
      max_concurrency: number;
      initial: 'on' | 'off';
      load_watts: number;
      fault: readonly DeviceFault[];
    },
    world: SimWorld,
  ) {
    this.#world = world;
    this.#spec = spec;
    this.caps = {
      cycle: spec.native_cycle,
      metering: spec.metering,
      bulkRead: true,
      readBack: spec.read_back,
      maxConcurrency: spec.max_concurrency,
    };
    world.device(id, spec.outlets, spec.initial);
    if (spec.fault.length > 0) world.setDeviceFaults(id, spec.fault);
    if (spec.metering) {
      this.meter = async (outlets, signal) => {
        await this.#enter(this.#spec.read_latency, signal, outlets);
        return new Map(outlets.map((n) => [n, this.#world.meter(this.id, n, this.#spec.load_watts)]));
      };
    }
  }

  get outletCount(): number {
    return this.#spec.outlets;
  }

  #slow(ms: number): number {
    return this.#world.deviceFaults(this.id).has('slow') ? ms * 10 : ms;
  }

  async #enter(latency: number, signal: AbortSignal, outlets: readonly number[]): Promise<void> {
    for (const n of outlets)
      if (!Number.isInteger(n) || n < 1 || n > this.#spec.outlets) throw new UnknownOutletError(this.id, n, this.#spec.outlets);
    if (signal.aborted) throw new OperationAbortedError();
    if (this.#world.deviceFaults(this.id).has('unreachable')) {
      await delay(Math.min(latency, 50), signal);
      throw new DeviceUnreachableError(this.id, `sim "${this.id}": no answer (fault "unreachable" injected)`, {
        hint: 'Remove `fault = unreachable` from the device file.',
      });
    }
    await delay(this.#slow(latency), signal);
  }

  async open(signal: AbortSignal): Promise<void> {
    await this.#enter(this.#spec.read_latency, signal, []);
  }

  async read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>> {
    await this.#enter(this.#spec.read_latency, signal, outlets);
    return new Map(outlets.map((n) => [n, this.#world.outlet(this.id, n)]));
  }

  async switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    await this.#enter(this.#spec.switch_latency, signal, [outlet]);
    const faults = this.#world.deviceFaults(this.id);
    if (faults.has('refuse_switch'))
      throw new DeviceRefusedError(this.id, `sim "${this.id}": outlet ${outlet} refused "${action}" (fault "refuse_switch" injected)`);
    if (action === 'cycle' && !this.caps.cycle) throw new OckleError('OCKLE_DEVICE_REPLY', `sim "${this.id}" cannot cycle natively`);
    if (action === 'reset') throw new OckleError('OCKLE_DEVICE_REPLY', `sim "${this.id}" is a PDU: it cannot warm-reset a machine`);
    this.#world.recordWrite(this.id, outlet, action);
    if (faults.has('stuck')) return;
    if (action === 'cycle') {
      this.#world.setPower(this.id, outlet, false);
      const t = setTimeout(() => this.#world.setPower(this.id, outlet, true), this.#spec.cycle_time);
      t.unref?.();
    } else {
      this.#world.setPower(this.id, outlet, action === 'on');
    }
  }

  info(): { model: string; outletNames: ReadonlyMap<number, string> } {
    return {
      model: 'ockle sim PDU',
      outletNames: new Map(Array.from({ length: this.#spec.outlets }, (_, i) => [i + 1, `outlet-${i + 1}`])),
    };
  }

  async close(): Promise<void> {
    await this.#world.close();
  }
}

export const simOutletDriver = defineDriver({
  kind: 'outlet',
  type: 'sim',
  description: 'Simulated PDU or relay board (demo, tests, benchmarks).',
  template: deviceTemplate,
  outletCount: (spec) => spec.outlets,
  create: (spec, ctx) => new SimOutlets(ctx.id, spec, worldOf(ctx)),
});

export class SimController implements Controller {
  constructor(
    readonly id: string,
    readonly server: string,
    readonly world: SimWorld,
  ) {}
  async shutdown(signal: AbortSignal): Promise<void> {
    await delay(10, signal);
    this.world.requestHalt(this.server);
  }
}

export const simControllerDriver = defineDriver({
  kind: 'controller',
  type: 'sim',
  description: 'Simulated OS shutdown of a sim machine.',
  template: {
    shutdown_time: duration({ min: 0, default: 3000, help: 'Time the OS takes to halt after the request.' }),
  },
  create(spec, ctx) {
    const world = worldOf(ctx);
    const server = ctx.server?.name ?? ctx.id;
    world.machineFor(server, ctx.server?.outlets ?? [], { shutdownMs: spec.shutdown_time });
    return new SimController(ctx.id, server, world);
  },
});

export class SimTester implements Tester {
  constructor(
    readonly id: string,
    readonly server: string,
    readonly world: SimWorld,
    readonly latencyMs: number,
  ) {}
  async probe(signal: AbortSignal): Promise<Probe> {
    const t0 = this.world.now();
    await delay(this.latencyMs, signal);
    const m = this.world.machine(this.server);
    const latencyMs = this.world.now() - t0;
    this.world.countProbe(this.server, m.up);
    if (!m.powered) return { passed: false, detail: `sim ${this.server} has no power`, latencyMs };
    if (m.halted) return { passed: false, detail: `sim ${this.server} is halted`, latencyMs };
    if (!m.up)
      return {
        passed: false,
        detail: `sim ${this.server} booting (${((m.poweredForMs ?? 0) / 1000).toFixed(1)} s of ${(m.bootMs / 1000).toFixed(1)} s)`,
        latencyMs,
      };
    const upS = Math.round((m.poweredForMs ?? 0) / 1000);
    // A machine the simulated lab started powered has no power-on time (it was on "long ago").
    return { passed: true, detail: upS > 10 * 365 * 86_400 ? `sim ${this.server} up (on since the lab was set up)` : `sim ${this.server} up for ${upS} s`, latencyMs };
  }
}

export const simTesterDriver = defineDriver({
  kind: 'tester',
  type: 'sim',
  description: 'Passes once the sim machine of its server has power and has booted.',
  template: {
    boot_time: duration({ min: 0, default: 4000, help: 'Time from power-on until the machine serves.' }),
    probe_latency: duration({ min: 0, default: 10, help: 'Time one probe takes.' }),
    fault: multilist({ choices: ['never_boots'], default: [], help: 'Injected faults.' }),
  },
  create(spec, ctx) {
    const world = worldOf(ctx);
    const server = ctx.server?.name ?? ctx.id;
    world.machineFor(server, ctx.server?.outlets ?? [], { bootMs: spec.boot_time, faults: spec.fault });
    return new SimTester(ctx.id, server, world, spec.probe_latency);
  },
});
