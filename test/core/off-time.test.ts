/**
 * An outlet cycle with an off time (`offMs`, a PDUDaemon reboot's delay): emulated exactly (off,
 * confirmed, the off time, on, confirmed) even on a device that cycles natively, in one journaled
 * action; asked for anything but an outlet cycle, it is refused and nothing is switched.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { makeLab, type Lab } from '../support/lab.js';

let lab: Lab | undefined;
let d: Daemon | undefined;
afterEach(async () => {
  await d?.stop();
  await lab?.cleanup();
  d = undefined;
  lab = undefined;
});

describe('an outlet cycle with an off time', () => {
  it('is off, confirmed, the off time, on, confirmed, on a device that could cycle natively; anything else is refused', async () => {
    lab = await makeLab({ box: { outlet: 'pdu-1:1' } });
    const pdu = join(lab.configDir, 'devices', 'pdu-1.ini');
    await writeFile(pdu, (await readFile(pdu, 'utf8')).replace('initial = off', 'initial = on') + 'native_cycle = true\n');
    d = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: false });
    const world = d.shared<SimWorld>('sim-world')!;
    const outlets = [{ device: 'pdu-1', outlet: 1 }];
    const base = { targets: [], force: true, origin: 'api:test', reason: 'reboot' } as const;
    for (const bad of [
      { ...base, kind: 'off' as const, outlets, offMs: 100 },
      { ...base, kind: 'cycle' as const, targets: ['box'], offMs: 100 },
      { ...base, kind: 'cycle' as const, outlets, offMs: -1 },
      { ...base, kind: 'cycle' as const, outlets, offMs: 3_600_001 },
    ])
      expect(() => d!.gateway.request(bad)).toThrow(/an off time is for an outlet cycle only/);
    expect(world.writes('pdu-1').count).toBe(0);
    const rec = await d.gateway.waitFor(d.gateway.request({ ...base, kind: 'cycle', outlets, offMs: 300 }).id);
    expect(rec.status).toBe('ok');
    expect(rec.steps.map((s) => s.op)).toEqual(['switch', 'confirm', 'wait', 'switch', 'confirm']);
    expect(rec.steps[2]!.detail).toBe('off for 300 ms (the off time asked for)');
    // The off lasted the time asked for: the on was written no sooner.
    const [off, on] = world.writes('pdu-1').log;
    expect([off!.action, on!.action]).toEqual(['off', 'on']);
    expect(Date.parse(on!.at) - Date.parse(off!.at)).toBeGreaterThanOrEqual(300);
    expect(world.outlet('pdu-1', 1)).toBe('on');
  });
});
