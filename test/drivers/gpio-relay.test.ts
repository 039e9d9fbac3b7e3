/**
 * gpio-relay: the in-memory GPIO twin (the "no level change on start" rule, the contract), and
 * the sysfs port on a fake sysfs tree with a small stand-in for the kernel (chip base detection
 * across kernels and Pi models, export, taking pins without a glitch, actionable errors).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GpioRelayBoard } from '../../drivers/gpio-relay/index.js';
import { detectBase, SysfsGpioPort } from '../../drivers/gpio-relay/port.js';
import { RelayOutlets } from '../../drivers/relay/outlets.js';
import { makeDriverContext } from '../support/driver-context.js';
import { MemoryGpioPort } from '../support/memory-gpio-port.js';
import { describeOutletDevice } from './outlet-contract.js';

const sig = (): AbortSignal => new AbortController().signal;
const relays = (port: MemoryGpioPort | SysfsGpioPort, pins: number[], activeLow: boolean, invert = false): RelayOutlets =>
  new RelayOutlets('gpio', { outlets: pins.length, invert }, new GpioRelayBoard(pins, activeLow, () => port), makeDriverContext({ id: 'gpio' }));

describe('gpio-relay on the in-memory twin', () => {
  it('takes pins at the level they have: starting never toggles a relay', async () => {
    const port = new MemoryGpioPort({ 5: 1, 6: 0, 13: 1 }, [13]);
    const d = relays(port, [5, 6, 13], true);
    await d.open(sig());
    expect(port.changes).toEqual([]);
    expect([...port.outputs].sort((a, b) => a - b)).toEqual([5, 6, 13]);
    // active_low: level 0 = relay pulled in = power on.
    expect([...(await d.read([1, 2, 3], sig())).values()]).toEqual(['off', 'on', 'off']);
    await d.close();
    expect(port.changes).toEqual([]);
  });

  it('switches with the configured polarity (active_low, invert)', async () => {
    const port = new MemoryGpioPort({ 17: 0, 27: 0 });
    const d = relays(port, [17, 27], false, true); // active-high HAT, NC wiring
    await d.open(sig());
    expect([...(await d.read([1, 2], sig())).values()]).toEqual(['on', 'on']);
    await d.switch(2, 'off', sig());
    expect(port.changes).toEqual(['27:1']);
  });
});

describeOutletDevice('gpio-relay (in-memory GPIO)', async () => {
  const port = new MemoryGpioPort({ 5: 0, 6: 0, 13: 0, 19: 0 });
  const d = relays(port, [5, 6, 13, 19], true);
  return { device: d, peer: { power: (n) => (port.levels.get([5, 6, 13, 19][n - 1]!) === 0 ? 'on' : 'off'), writes: () => port.changes.length }, close: async () => {} };
});

/** A sysfs GPIO tree with a stand-in for the kernel: writing N to `export` creates gpioN (an input). */
class FakeSysfs {
  readonly root = mkdtempSync(join(tmpdir(), 'ockle-sysfs-'));
  readonly #watcher: FSWatcher;
  /** Level a pin reads when exported fresh, by sysfs number. */
  readonly idle = new Map<number, number>();

  constructor(chips: { base: number; label: string; ngpio: number }[]) {
    for (const c of chips) {
      mkdirSync(join(this.root, `gpiochip${c.base}`));
      writeFileSync(join(this.root, `gpiochip${c.base}`, 'base'), `${c.base}\n`);
      writeFileSync(join(this.root, `gpiochip${c.base}`, 'label'), `${c.label}\n`);
      writeFileSync(join(this.root, `gpiochip${c.base}`, 'ngpio'), `${c.ngpio}\n`);
    }
    writeFileSync(join(this.root, 'export'), '');
    this.#watcher = watch(join(this.root, 'export'), () => {
      const n = Number(readFileSync(join(this.root, 'export'), 'utf8').trim());
      if (Number.isInteger(n) && n > 0) this.pin(n, 'in', this.idle.get(n) ?? 0);
    });
  }

  pin(n: number, direction: string, value: number): void {
    mkdirSync(join(this.root, `gpio${n}`), { recursive: true });
    writeFileSync(join(this.root, `gpio${n}`, 'value'), `${value}\n`);
    writeFileSync(join(this.root, `gpio${n}`, 'direction'), `${direction}\n`);
  }

  file(n: number, f: 'value' | 'direction'): string {
    return readFileSync(join(this.root, `gpio${n}`, f), 'utf8').trim();
  }

  close(): void {
    this.#watcher.close();
    rmSync(this.root, { recursive: true, force: true });
  }
}

describe('gpio-relay on sysfs', () => {
  const trees: FakeSysfs[] = [];
  afterEach(() => {
    for (const t of trees.splice(0)) t.close();
  });
  const tree = (chips: { base: number; label: string; ngpio: number }[]): FakeSysfs => {
    const t = new FakeSysfs(chips);
    trees.push(t);
    return t;
  };

  it('finds the base of BCM GPIO 0 on old and new kernels and on a Pi 5', () => {
    expect(detectBase(tree([{ base: 0, label: 'pinctrl-bcm2835', ngpio: 54 }, { base: 504, label: 'raspberrypi-exp-gpio', ngpio: 8 }]).root)).toBe(0);
    expect(detectBase(tree([{ base: 512, label: 'pinctrl-bcm2711', ngpio: 58 }, { base: 570, label: 'raspberrypi-exp-gpio', ngpio: 8 }]).root)).toBe(512);
    expect(detectBase(tree([{ base: 571, label: 'pinctrl-rp1', ngpio: 54 }, { base: 512, label: 'gpio-brcmstb@107d508500', ngpio: 32 }]).root)).toBe(571);
  });

  it('says what to set when no Raspberry Pi controller is there', () => {
    const t = tree([{ base: 0, label: 'gpio-mockup-A', ngpio: 8 }]);
    expect(() => detectBase(t.root)).toThrow(expect.objectContaining({ message: expect.stringMatching(/gpiochip0 "gpio-mockup-A" base 0/), hint: expect.stringMatching(/gpio_base/) }));
  });

  it('exports a fresh pin and makes it an output at the level it read; keeps an output as it is', async () => {
    const t = tree([{ base: 512, label: 'pinctrl-bcm2711', ngpio: 58 }]);
    t.idle.set(529, 1); // GPIO 17, pulled high: an active-low relay that is off
    t.pin(534, 'out', 0); // GPIO 22, already driven low by an earlier run: relay on
    t.pin(539, 'in', 1); // GPIO 27, exported as an input
    const port = new SysfsGpioPort(t.root, detectBase(t.root));
    const d = relays(port, [17, 22, 27], true);
    await d.open(sig());
    expect(t.file(529, 'direction')).toBe('high'); // output, initial level = what it read
    expect(t.file(529, 'value')).toBe('1');
    expect(t.file(534, 'direction')).toBe('out'); // untouched
    expect(t.file(534, 'value')).toBe('0');
    expect(t.file(539, 'direction')).toBe('high');
    expect([...(await d.read([1, 2, 3], sig())).values()]).toEqual(['off', 'on', 'off']);
    await d.switch(1, 'on', sig());
    expect(t.file(529, 'value')).toBe('0');
    await d.close();
    expect(t.file(534, 'value')).toBe('0'); // released without a change
  });

  it('an export that fails names the GPIO, its sysfs number and what to check', async () => {
    const t = tree([{ base: 512, label: 'pinctrl-bcm2711', ngpio: 58 }]);
    rmSync(join(t.root, 'export'));
    mkdirSync(join(t.root, 'export')); // writing fails, as it would without permission
    const d = relays(new SysfsGpioPort(t.root, 512, 100), [17], true);
    await expect(d.open(sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', message: expect.stringMatching(/GPIO 17 \(sysfs 529\): cannot export/), hint: expect.any(String) });
  });
});
