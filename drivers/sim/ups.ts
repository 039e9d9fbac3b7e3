/**
 * `sim` UPS source: a UPS whose battery drains on battery and recharges on mains, for the demo
 * lab, the tests and the benchmark. Its state lives in `<stateDir>/sim/ups-<id>.json` (mains or
 * battery, since when, the charge then), so it survives daemon restarts like a real UPS, and a
 * drill (`ockle ups simulate`, or a test writing the file) can cut the mains without hardware.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceUnreachableError, OperationAbortedError } from '../../src/errors.js';
import { duration, int, type Infer } from '../../src/config/types.js';
import { defineDriver, type DeviceInfo, type UpsDrill, type UpsReading, type UpsSource } from '../types.js';

const template = {
  battery_runtime: duration({ min: 1000, default: 1_200_000, help: 'Runtime on a full battery at the simulated load.' }),
  recharge_time: duration({ min: 1000, default: 3_600_000, help: 'Time from an empty battery to a full one on mains.' }),
  low_battery: int({ min: 0, max: 100, default: 20, help: 'Charge (%) at and below which the simulated UPS says LB.' }),
  load: int({ min: 0, max: 100, default: 35, help: 'Output load (%) it reports.' }),
  read_latency: duration({ min: 0, default: 5, help: 'Time one read takes.' }),
};
type Spec = Infer<typeof template>;


interface Saved {
  power: 'mains' | 'battery' | 'silent';
  /** ms (wall clock) since which `power` holds. */
  since: number;
  /** Charge (%) at `since`. */
  chargeAt: number;
}

export class SimUps implements UpsSource {
  readonly #file: string;
  readonly #spec: Spec;
  readonly #now: () => number;

  constructor(
    readonly id: string,
    spec: Spec,
    stateDir: string,
    now: () => number = Date.now,
  ) {
    this.#spec = spec;
    this.#now = now;
    const dir = join(stateDir, 'sim');
    mkdirSync(dir, { recursive: true });
    this.#file = join(dir, `ups-${id}.json`);
  }

  #load(): Saved {
    try {
      const s = JSON.parse(readFileSync(this.#file, 'utf8')) as Partial<Saved>;
      if ((s.power === 'mains' || s.power === 'battery' || s.power === 'silent') && typeof s.since === 'number' && typeof s.chargeAt === 'number')
        return { power: s.power, since: s.since, chargeAt: s.chargeAt };
    } catch {
      // first start: on mains, full
    }
    return { power: 'mains', since: this.#now(), chargeAt: 100 };
  }

  /** Charge now: draining on battery, recharging on mains (a silent UPS keeps its charge). */
  #charge(s: Saved): number {
    const dt = Math.max(0, this.#now() - s.since);
    if (s.power === 'battery') return Math.max(0, s.chargeAt - (100 * dt) / this.#spec.battery_runtime);
    if (s.power === 'mains') return Math.min(100, s.chargeAt + (100 * dt) / this.#spec.recharge_time);
    return s.chargeAt;
  }

  async open(signal: AbortSignal): Promise<void> {
    await this.read(signal);
  }

  async read(signal: AbortSignal): Promise<UpsReading> {
    if (this.#spec.read_latency > 0)
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, this.#spec.read_latency);
        signal.addEventListener('abort', () => (clearTimeout(t), reject(new OperationAbortedError('read aborted'))), { once: true });
      });
    if (signal.aborted) throw new OperationAbortedError('read aborted');
    const s = this.#load();
    if (s.power === 'silent') throw new DeviceUnreachableError(this.id, `${this.id}: the simulated UPS does not answer (drill: silent)`);
    const charge = Math.round(this.#charge(s) * 10) / 10;
    const low = charge <= this.#spec.low_battery;
    const battery = s.power === 'battery';
    const flags = [battery ? 'OB' : 'OL', ...(battery ? ['DISCHRG'] : charge < 100 ? ['CHRG'] : []), ...(low ? ['LB'] : [])];
    return {
      power: battery ? 'battery' : 'mains',
      lowBattery: low,
      forcedShutdown: false,
      chargePct: charge,
      runtimeS: Math.round((charge / 100) * (this.#spec.battery_runtime / 1000)),
      loadPct: this.#spec.load,
      inputVolts: battery ? 0 : 230,
      ...(battery && { onBatteryS: Math.round((this.#now() - s.since) / 1000) }),
      flags,
      alarms: low ? ['battery low'] : [],
    };
  }

  /** A drill: cut or give back the mains, make the UPS silent, or set the charge. */
  simulate(change: UpsDrill): void {
    const s = this.#load();
    const next: Saved = { power: change.power ?? s.power, since: this.#now(), chargeAt: change.chargePct ?? this.#charge(s) };
    const tmp = `${this.#file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(next) + '\n');
    renameSync(tmp, this.#file);
  }

  info(): DeviceInfo {
    return { model: 'simulated UPS', details: { battery_runtime: `${Math.round(this.#spec.battery_runtime / 1000)} s` } };
  }

  async close(): Promise<void> {
    // nothing held
  }
}

export const simUpsDriver = defineDriver({
  kind: 'ups',
  type: 'sim',
  description: 'Simulated UPS whose battery drains on battery and recharges on mains (demo, tests, drills).',
  template,
  create: (spec, ctx) => new SimUps(ctx.id, spec, ctx.stateDir),
});
