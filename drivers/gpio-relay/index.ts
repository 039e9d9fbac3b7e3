/**
 * `gpio-relay`: relay HATs and relay modules on the Raspberry Pi's GPIO header. One BCM pin per
 * outlet; `active_low` for the (common) modules whose relay pulls in when the pin is low.
 * Starting the daemon never clicks a relay: pins are taken at the level they have (port.ts).
 */
import { bool, int, list, type Infer } from '../../src/config/types.js';
import { OperationAbortedError } from '../../src/errors.js';
import { defineDriver, type DeviceInfo } from '../types.js';
import { relayCommonTemplate, RelayOutlets, type RelayBoard } from '../relay/outlets.js';
import { detectBase, SysfsGpioPort, type GpioPort, type Level } from './port.js';

/** Where the kernel's sysfs GPIO interface lives. */
export const SYSFS_GPIO = '/sys/class/gpio';

export const gpioTemplate = {
  pins: list({ required: true, help: 'BCM GPIO numbers, one per outlet in order (outlet 1 = the first), e.g. 5, 6, 13, 19.' }),
  active_low: bool({ default: false, help: 'The relay pulls in when its pin is LOW (most opto-isolated relay modules; many HATs are active-high).' }),
  invert: relayCommonTemplate.invert,
  gpio_base: int({ min: 0, max: 4096, help: 'sysfs number of BCM GPIO 0; found from the GPIO chip labels when not given (512 on a Pi 4 with kernel 6.6+).' }),
};
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
  kind: 'outlet',
  type: 'gpio-relay',
  description: 'Relays on the Raspberry Pi GPIO header (relay HATs, relay modules); taken without changing their level.',
  template: gpioTemplate,
  outletCount: (spec) => spec.pins.length,
  check: (spec) => {
    const bad = spec.pins.filter((p) => !/^\d+$/.test(p) || Number(p) > 53);
    return bad.length > 0 ? [{ key: 'pins', message: `pins must be BCM GPIO numbers 0–53: ${bad.join(', ')}`, hint: 'Use BCM numbers (GPIO17 = 17), not header pin positions.' }] : [];
  },
  create: (spec: Spec, ctx) => {
    const pins = spec.pins.map(Number);
    const board = new GpioRelayBoard(pins, spec.active_low, () => new SysfsGpioPort(SYSFS_GPIO, spec.gpio_base ?? detectBase(SYSFS_GPIO)));
    return new RelayOutlets(ctx.id, { outlets: pins.length, invert: spec.invert }, board, ctx);
  },
});
