/**
 * One outlet, whatever it powers (issue 17): `POST /api/devices/ID/outlets/N/actions` and
 * `ockle outlet on|off|cycle DEVICE/OUTLET` — forced, journaled with the outlet and the server
 * it powers, confirmed by read-back, refused while an action holds that server; counted at the
 * sim PDU.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { generateToken } from '../../src/api/auth.js';
import { main, type Io } from '../../src/cli/commands.js';
import type { ActionRecord } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';

describe('outlet actions', () => {
  let demo: DemoCopy;
  let d: Daemon;
  const operator = generateToken();
  const viewer = generateToken();
  const world = (): SimWorld => d.shared<SimWorld>('sim-world')!;
  const post = (path: string, body: unknown, token = operator.token) =>
    fetch(`${d.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const settle = async (id: string): Promise<ActionRecord> => d.gateway.waitFor(id);

  beforeAll(async () => {
    demo = await demoConfig();
    await demo.write('ockle.ini', (await demo.read('ockle.ini')) + `\n[token.otto]\nrole = operator\nsha256 = ${operator.sha256}\n\n[token.vera]\nrole = viewer\nsha256 = ${viewer.sha256}\n`);
    d = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), port: 0, monitor: false });
  });
  afterAll(async () => {
    await d.stop();
    await demo.cleanup();
  });

  const bound = () => {
    const dev = d.gateway.devices().find((x) => x.id === 'pdu-a')!;
    const o = dev.outlets.find((x) => x.boundTo !== null && x.power === 'on')!;
    return { outlet: o.outlet, server: o.boundTo!.split('/')[0]! };
  };

  it('switches one bound outlet, journaled with the outlet and the server it powers, confirmed by read-back', async () => {
    const { outlet, server } = bound();
    const before = world().writes('pdu-a').count;
    const res = await post(`/api/devices/pdu-a/outlets/${outlet}/actions`, { action: 'off', reason: 'swap a PSU' });
    expect(res.status).toBe(202);
    const { action } = (await res.json()) as { action: ActionRecord };
    expect(action).toMatchObject({ kind: 'off', force: true, targets: [server], outlets: [{ device: 'pdu-a', outlet }], origin: 'api:otto', reason: 'swap a PSU' });
    const done = await settle(action.id);
    expect(done.status).toBe('ok');
    expect(done.steps.map((s) => s.op)).toEqual(['switch', 'confirm']);
    expect(world().writes('pdu-a').count).toBe(before + 1);
    expect(world().outlet('pdu-a', outlet)).toBe('off');
    expect(d.gateway.actions({ server })[0]!.id).toBe(action.id); // found by the server it powers
    // Again: it already reads off, so nothing is written.
    const again = await settle(((await (await post(`/api/devices/pdu-a/outlets/${outlet}/actions`, { action: 'off' })).json()) as { action: ActionRecord }).action.id);
    expect(again.steps.map((s) => s.op)).toEqual(['already']);
    expect(world().writes('pdu-a').count).toBe(before + 1);
  });

  it('switches a free outlet (powering no server)', async () => {
    const dev = d.gateway.devices().find((x) => x.id === 'pdu-a')!;
    const free = dev.outlets.find((x) => x.boundTo === null)!;
    const { action } = (await (await post(`/api/devices/pdu-a/outlets/${free.outlet}/actions`, { action: free.power === 'on' ? 'off' : 'on' })).json()) as { action: ActionRecord };
    expect(action.targets).toEqual([]);
    expect((await settle(action.id)).status).toBe('ok');
  });

  it('is refused while a sequence holds the server it powers, naming the action, with nothing written', async () => {
    const server = d.gateway.servers().find((s) => s.outlets.some((o) => o.device === 'pdu-b'))!;
    const o = server.outlets.find((x) => x.device === 'pdu-b')!;
    const seq = d.gateway.request({ kind: server.state === 'OK' ? 'off' : 'on', targets: [server.name], force: false, origin: 'test', reason: 'hold it' });
    const before = world().writes('pdu-b').count;
    const res = await post(`/api/devices/pdu-b/outlets/${o.outlet}/actions`, { action: 'cycle' });
    expect(res.status).toBe(409);
    const body = (await res.json()) as { error: { code: string; message: string; hint: string } };
    expect(body.error.code).toBe('OCKLE_ACTION_BUSY');
    expect(body.error.message).toContain(`powers server "${server.name}", which action ${seq.id} holds`);
    expect(body.error.hint).toContain(`ockle cancel ${seq.id}`);
    d.gateway.cancel(seq.id, 'test');
    await settle(seq.id);
    expect(world().writes('pdu-b').count - before).toBeLessThanOrEqual(1); // only what the sequence itself wrote before its cancel
  });

  it('refuses an unknown device, an outlet out of range, a bad body and a viewer, changing nothing', async () => {
    const before = world().writes('pdu-a').count;
    expect((await post('/api/devices/nope/outlets/1/actions', { action: 'on' })).status).toBe(404);
    const range = await post('/api/devices/pdu-a/outlets/99/actions', { action: 'on' });
    expect(range.status).toBe(400);
    expect(((await range.json()) as { error: { message: string } }).error.message).toBe('pdu-a has no outlet 99');
    expect((await post('/api/devices/pdu-a/outlets/x/actions', { action: 'on' })).status).toBe(400);
    expect((await post('/api/devices/pdu-a/outlets/1/actions', { action: 'on', force: false })).status).toBe(400);
    expect((await post('/api/devices/pdu-a/outlets/1/actions', { action: 'on' }, viewer.token)).status).toBe(403);
    expect(world().writes('pdu-a').count).toBe(before);
  });

  it('ockle outlet on DEVICE/OUTLET follows the action and says what it powers; a bad argument is exit 2', async () => {
    const { outlet, server } = bound();
    const lines: string[] = [];
    const io: Io = {
      stdout: { write: (x: string) => lines.push(x), isTTY: false },
      stderr: { write: (x: string) => lines.push(x) },
      env: {},
      cwd: demo.configDir,
    };
    const code = await main(['outlet', 'off', `pdu-a/${outlet}`, '--reason', 'cli test', '--config', demo.configDir], io);
    expect(code).toBe(0);
    expect(lines.join('')).toMatch(new RegExp(`accepted: off pdu-a/${outlet} \\(powers ${server}\\) \\(forced\\)`));
    expect(world().outlet('pdu-a', outlet)).toBe('off');
    lines.length = 0;
    expect(await main(['actions', '--limit', '1', '--config', demo.configDir], io)).toBe(0);
    expect(lines.join('')).toContain(`off pdu-a/${outlet} (${server})`);
    lines.length = 0;
    expect(await main(['outlet', 'off', 'pdu-a', '--config', demo.configDir], io)).toBe(2);
    expect(lines.join('')).toContain('ockle outlet on|off|cycle DEVICE/OUTLET');
  });
});
