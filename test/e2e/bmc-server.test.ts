/**
 * End to end: a server with an IPMI BMC (ipmi_sim), an SSH control (sshd) and ping, tcp and
 * http tests goes through a sequenced power-off and power-on of the real daemon. A small
 * machine model ties the peers together: the services listen only while the BMC's chassis
 * power is on, and the OS "halts" (chassis power goes off) when the SSH shutdown command runs.
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttp } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { startBmc, type SimBmc } from '../support/ipmi-sim.js';
import { describePeer } from '../support/peers.js';
import { startSshd, type Sshd } from '../support/sshd.js';

describePeer('a BMC server, end to end', ['ipmi_sim', 'ipmitool', 'sshd', 'ssh-keygen', 'ping'], () => {
  let bmc: SimBmc;
  let sshd: Sshd;
  let root: string;
  let daemon: Daemon | undefined;
  let machine: NodeJS.Timeout;
  const ports = { tcp: 0, http: 0 };
  let tcp: Server | null = null;
  let http: ReturnType<typeof createHttp> | null = null;
  let marker = '';

  const freePort = async (): Promise<number> => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const p = (s.address() as { port: number }).port;
    await new Promise((r) => s.close(r));
    return p;
  };

  beforeAll(async () => {
    bmc = await startBmc({ on: true });
    sshd = await startSshd();
    ports.tcp = await freePort();
    ports.http = await freePort();
    root = await mkdtemp(join(tmpdir(), 'ockle-e2e-'));
    marker = join(root, 'shutdown-requested');
    // The machine: services up while the chassis has power; a shutdown request halts it.
    let busy = false;
    machine = setInterval(() => {
      if (busy) return;
      busy = true;
      void (async () => {
        if (existsSync(marker)) {
          rmSync(marker);
          bmc.setPower(false); // the OS halted and switched the chassis off (ACPI)
        }
        const on = bmc.power() === '1';
        if (on && !tcp) {
          tcp = createServer((c) => c.end());
          http = createHttp((_, res) => res.end('{"status":"healthy"}'));
          await new Promise<void>((r) => tcp!.listen(ports.tcp, '127.0.0.1', () => r()));
          await new Promise<void>((r) => http!.listen(ports.http, '127.0.0.1', () => r()));
        } else if (!on && tcp) {
          const t = tcp;
          const h = http!;
          tcp = null;
          http = null;
          h.closeAllConnections();
          await new Promise((r) => t.close(r));
          await new Promise((r) => h.close(r));
        }
      })().finally(() => (busy = false));
    }, 20);

    const dir = join(root, 'config');
    await mkdir(join(dir, 'devices'), { recursive: true });
    await mkdir(join(dir, 'servers'), { recursive: true });
    await writeFile(
      join(dir, 'ockle.ini'),
      '[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n[servers]\nboot_timeout = 20s\nshutdown_timeout = 20s\ntest_interval = 100ms\nmax_attempts = 1\n[plugins]\nenabled = auto-control\n',
    );
    await writeFile(
      join(dir, 'devices', 'bmc-app.ini'),
      `[device]\ntype = ipmi\nhost = 127.0.0.1\nport = ${bmc.port}\nuser = ${bmc.user}\npassword = ${bmc.password}\ncipher_suite = 3\nbackend = ipmitool\npoll_interval = 1s\nconfirm_timeout = 10s\n`,
    );
    await writeFile(
      join(dir, 'servers', 'app.ini'),
      [
        '[server]',
        'description = an application server with a BMC',
        'host = 127.0.0.1',
        'outlets = chassis',
        'controls = os',
        'tests = ping, ssh-port, web',
        '',
        '[chassis]',
        'device = bmc-app',
        'outlet = 1',
        '',
        '[os]',
        'type = ssh',
        `port = ${sshd.port}`,
        `user = ${sshd.user}`,
        `key_file = ${sshd.clientKey}`,
        `host_key = ${sshd.fingerprint}`,
        `command = touch ${marker}`,
        '',
        '[ping]',
        'type = ping',
        '',
        '[ssh-port]',
        'type = tcp',
        `port = ${ports.tcp}`,
        '',
        '[web]',
        'type = http',
        `url = http://{host}:${ports.http}/health`,
        'body_match = healthy',
        '',
      ].join('\n'),
    );
    for (let i = 0; i < 100 && !tcp; i++) await new Promise((r) => setTimeout(r, 20));
    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
  }, 30_000);

  afterAll(async () => {
    clearInterval(machine);
    await daemon?.stop();
    await bmc?.stop();
    await sshd?.stop();
    tcp?.close();
    http?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('adopts a running server as OK without touching the BMC', async () => {
    // Its chassis reads on at start; OK once its first test run (started, not awaited, by the
    // start: a slow test must not hold it) has passed.
    expect(daemon!.gateway.server('app').outlets.map((o) => o.power)).toEqual(['on']);
    for (let i = 0; i < 250 && daemon!.gateway.server('app').state !== 'OK'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(daemon!.gateway.server('app').state).toBe('OK');
    expect(bmc.calls().filter((c) => c.startsWith('set'))).toEqual([]);
  });

  it('powers off in order: SSH shutdown, tests fail, chassis off; then on: chassis on, all tests pass', async () => {
    const d = daemon!;
    const off = await d.gateway.waitFor(d.gateway.request({ kind: 'off', targets: ['app'], force: false, origin: 'api:test', reason: 'e2e' }).id);
    expect(off.status).toBe('ok');
    // The clean shutdown already switched the chassis off: ockle reads that and sends no
    // "chassis power off" of its own.
    const sets = bmc.calls().filter((c) => c.startsWith('set')).length;
    expect(off.steps.map((s) => s.op)).toEqual(['plan', 'shutdown', 'down', 'already']);
    expect(off.steps[1]!.detail).toBe('os (ssh) accepted the shutdown request');
    expect(off.steps[3]!.detail).toBe('bmc-app outlet 1 already reads off: not switched');
    expect(sets).toBe(0);
    expect(d.gateway.server('app').state).toBe('OFF');
    expect(bmc.power()).toBe('0');

    const on = await d.gateway.waitFor(d.gateway.request({ kind: 'on', targets: ['app'], force: false, origin: 'api:test', reason: 'e2e' }).id);
    expect(on.status).toBe('ok');
    expect(on.steps.map((s) => s.op)).toEqual(['plan', 'switch', 'confirm', 'up']);
    expect(bmc.power()).toBe('1');
    const app = d.gateway.server('app');
    expect(app.state).toBe('OK');
    expect(app.tests.map((t) => `${t.name}:${t.result}`)).toEqual(['ping:PASSED', 'ssh-port:PASSED', 'web:PASSED']);
  }, 60_000);

  it('warm-resets exactly that server through its BMC (reset is always a forced action)', async () => {
    const d = daemon!;
    const before = bmc.calls().length;
    const rec = await d.gateway.waitFor(d.gateway.request({ kind: 'reset', targets: ['app'], force: false, origin: 'api:test', reason: 'hung kernel' }).id);
    expect(rec).toMatchObject({ status: 'ok', force: true });
    expect(rec.steps.map((s) => s.op)).toEqual(['switch', 'confirm']);
    expect(bmc.calls().slice(before).filter((c) => c.startsWith('set'))).toEqual(['set reset 1']);
  });
});
