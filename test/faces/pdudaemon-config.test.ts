/**
 * `[pdudaemon]` in ockle.ini: off by default, its keys checked with file:line (addresses, CIDR
 * blocks, a port clash with the API); a start whose face cannot listen fails with why and leaves
 * nothing open; a stop switches nothing, even in the middle of a reboot.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../drivers/registry.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { checkConfig } from '../../src/config/load.js';
import { API_INFO_FILE } from '../../src/config/paths.js';
import type { SimWorld } from '../../drivers/sim/world.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { makePduLab, type PduLab } from './pdudaemon-lab.js';

const check = (dir: string) => checkConfig(dir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });

describe('[pdudaemon] configuration', () => {
  let lab: PduLab | undefined;
  let held: Server | undefined;
  afterEach(async () => {
    await lab?.cleanup();
    lab = undefined;
    if (held) await new Promise<void>((r) => held!.close(() => r()));
    held = undefined;
  });

  it('is off by default, on PDUDaemon’s port, serving loopback only', async () => {
    lab = await makePduLab({ pdudaemon: null });
    const { config } = await check(lab.configDir);
    expect(config?.pdudaemon).toEqual({ enabled: false, listen: '127.0.0.1', port: 16421, allow: ['127.0.0.1', '::1'], require_token: false, servers_hostname: 'ockle' });
  });

  it('reports a bad address, a bad CIDR block, a bad servers_hostname and a port clash with the API, each at its line', async () => {
    lab = await makePduLab({ pdudaemon: '' });
    await lab.setPduDaemon('allow = 127.0.0.1, 127.0.0.999, 127.0.0.0/33, ::1/129, lab-net\nservers_hostname = Ockle!');
    const bad = await check(lab.configDir);
    expect(bad.config).toBeUndefined();
    const messages = bad.problems.filter((p) => p.severity === 'error').map((p) => `${p.file}:${p.line}: ${p.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ockle\.ini:\d+: allow: "127\.0\.0\.999" is not an IP address or a CIDR block$/),
        expect.stringMatching(/allow: "127\.0\.0\.0\/33" is not/),
        expect.stringMatching(/allow: "::1\/129" is not/),
        expect.stringMatching(/allow: "lab-net" is not/),
        expect.stringMatching(/servers_hostname.*"Ockle!"/),
      ]),
    );
    expect(messages.filter((m) => m.includes('allow:'))).toHaveLength(4);
    // The API's port on the same address.
    await lab.cleanup();
    lab = await makePduLab({ pdudaemon: 'port = 8420', apiPort: 8420 });
    const clash = await check(lab.configDir);
    expect(clash.problems.map((p) => p.message)).toContainEqual(expect.stringMatching(/^\[pdudaemon\] port 8420 on 127\.0\.0\.1 clashes with \[api\] port 8420/));
  });

  it('refuses to start when the face cannot listen, says why, and leaves nothing open', async () => {
    held = createServer();
    await new Promise<void>((r) => held!.listen(0, '127.0.0.1', () => r()));
    const port = (held.address() as { port: number }).port;
    lab = await makePduLab({ pdudaemon: '' });
    await lab.setPduDaemon(`port = ${port}`);
    const err = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), port: 0, monitor: false }).then(
      () => null,
      (e: unknown) => e as { code: string; message: string; hint: string },
    );
    expect(err).toMatchObject({ code: 'OCKLE_CONFIG_INVALID', message: `[pdudaemon] cannot listen: 127.0.0.1:${port} is in use` });
    expect(err!.hint).toContain('Set [pdudaemon] port to a free port');
    // The API had started listening: it was stopped again, and said so by removing its api.json.
    expect(existsSync(join(lab.configDir, '..', 'state', API_INFO_FILE))).toBe(false);
    // Nothing left behind: a daemon on the same state directory starts and stops cleanly.
    await lab.setPduDaemon('port = 0');
    const d = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), port: 0, monitor: false });
    expect(d.pdudaemonUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await d.stop();
  });

  it('stopping the daemon during a reboot’s delay leaves the outlet off: the on is never sent', async () => {
    lab = await makePduLab({ pdudaemon: '' });
    const d = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), port: 0, monitor: false });
    const world = d.shared<SimWorld>('sim-world')!;
    const from = world.writes('pdu-a').log.length;
    // 1. The off is confirmed; the cycle now waits the 60 s delay before the on.
    const offDone = d.events.once('action.progressed', (p) => p.step.op === 'wait' && p.step.detail === 'off for 60000 ms (the off time asked for)');
    const reply = fetch(`${d.pdudaemonUrl}/power/control/reboot?hostname=pdu-a&port=2&delay=60`).then(
      (r) => r.status,
      () => 'no answer',
    );
    await offDone;
    // 2. Stop: the waiting request is dropped, and nothing more is switched.
    await d.stop();
    expect(await reply).toBe('no answer');
    expect(world.writes('pdu-a').log.slice(from).map((w) => `${w.outlet} ${w.action}`)).toEqual(['2 off']);
    expect(world.outlet('pdu-a', 2)).toBe('off');
  });
});
