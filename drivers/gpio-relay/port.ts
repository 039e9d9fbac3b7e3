/**
 * A small GPIO port, so the relay logic is testable without a Raspberry Pi: `SysfsGpioPort`
 * drives the kernel's sysfs GPIO interface (under a root directory, `/sys/class/gpio` on a Pi);
 * the tests' in-memory twin is `MemoryGpioPort` in test/support/memory-gpio-port.ts.
 *
 * The rule that matters: taking a pin must not change its level. A pin already an output keeps
 * its value; any other pin is read first and then made an output with that same level
 * (`direction = high|low` sets direction and value in one write, without a glitch).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OckleError } from '../../src/errors.js';

export type Level = 0 | 1;

export interface GpioPort {
  /** Takes BCM `line` as an output without changing its level; resolves with that level. */
  take(line: number): Promise<Level>;
  read(line: number): Promise<Level>;
  write(line: number, level: Level): Promise<void>;
  /** Lets the pin go; its level stays as it is (the pin stays exported, as an output). */
  release(line: number): Promise<void>;
}

export interface GpioChip {
  readonly name: string;
  readonly base: number;
  readonly label: string;
  readonly ngpio: number;
}

/** Labels of the Raspberry Pi's main GPIO controller across models (BCM2835/6/7, BCM2711, RP1 on the Pi 5). */
const PI_LABELS = /^(pinctrl-bcm2835|pinctrl-bcm2711|pinctrl-bcm2712|pinctrl-rp1|raspberrypi-gpio)/;

export function listChips(root: string): GpioChip[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => n.startsWith('gpiochip'))
    .map((name) => {
      const f = (k: string): string => readFileSync(join(root, name, k), 'utf8').trim();
      return { name, base: Number(f('base')), label: f('label'), ngpio: Number(f('ngpio')) };
    })
    .sort((a, b) => a.base - b.base);
}

/**
 * The sysfs number of BCM GPIO 0. Kernels before 6.6 numbered the Pi's header from 0; since 6.6
 * the controller's GPIOs start at its chip's base (512 on a Pi 4, so GPIO 17 is 529; 571 on a
 * Pi 5). Found from the chip whose label is the Pi's GPIO controller.
 */
export function detectBase(root: string): number {
  const chips = listChips(root);
  const pi = chips.find((c) => PI_LABELS.test(c.label));
  if (pi) return pi.base;
  throw new OckleError(
    'OCKLE_DEVICE_UNREACHABLE',
    chips.length === 0
      ? `no GPIO controller under ${root} (is this a Raspberry Pi, with sysfs GPIO enabled?)`
      : `no Raspberry Pi GPIO controller under ${root}; chips: ${chips.map((c) => `${c.name} "${c.label}" base ${c.base}`).join(', ')}`,
    { hint: 'Set gpio_base = the sysfs number of BCM GPIO 0 in the device file (0 before kernel 6.6, 512 on a Pi 4 with 6.6+, 571 on a Pi 5).' },
  );
}

export class SysfsGpioPort implements GpioPort {
  constructor(
    readonly root: string,
    readonly base: number,
    /** How long to wait for udev to create the pin's files after an export. */
    readonly exportWaitMs = 2000,
  ) {}

  #dir(line: number): string {
    return join(this.root, `gpio${this.base + line}`);
  }

  #fail(line: number, what: string, err: unknown): OckleError {
    const code = (err as NodeJS.ErrnoException).code;
    const n = this.base + line;
    const hint =
      code === 'EACCES' || code === 'EPERM'
        ? 'The daemon user may not drive GPIO: add it to the gpio group (sudo adduser ockle gpio) and restart it.'
        : code === 'EBUSY'
          ? `GPIO ${line} is claimed by a kernel driver (an overlay such as SPI, I²C or 1-wire in config.txt, or another program): free it or pick another pin.`
          : code === 'EINVAL'
            ? `sysfs GPIO ${n} does not exist: check the BCM number, or gpio_base (now ${this.base}; since kernel 6.6 it is the chip base, e.g. 512).`
            : 'Check that sysfs GPIO is available on this kernel.';
    return new OckleError('OCKLE_DEVICE_UNREACHABLE', `GPIO ${line} (sysfs ${n}): cannot ${what}: ${(err as Error).message}`, { hint });
  }

  async take(line: number): Promise<Level> {
    const dir = this.#dir(line);
    if (!existsSync(dir)) {
      try {
        writeFileSync(join(this.root, 'export'), String(this.base + line));
      } catch (err) {
        throw this.#fail(line, 'export', err);
      }
      for (let t = 0; !existsSync(join(dir, 'direction')); t += 10) {
        if (t >= this.exportWaitMs) throw this.#fail(line, 'export', Object.assign(new Error(`${dir} did not appear`), { code: 'ETIMEDOUT' }));
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    try {
      const direction = readFileSync(join(dir, 'direction'), 'utf8').trim();
      const level: Level = readFileSync(join(dir, 'value'), 'utf8').trim() === '1' ? 1 : 0;
      // An input (or a fresh export) becomes an output at the level it reads: no click.
      if (direction !== 'out') writeFileSync(join(dir, 'direction'), level === 1 ? 'high' : 'low');
      return level;
    } catch (err) {
      throw this.#fail(line, 'take as output', err);
    }
  }

  async read(line: number): Promise<Level> {
    try {
      return readFileSync(join(this.#dir(line), 'value'), 'utf8').trim() === '1' ? 1 : 0;
    } catch (err) {
      throw this.#fail(line, 'read', err);
    }
  }

  async write(line: number, level: Level): Promise<void> {
    try {
      writeFileSync(join(this.#dir(line), 'value'), String(level));
    } catch (err) {
      throw this.#fail(line, 'write', err);
    }
  }

  async release(): Promise<void> {
    // Nothing to undo: unexporting could hand the pin back to its default (input), which on a
    // relay module with a pull-up or pull-down would switch the relay. The pin keeps its level.
  }
}
