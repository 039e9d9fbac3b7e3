/**
 * `gpio-relay`: relay HATs and relay modules on the Raspberry Pi's GPIO header. One BCM pin per
 * outlet; `active_low` for the (common) modules whose relay pulls in when the pin is low.
 * Starting the daemon never clicks a relay: pins are taken at the level they have (port.ts).
 */
import type { Infer } from '../../src/config/types.js';
import { OperationAbortedError } from '../../src/errors.js';
import { defineDriver, type DeviceInfo } from '../types.js';
import { RelayOutlets, type RelayBoard } from '../relay/outlets.js';
import { gpioRelaySketch, gpioTemplate } from './definition.js';
import { detectBase, SysfsGpioPort, type GpioPort, type Level } from './port.js';

export { gpioTemplate };

/** Where the kernel's sysfs GPIO interface lives. */
export const SYSFS_GPIO = '/sys/class/gpio';

type Spec = Infer<typeof gpioTemplate>;

export class GpioRelayBoard implements RelayBoard {
  readonly readBack = 'real' as const;
  readonly #pins: number[];
  readonly #activeLow: boolean;
  readonly #port: () => GpioPort;
  #taken: GpioPort | null = null;

  constructor(pins: readonly number[], activeLow: boolean, port: () => GpioPort) {
    this.#pins = [...pins];
    this.#activeLow = activeLow;
    this.#port = port;
  }

  async open(signal: AbortSignal): Promise<void> {
    if (this.#taken) return;
    const port = this.#port();
    for (const pin of this.#pins) {
      if (signal.aborted) throw new OperationAbortedError();
      await port.take(pin);
    }
    this.#taken = port;
  }

  #energised(level: Level): boolean {
    return (level === 1) !== this.#activeLow;
  }

  async read(channels: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, boolean>> {
    await this.open(signal);
    const out = new Map<number, boolean>();
    for (const ch of channels) out.set(ch, this.#energised(await this.#taken!.read(this.#pins[ch - 1]!)));
    return out;
  }

  async write(channel: number, energise: boolean, signal: AbortSignal): Promise<void> {
    await this.open(signal);
    await this.#taken!.write(this.#pins[channel - 1]!, (energise !== this.#activeLow ? 1 : 0) as Level);
  }

  info(): DeviceInfo {
    return { model: 'GPIO relays', details: { pins: this.#pins.join(', '), active_low: String(this.#activeLow) } };
  }

  async close(): Promise<void> {
    const port = this.#taken;
    this.#taken = null;
    if (port) for (const pin of this.#pins) await port.release(pin);
  }
}

export const gpioRelayDriver = defineDriver({
  ...gpioRelaySketch,
  create: (spec: Spec, ctx) => {
    const pins = spec.pins.map(Number);
    const board = new GpioRelayBoard(pins, spec.active_low, () => new SysfsGpioPort(SYSFS_GPIO, spec.gpio_base ?? detectBase(SYSFS_GPIO)));
    return new RelayOutlets(ctx.id, { outlets: pins.length, invert: spec.invert }, board, ctx);
  },
});
