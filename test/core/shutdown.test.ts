/**
 * `ockle shutdown SERVER` (issue 17): the controls ask the OS to shut down, the tests failing
 * confirm it, and nothing is cut (writes counted at the sim PDU). Sim lab through the real
 * daemon, in simulated time.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
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
const act = (d: Daemon, kind: 'on' | 'shutdown', targets: string[]): Promise<ActionRecord> =>
  simulate(d.gateway.waitFor(d.gateway.request({ kind, targets, force: kind === 'shutdown', origin: 'api:test', reason: 'test' }).id));

async function boot(servers: Parameters<typeof makeLab>[0]): Promise<Daemon> {
  lab = await makeLab(servers);
  vi.useFakeTimers({ toFake: [...FAKED] });
  daemon = await simulate(Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: true }));
  return daemon;
}

describe('shutdown (controls only)', () => {
  it('asks the OS to shut down, confirms it by the tests failing, and cuts nothing', async () => {
    const d = await boot({ app: { shutdownMs: 1000 } }); // the lab's shutdown_timeout is 2 s
    expect((await act(d, 'on', ['app'])).status).toBe('ok');
    const writes = world(d).writes('pdu-1').count;
    const rec = await act(d, 'shutdown', ['app']);
    expect(rec).toMatchObject({ kind: 'shutdown', targets: ['app'], status: 'ok' });
    expect(rec.steps.map((s) => s.op)).toEqual(['shutdown', 'down']);
    expect(rec.steps[1]!.ms).toBeGreaterThanOrEqual(1000);
    expect(world(d).writes('pdu-1').count).toBe(writes); // the power stays on
    expect(d.gateway.server('app')).toMatchObject({ state: 'NOT_SERVING', reason: expect.stringMatching(/^its OS was shut down \(the power is on\)/) as string });
    expect(d.gateway.server('app').outlets[0]!.power).toBe('on');
  });

  it('fails when the OS still serves at shutdown_timeout, and shows FAILED_TO_STOP; nothing is cut', async () => {
    const d = await boot({ app: { shutdownMs: 600_000, extra: 'shutdown_timeout = 5s' } });
    expect((await act(d, 'on', ['app'])).status).toBe('ok');
    const writes = world(d).writes('pdu-1').count;
    const rec = await act(d, 'shutdown', ['app']);
    expect(rec.status).toBe('failed');
    expect(rec.error).toMatchObject({ code: 'OCKLE_SHUTDOWN_NOT_CONFIRMED', message: 'app still serves 5000 ms after its controls accepted the shutdown; nothing was cut' });
    expect(world(d).writes('pdu-1').count).toBe(writes);
    expect(d.gateway.server('app')).toMatchObject({ state: 'FAILED_TO_STOP', reason: 'OS shutdown failed' });
  });

  it('is refused for a server without a control, and for an outlet, naming why', async () => {
    const d = await boot({ box: { noControls: true } });
    expect(() => d.gateway.request({ kind: 'shutdown', targets: ['box'], force: true, origin: 'api:test', reason: '' })).toThrow(/box has no control to ask the OS to shut down/);
    expect(() => d.gateway.request({ kind: 'shutdown', targets: [], outlets: [{ device: 'pdu-1', outlet: 1 }], force: true, origin: 'api:test', reason: '' })).toThrow(/a shutdown is of a server/);
  });
});
