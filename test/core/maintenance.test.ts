/**
 * Maintenance (issue 17): a paused server gets no keep-alive restart and no automatic action,
 * operators may still act, and the pause survives a restart until `ockle resume`. Sim lab through
 * the real daemon in simulated time; writes counted at the sim PDU.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { main, type Io } from '../../src/cli/commands.js';
import type { ActionRecord } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { makeLab, type Lab } from '../support/lab.js';
import { FAKED, simulate } from '../support/simulate.js';

let lab: Lab | undefined;
let daemon: Daemon | undefined;
afterEach(async () => {
  if (daemon) await (vi.isFakeTimers() ? simulate(daemon.stop()) : daemon.stop());
  vi.useRealTimers();
  await lab?.cleanup();
  daemon = undefined;
  lab = undefined;
});

const world = (d: Daemon): SimWorld => d.shared<SimWorld>('sim-world')!;
const run = (d: Daemon, kind: 'on' | 'off' | 'cycle', targets: string[], origin = 'api:test'): Promise<ActionRecord> =>
  simulate(d.gateway.waitFor(d.gateway.request({ kind, targets, force: false, origin, reason: 'test' }).id));

describe('maintenance', () => {
  it('a paused server gets no keep-alive restart, nor any automatic action; resumed, keep-alive acts again', async () => {
    lab = await makeLab({ app: { extra: 'keepalive = true\nkeepalive_failures = 2' } });
    vi.useFakeTimers({ toFake: [...FAKED] });
    const d = (daemon = await simulate(Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: true })));
    expect((await run(d, 'on', ['app'])).status).toBe('ok');
    await vi.advanceTimersByTimeAsync(5000); // powered longer than boot_timeout
    expect(d.gateway.pause(['app'], 'cli:ada', 'replacing a disk')).toEqual(['app']);
    expect(d.gateway.server('app').paused).toMatchObject({ by: 'cli:ada', reason: 'replacing a disk' });
    const writes = world(d).writes('pdu-1').count;
    const started: ActionRecord[] = [];
    d.events.on('action.started', (e) => started.push(e.action));
    world(d).requestHalt('app'); // its tests fail from now on
    await vi.advanceTimersByTimeAsync(60_000); // many test runs
    expect(d.gateway.server('app').state).toBe('NOT_SERVING');
    expect(started).toEqual([]);
    expect(world(d).writes('pdu-1').count).toBe(writes);
    // Automatic actions are refused, naming the pause; an operator's are not.
    expect(() => d.gateway.request({ kind: 'cycle', targets: ['app'], force: false, origin: 'plugin:ups', reason: 'policy' })).toThrow(
      expect.objectContaining({ code: 'OCKLE_SERVER_PAUSED', message: 'app is paused for maintenance: plugin:ups may not act on it' }),
    );
    expect(d.gateway.resume(['app'])).toEqual(['app']);
    const rec = await simulate(d.events.once('action.finished', (e) => e.action.origin === 'plugin:auto-control'));
    expect(rec.action).toMatchObject({ kind: 'cycle', status: expect.stringMatching(/ok|failed/) as string });
    expect(world(d).writes('pdu-1').count).toBeGreaterThan(writes);
  });

  it('is kept across a restart, shown by ockle status, and ended by ockle resume', async () => {
    lab = await makeLab({ app: {}, db: {} });
    const d1 = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), port: 0, monitor: false });
    let out = '';
    const io: Io = { stdout: { write: (s: string) => (out += s), isTTY: false }, stderr: { write: (s: string) => (out += s) }, env: {}, cwd: lab.configDir };
    expect(await main(['pause', 'db', '--reason', 'firmware update', '--config', lab.configDir], io)).toBe(0);
    expect(out).toContain('paused: db');
    await d1.stop();
    const d2 = (daemon = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), port: 0, monitor: false }));
    expect(d2.gateway.server('db').paused).toMatchObject({ by: 'cli:local', reason: 'firmware update' });
    expect(d2.gateway.server('app').paused).toBeNull();
    out = '';
    expect(await main(['status', '--config', lab.configDir], io)).toBe(0);
    expect(out).toMatch(/db .*\[paused by cli:local: firmware update\]/);
    out = '';
    expect(await main(['resume', '--all', '--config', lab.configDir], io)).toBe(0);
    expect(out).toContain('resumed: db');
    expect(d2.gateway.server('db').paused).toBeNull();
    expect(await main(['pause', '--config', lab.configDir], io)).toBe(2);
    expect(() => d2.gateway.pause(['nope'], 'cli:x', '')).toThrow(/nope/);
  });
});
