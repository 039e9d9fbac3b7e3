/**
 * The `ockle` CLI against a real daemon on the demo lab: it finds the daemon and the local
 * token through the config directory, shows the lab, switches by force, and exits with the
 * documented codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { main } from '../../src/cli/commands.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';

interface Ran {
  code: number;
  out: string;
  err: string;
}

describe('ockle CLI against the daemon', () => {
  let demo: DemoCopy;
  let daemon: Daemon;
  const cli = async (...argv: string[]): Promise<Ran> => {
    let out = '';
    let err = '';
    const code = await main(argv, {
      stdout: { write: (s: string) => ((out += s), true) },
      stderr: { write: (s: string) => ((err += s), true) },
      env: {},
      cwd: demo.configDir,
    } as never);
    return { code, out, err };
  };
  beforeAll(async () => {
    demo = await demoConfig();
    daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false });
    await daemon.gateway.actions(); // journal open
  });
  afterAll(async () => {
    await daemon.stop();
    await demo.cleanup();
  });

  it('shows the demo lab with `status`, finding daemon and token through --config', async () => {
    const r = await cli('status', '--config', demo.configDir);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    for (const s of ['core-switch', 'storage-1', 'storage-2', 'db-1', 'vm-1', 'vm-2', 'vm-3', 'web-1', 'web-2', 'backup'])
      expect(r.out).toContain(s);
  });

  it('prints the API JSON with --json', async () => {
    const r = await cli('status', '--json', '--config', demo.configDir);
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.out) as { servers: { name: string }[] };
    expect(parsed.servers.map((s) => s.name)).toContain('web-2');
  });

  it('lists devices outlet by outlet, with what each driver says of itself', async () => {
    const r = await cli('devices', '--config', demo.configDir);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^pdu-a \(sim\) reachable, poll \d+ ms\n {2}· model ockle sim PDU\n/m);
    expect(r.out).toMatch(/^relay-1 \(sim, read-back assumed\) reachable/m);
  });

  it('switches a server off by force, waits for the result, and the sim outlet follows', async () => {
    const r = await cli('off', 'web-2', '--force', '--reason', 'cli test', '--config', demo.configDir);
    expect(r.code, r.err).toBe(0);
    const world = daemon.shared<SimWorld>('sim-world')!;
    expect(world.outlet('pdu-b', 5)).toBe('off');
    const [a] = daemon.gateway.actions({ limit: 1 });
    expect(a).toMatchObject({ kind: 'off', targets: ['web-2'], reason: 'cli test', status: 'ok' });
    expect(a!.origin).toMatch(/^cli:/);
    expect(r.out).toMatch(/\noff: 1 switched\n$/);
    const back = await cli('on', 'web-2', '--force', '--config', demo.configDir);
    expect(back.code).toBe(0);
    expect(world.outlet('pdu-b', 5)).toBe('on');
    expect(back.out).toMatch(/\non: 1 switched\n$/);
    // Again: the outlet already reads on, so nothing is written and the summary says so.
    const writes = world.writes('pdu-b').count;
    const again = await cli('on', 'web-2', '--force', '--config', demo.configDir);
    expect(again.out).toMatch(/\non: 0 switched, 1 already on\n$/);
    expect(world.writes('pdu-b').count).toBe(writes);
  });

  it('exits 2 with a clear message for an unknown server, switching nothing', async () => {
    const world = daemon.shared<SimWorld>('sim-world')!;
    const before = world.writes('pdu-a').count + world.writes('pdu-b').count + world.writes('relay-1').count;
    const r = await cli('off', 'web-9', '--force', '--config', demo.configDir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/web-9/);
    expect(world.writes('pdu-a').count + world.writes('pdu-b').count + world.writes('relay-1').count).toBe(before);
  });

  it('`watch` prints live events, and exits 4 saying so when the daemon goes away', async () => {
    let out = '';
    let err = '';
    const watching = main(['watch', '--types', 'action.finished', '--json', '--config', demo.configDir], {
      stdout: { write: (s: string) => ((out += s), true) },
      stderr: { write: (s: string) => ((err += s), true) },
      env: {},
      cwd: demo.configDir,
    });
    for (let i = 0; i < 100 && daemon.events.listenerCount() < 1; i++) await new Promise((r) => setTimeout(r, 10));
    const rec = daemon.gateway.request({ kind: 'on', targets: ['web-2'], force: true, origin: 'api:t', reason: 'watch' });
    await daemon.gateway.waitFor(rec.id);
    for (let i = 0; i < 100 && !out.includes(rec.id); i++) await new Promise((r) => setTimeout(r, 10));
    // A daemon that stops ends the stream, and with it the command.
    await daemon.stop();
    expect(await watching).toBe(4);
    expect(err).toMatch(/closed the event stream/);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; data: { action: { id: string } } });
    expect(lines).toEqual([{ event: 'action.finished', data: { action: expect.objectContaining({ id: rec.id, status: 'ok' }) } }]);
    daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false });
  });

  it('exits 4 when the daemon cannot be reached', async () => {
    const r = await cli('status', '--url', 'http://127.0.0.1:9', '--config', demo.configDir);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/cannot reach/);
  });
});
