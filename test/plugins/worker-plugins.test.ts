/**
 * Worker plugins under the real daemon.
 * - The demo config as shipped: logger, metrics and timer-example run in their own threads;
 *   `ockle plugins` and `ockle cmd` list them; the metrics endpoint is scraped and parsed; an
 *   action shows in the metrics and in the logger; the logger keeps its data across a restart.
 * - One daemon with a fixture plugin per misbehaviour enabled at once: every misbehaviour is
 *   reported with its reason, and through all of it the API answers and outlets switch.
 * - Plugin power requests go through the journal as plugin:NAME.
 */
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken } from '../../src/api/auth.js';
import type { PluginStatus } from '../../src/api/server.js';
import { main } from '../../src/cli/commands.js';
import { Daemon, type ExtraPlugin } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { pluginHandler, pluginSubscriber } from '../../src/plugin-host/bridge.js';
import { PluginHost } from '../../src/plugin-host/host.js';
import type { SimWorld } from '../../drivers/sim/world.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';
import { lintExposition } from '../support/prom-text.js';

const viewer = generateToken();
const operator = generateToken();
const TOKENS = `\n[token.vera]\nrole = viewer\nsha256 = ${viewer.sha256}\n\n[token.otto]\nrole = operator\nsha256 = ${operator.sha256}\n`;

const until = async (cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> => {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

function caller(url: () => string) {
  return async (path: string, o: { token?: string; method?: string; body?: unknown } = {}) => {
    const res = await fetch(`${url()}${path}`, {
      method: o.method ?? 'GET',
      headers: { ...(o.token && { authorization: `Bearer ${o.token}` }), ...(o.body !== undefined && { 'content-type': 'application/json' }) },
      ...(o.body !== undefined && { body: JSON.stringify(o.body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } } };
  };
}

describe('worker plugins in the daemon: the demo config as shipped', () => {
  let demo: DemoCopy;
  let daemon: Daemon;
  const api = caller(() => daemon.url);
  const start = () => Daemon.start({ configDir: demo.configDir, log: silentLogger() });
  beforeAll(async () => {
    demo = await demoConfig();
    const ini = (await demo.read('ockle.ini')).replace('log_resolution = 10s', 'log_resolution = 1s').replace('wait_time = 5m', 'wait_time = 100ms');
    await demo.write('ockle.ini', ini + TOKENS);
    daemon = await start();
    await until(() => daemon.plugins().every((p) => p.state === 'running' || p.state === 'disabled'), 'every enabled plugin running');
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

  it('runs logger, metrics and timer-example in workers and lists every plugin', async () => {
    expect(daemon.plugins()).toEqual([
      { name: 'auto-control', description: expect.stringContaining('dependency order') as string, where: 'main thread', state: 'running', lastError: null, bugs: 0 },
      expect.objectContaining({ name: 'logger', where: 'worker', state: 'running', bugs: 0 }),
      expect.objectContaining({ name: 'metrics', where: 'worker', state: 'running', bugs: 0 }),
      expect.objectContaining({ name: 'timer-example', where: 'worker', state: 'running', bugs: 0 }),
      // Bundled, not enabled in the demo (it needs a broker): listed as disabled.
      expect.objectContaining({ name: 'mqtt', where: 'worker', state: 'disabled' }),
    ]);
    const r = await cli('plugins');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/logger\s+running\s+worker/);
    expect(r.out).toMatch(/metrics\s+running\s+worker/);
  });

  it('ockle cmd lists the registered commands with their roles, and runs one', async () => {
    const list = await cli('cmd');
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/logger\.query\s+viewer\s+any JSON object\s+Recorded data/);
    expect(list.out).toMatch(/logger\.stats\s+viewer/);
    expect(list.out).toMatch(/metrics\.endpoint\s+viewer/);
    await until(async () => ((await cli('cmd', 'logger.stats', '--json')).out.match(/"samples": (\d+)/)?.[1] ?? '0') !== '0', 'a first sample');
    const q = await cli('cmd', 'logger.query', '{"last":"1h","device":"pdu-a","outlet":1,"step":"1s"}');
    expect(q.code).toBe(0);
    const series = (JSON.parse(q.out) as { series: { device: string; outlet: number; points: { on: number; watts: number | null }[] }[] }).series;
    expect(series).toHaveLength(1);
    expect(series[0]).toMatchObject({ device: 'pdu-a', outlet: 1 });
    expect(series[0]!.points.length).toBeGreaterThan(0);
  });

  it('refuses bad command input with a clear error and exit 2, before or at the plugin', async () => {
    const notJson = await cli('cmd', 'logger.query', '{last: 1h}');
    expect(notJson.code).toBe(2);
    expect(notJson.out).toMatch(/the parameters of logger\.query are not JSON/);
    const badParam = await cli('cmd', 'logger.query', '{"last":"soon"}');
    expect(badParam.code).toBe(2);
    expect(badParam.out).toMatch(/last must be a duration such as "1h"/);
    const unknown = await cli('cmd', 'logger.qeury');
    expect(unknown.code).toBe(2);
    expect(unknown.out).toMatch(/no command "logger.qeury"[\s\S]*logger\.query/);
    const anon = await api('/api/commands/logger.stats', { method: 'POST', body: {} });
    expect(anon.status).toBe(401);
  });

  it('serves Prometheus metrics on its own port that follow the lab and count actions', async () => {
    const { url } = JSON.parse((await cli('cmd', 'metrics.endpoint', '--json')).out) as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const scrape = async () => {
      const res = await fetch(url);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return res.text();
    };
    let text = await scrape();
    expect(lintExposition(text)).toEqual([]);
    for (const s of daemon.gateway.servers()) expect(text).toContain(`ockle_server_state{server="${s.name}",state="${s.state}"} 1\n`);
    expect(text).toContain('ockle_device_up{device="pdu-a",type="sim"} 1\n');
    expect(text).toMatch(/^ockle_outlet_power_watts\{device="pdu-a",outlet="1",server="[^"]*"\} \d/m);

    const res = await api('/api/servers/backup/actions', { method: 'POST', token: operator.token, body: { action: 'off', force: true, reason: 'metrics test' } });
    expect(res.status).toBe(202);
    const done = await daemon.gateway.waitFor((res.body as { action: { id: string } }).action.id);
    expect(done.status).toBe('ok');
    await until(async () => (text = await scrape()).includes('ockle_actions_total{kind="off",status="ok",origin="api"} 1\n'), 'the action counted');
    expect(text).toContain('ockle_action_duration_seconds_count{kind="off"} 1\n');
    expect(text).toContain('ockle_server_state{server="backup",state="FORCED_OFF"} 1\n');

    // The logger recorded the same action, with who asked and why, and the outlet change.
    const q = await api('/api/commands/logger.query', { method: 'POST', token: viewer.token, body: { what: 'actions', last: '1h' } });
    expect(q.status).toBe(200);
    expect((q.body.result as { actions: unknown[] }).actions).toEqual([expect.objectContaining({ id: done.id, kind: 'off', origin: 'api:otto', reason: 'metrics test', status: 'ok', targets: ['backup'] })]);
    const changes = await api('/api/commands/logger.query', { method: 'POST', token: viewer.token, body: { what: 'changes', last: '1h', subject: 'backup' } });
    expect((changes.body.result as { changes: { value: string }[] }).changes[0]).toMatchObject({ value: 'FORCED_OFF' });
  });

  it('restarts a worker plugin on request', async () => {
    const r = await cli('plugins', 'restart', 'timer-example');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^timer-example: (starting|running)/);
    const bad = await cli('plugins', 'restart', 'auto-control');
    expect(bad.code).toBe(2);
  });

  it('a plugin’s power request goes through the journal as plugin:NAME', async () => {
    const handle = pluginHandler(daemon.gateway, 'backup-bot');
    const rec = (await handle('request-action', { kind: 'on', targets: ['backup'], force: true, reason: 'nightly backup' })) as { id: string };
    const done = await daemon.gateway.waitFor(rec.id);
    expect(done).toMatchObject({ origin: 'plugin:backup-bot', reason: 'nightly backup', status: 'ok' });
    await expect(handle('request-action', { kind: 'explode', targets: ['backup'] })).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID' });
  });

  it('the logger keeps its records across a daemon restart (and the restart switches nothing)', async () => {
    const stats = async () => (await api('/api/commands/logger.stats', { method: 'POST', token: viewer.token, body: {} })).body.result as { samples: number; actions: number; oldest: number };
    const before = await stats();
    expect(before.actions).toBe(2);
    const world = daemon.shared<SimWorld>('sim-world')!;
    const writes = world.writes('pdu-a').count + world.writes('pdu-b').count + world.writes('relay-1').count;
    await daemon.stop();
    daemon = await start();
    await until(() => daemon.plugins().every((p) => p.state === 'running' || p.state === 'disabled'), 'plugins running again');
    const after = await stats();
    expect(after.oldest).toBe(before.oldest);
    expect(after.samples).toBeGreaterThanOrEqual(before.samples);
    expect(after.actions).toBe(2);
    const w2 = daemon.shared<SimWorld>('sim-world')!;
    expect(w2.writes('pdu-a').count + w2.writes('pdu-b').count + w2.writes('relay-1').count).toBe(writes);
  });
});

const FIXTURES = ['commands', 'throws-in-start', 'never-ready', 'hangs', 'exits', 'throws-in-event', 'malformed', 'slow-stop', 'floods-logs'] as const;

describe('misbehaving plugins never take the daemon or the power down', () => {
  let demo: DemoCopy;
  let daemon: Daemon;
  const logs: { msg: string; plugin?: string; state?: string; detail?: string }[] = [];
  const events: { plugin: string; state: string; detail: string }[] = [];
  const api = caller(() => daemon.url);
  const status = async (name: string): Promise<PluginStatus> => ((await api('/api/plugins', { token: viewer.token })).body.plugins as PluginStatus[]).find((p) => p.name === name)!;
  const extraPlugins = new Map<string, ExtraPlugin>(
    FIXTURES.map((f) => [f, { module: join(REPO, 'test', 'fixtures', 'plugins', `${f}.mjs`), description: `fixture: ${f}`, config: {} }]),
  );
  beforeAll(async () => {
    demo = await demoConfig();
    const ini = (await demo.read('ockle.ini'))
      .replace(/^enabled = .*$/m, `enabled = auto-control, ${FIXTURES.join(', ')}\nstart_timeout = 500ms\nhang_timeout = 300ms\nstop_timeout = 300ms`)
      // Drop the demo plugins' sections (each ends at a blank line).
      .replace(/^\[plugins\.(logger|metrics|timer-example)\]\n(?:.+\n)*\n/gm, '');
    await demo.write('ockle.ini', ini + TOKENS);
    const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as (typeof logs)[number]) });
    daemon = await Daemon.start({ configDir: demo.configDir, log, extraPlugins });
    daemon.events.on('plugin.changed', (e) => events.push(e));
  });
  afterAll(async () => {
    await daemon?.stop();
    await demo.cleanup();
  });

  it('reports each misbehaviour with its reason while the API answers and outlets switch', async () => {
    const world = daemon.shared<SimWorld>('sim-world')!;
    // The event handlers exist once those two are running (they subscribe in start).
    await until(async () => (await status('hangs')).state === 'running' && (await status('throws-in-event')).state === 'running', 'hangs and throws-in-event running');
    // Real events only (the daemon refuses a plugin's subscription to a name it does not emit).
    daemon.events.emit('config.reloaded', { ok: true, message: 'hang' }); // the hangs fixture now spins
    daemon.events.emit('config.reloaded', { ok: true, message: 'ping' }); // throws-in-event throws
    // Switching and reading go on meanwhile, through the API.
    for (const action of ['off', 'on'] as const) {
      const before = world.writes('relay-1').count;
      const res = await api('/api/servers/backup/actions', { method: 'POST', token: operator.token, body: { action, force: true, reason: 'during plugin trouble' } });
      expect(res.status).toBe(202);
      expect((await daemon.gateway.waitFor((res.body as { action: { id: string } }).action.id)).status).toBe('ok');
      expect(world.writes('relay-1').count).toBe(before + 1);
      expect((await api('/api/servers', { token: viewer.token })).status).toBe(200);
    }
    await until(async () => (await status('throws-in-start')).lastError?.includes('cannot open database') === true, 'throws-in-start reported');
    await until(async () => (await status('never-ready')).lastError === 'not ready within 500 ms', 'never-ready reported');
    await until(async () => (await status('hangs')).lastError?.startsWith('hung: no heartbeat') === true, 'hangs reported');
    await until(async () => (await status('exits')).lastError === 'exited with code 3', 'exits reported');
    await until(async () => (await status('throws-in-event')).bugs >= 1, 'throws-in-event counted');
    expect(await status('throws-in-event')).toMatchObject({ state: 'running', lastError: 'event: handler bug' });
    expect(await status('malformed')).toMatchObject({ state: 'running', bugs: 4 });
    expect(await status('floods-logs')).toMatchObject({ state: 'running' });
    // These two never get to run; hangs and exits run again after each restart.
    for (const name of ['throws-in-start', 'never-ready']) expect(['starting', 'backoff', 'failed']).toContain((await status(name)).state);
    // Every transition is a log line naming the plugin, and an event (the SSE stream's plugin.changed).
    expect(logs.some((l) => l.plugin === 'hangs' && l.state === 'backoff' && l.detail?.startsWith('hung'))).toBe(true);
    expect(events).toContainEqual({ plugin: 'hangs', state: 'backoff', detail: expect.stringMatching(/^hung: no heartbeat for \d+ ms; restarting in \d+ ms$/) as string });
    expect(events).toContainEqual({ plugin: 'exits', state: 'backoff', detail: expect.stringMatching(/^exited with code 3; restarting/) as string });
    // 5000 lines at once: the first 1000 (the burst a plugin may log) pass, the rest are dropped
    // and counted, told once.
    await until(async () => logs.some((l) => l.plugin === 'floods-logs' && /^dropped \d+ log lines/.test(l.msg)), 'the drop count');
    const passed = logs.filter((l) => l.plugin === 'floods-logs' && l.msg?.startsWith('line ')).length;
    expect(passed).toBeGreaterThanOrEqual(1000);
    expect(passed).toBeLessThan(1100);
    const dropped = logs.find((l) => l.plugin === 'floods-logs' && /^dropped \d+ log lines/.test(l.msg))!.msg;
    expect(Number(/^dropped (\d+)/.exec(dropped)![1]) + passed).toBe(5000);
    // Available plugins that are not enabled are listed as such.
    expect(await status('logger')).toMatchObject({ where: 'worker', state: 'disabled' });
    // And the API still answers a health check.
    expect((await api('/api/health')).status).toBe(200);
  });

  it('checks each command’s role, and passes a plugin’s failure on as its own error', async () => {
    const run = (name: string, token: string, body: unknown = {}) => api(`/api/commands/${name}`, { method: 'POST', token, body });
    expect(await run('commands.add', viewer.token, { a: 1, b: 2 })).toMatchObject({ status: 200, body: { command: 'commands.add', result: { sum: 3 } } });
    expect(await run('commands.boom', viewer.token)).toMatchObject({ status: 403, body: { error: { code: 'OCKLE_AUTH_FORBIDDEN', message: '"vera" has role viewer; to run commands.boom needs operator' } } });
    expect(await run('commands.boom', operator.token)).toMatchObject({ status: 502, body: { error: { code: 'OCKLE_COMMAND_FAILED', message: 'boom: the plugin said no' } } });
    expect(await run('commands.secret-op', operator.token)).toMatchObject({ status: 403 });
    expect(await run('commands.add', viewer.token, [1, 2])).toMatchObject({ status: 400, body: { error: { code: 'OCKLE_REQUEST_INVALID' } } });
    expect(await run('never-ready.x', viewer.token)).toMatchObject({ status: 404, body: { error: { code: 'OCKLE_NOT_FOUND' } } });
  });

  it('stops even with a plugin that never finishes stopping (terminated at stop_timeout)', async () => {
    await daemon.stop();
    expect(logs.find((l) => l.plugin === 'slow-stop' && l.state === 'stopped')?.detail).toBe('daemon stopping; not stopped within 300 ms: terminated');
    daemon = undefined as unknown as Daemon;
  });
});

describe('a hung plugin thread next to the daemon', () => {
  it('does not stop the daemon from switching', async () => {
    const demo = await demoConfig();
    const daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false });
    try {
      const logs: string[] = [];
      const hung = new PluginHost({
        name: 'hangs',
        module: join(REPO, 'test', 'fixtures', 'plugins', 'hangs.mjs'),
        dataDir: daemon.config.stateDir,
        config: {},
        log: pino({ level: 'warn' }, { write: (l: string) => logs.push(l) }),
        handle: pluginHandler(daemon.gateway, 'hangs'),
        subscribe: pluginSubscriber(daemon.events),
        heartbeatMs: 50,
        missedBeats: 6,
      });
      hung.start();
      await until(() => hung.state === 'running', 'running');
      daemon.events.emit('config.reloaded', { ok: true, message: 'hang' });
      const rec = await daemon.gateway.request({ kind: 'off', targets: ['backup'], force: true, origin: 'api:test', reason: '' });
      expect((await daemon.gateway.waitFor(rec.id)).status).toBe('ok');
      await until(() => hung.state !== 'running', 'hang detected');
      await hung.stop('test end');
    } finally {
      await daemon.stop();
      await demo.cleanup();
    }
  });
});
