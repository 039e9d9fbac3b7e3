/**
 * Worker plugins under the daemon: timer-example runs in its own thread and reads the servers
 * through ctx; `ockle plugins` shows it; a restart through the API works; plugin power requests
 * go through the journal as plugin:NAME; the daemon keeps switching while a plugin is hung.
 */
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { pluginHandler } from '../../src/plugin-host/bridge.js';
import { PluginHost } from '../../src/plugin-host/host.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';

describe('worker plugins in the daemon', () => {
  let demo: DemoCopy;
  let daemon: Daemon;
  beforeAll(async () => {
    demo = await demoConfig();
    const ini = await demo.read('ockle.ini');
    await demo.write('ockle.ini', ini.replace(/enabled = auto-control.*/, 'enabled = auto-control, timer-example') + '\n[plugins.timer-example]\nwait_time = 100ms\n');
    daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false });
  });
  afterAll(async () => {
    await daemon.stop();
    await demo.cleanup();
  });
  const cli = async (...argv: string[]) => {
    let out = '';
    const code = await main([...argv, '--config', demo.configDir], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) }, env: {}, cwd: demo.configDir });
    return { code, out };
  };

  it('runs timer-example in a worker and lists every plugin', async () => {
    for (let i = 0; i < 200 && daemon.plugins().find((p) => p.name === 'timer-example')?.state !== 'running'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(daemon.plugins()).toEqual([
      { name: 'auto-control', description: 'built into the daemon', where: 'main thread', state: 'running', lastError: null, bugs: 0 },
      expect.objectContaining({ name: 'timer-example', where: 'worker', state: 'running', bugs: 0 }),
    ]);
    const r = await cli('plugins');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/timer-example\s+running\s+worker/);
  });

  it('restarts a worker plugin on request', async () => {
    const r = await cli('plugins', 'restart', 'timer-example');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^timer-example: (starting|running)/);
    const bad = await cli('plugins', 'restart', 'auto-control');
    expect(bad.code).toBe(2);
  });

  it('a plugin’s power request goes through the journal as plugin:NAME, and a hung plugin does not stop switching', async () => {
    const logs: string[] = [];
    const hung = new PluginHost({
      name: 'hangs',
      module: join(REPO, 'test', 'fixtures', 'plugins', 'hangs.mjs'),
      dataDir: daemon.config.stateDir,
      config: {},
      log: pino({ level: 'warn' }, { write: (l: string) => logs.push(l) }),
      handle: pluginHandler(daemon.gateway, 'hangs'),
      subscribe: (e, fn) => daemon.events.on(e as never, fn as never),
      heartbeatMs: 50,
      missedBeats: 6,
    });
    hung.start();
    for (let i = 0; i < 200 && hung.state !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
    daemon.events.emit('hang' as never, {} as never); // the plugin's thread now spins
    const handle = pluginHandler(daemon.gateway, 'backup-bot');
    const rec = (await handle('request-action', { kind: 'on', targets: ['backup'], force: true, reason: 'nightly backup' })) as { id: string };
    const done = await daemon.gateway.waitFor(rec.id);
    expect(done).toMatchObject({ origin: 'plugin:backup-bot', reason: 'nightly backup', status: 'ok' });
    await expect(handle('request-action', { kind: 'explode', targets: ['backup'] })).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID' });
    for (let i = 0; i < 200 && hung.state === 'running'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(hung.state).not.toBe('running');
    await hung.stop('test end');
  });
});
