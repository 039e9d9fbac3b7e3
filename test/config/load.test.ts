import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import ini from 'ini';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../drivers/registry.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { parseIni } from '../../src/config/ini-lines.js';
import { checkConfig, loadConfig } from '../../src/config/load.js';
import { Secret, duration, parseDuration, secret } from '../../src/config/types.js';
import { formatProblem } from '../../src/errors.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';

describe('config loader', () => {
  let demo: DemoCopy;
  beforeEach(async () => {
    demo = await demoConfig();
  });
  afterEach(async () => {
    await demo.cleanup();
  });

  it('freezes the loaded config deeply', async () => {
    const c = await loadConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.servers[0]!.outlets[0])).toBe(true);
    expect(() => {
      (c.api as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('gives every server the [servers] defaults, overridden per server', async () => {
    await demo.write('servers/db-1.ini', (await demo.read('servers/db-1.ini')).replace('[server]\n', '[server]\nboot_timeout = 10m\n'));
    const c = await loadConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    const db = c.servers.find((s) => s.name === 'db-1')!;
    const vm = c.servers.find((s) => s.name === 'vm-1')!;
    expect(db.settings.boot_timeout).toBe(600_000);
    expect(vm.settings.boot_timeout).toBe(120_000);
    expect(vm.settings.max_attempts).toBe(3);
    expect(vm.settings.on_shutdown_timeout).toBe('fail');
  });

  it('resolves the state directory relative to the config dir, else from systemd', async () => {
    const c = await loadConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    expect(c.stateDir).toBe(demo.stateDir);
    await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace('state_dir = ../state', 'state_dir ='));
    const c2 = await loadConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates, env: { STATE_DIRECTORY: '/srv/ockle-state' } });
    expect(c2.stateDir).toBe('/srv/ockle-state');
  });

  it('never echoes a secret value in a problem', async () => {
    const tmpl = { community: secret({ help: 'x', required: true }) };
    const bad = tmpl.community.parse('');
    expect(bad.ok).toBe(false);
    // A key misspelt next to a secret: the message names the key, not the value.
    await demo.write('devices/pdu-a.ini', (await demo.read('devices/pdu-a.ini')) + 'pasword = s3cr3t-value\n');
    const { problems } = await checkConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    const text = problems.map(formatProblem).join('\n');
    expect(text).toContain('unknown key "pasword"');
    expect(text).not.toContain('s3cr3t-value');
    expect(String(new Secret('x'))).toBe('[secret]');
    expect(JSON.stringify({ s: new Secret('x') })).toBe('{"s":"[secret]"}');
  });

  it('warns about sections no list uses, without refusing the config', async () => {
    await demo.write('servers/vm-1.ini', (await demo.read('servers/vm-1.ini')) + '\n[spare]\ndevice = pdu-a\noutlet = 7\n');
    const { problems, config } = await checkConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    expect(config).toBeDefined();
    expect(problems.map(formatProblem)).toContain(
      'servers/vm-1.ini:23: warning: section [spare] is not used by [server] Name it in outlets, controls or tests, or remove it.',
    );
  });
});

describe('plugin settings', () => {
  let demo: DemoCopy;
  beforeEach(async () => {
    demo = await demoConfig();
  });
  afterEach(async () => {
    await demo.cleanup();
  });
  const plugins = builtinPluginTemplates;

  it('validates [plugins.NAME] against the plugin template, with defaults', async () => {
    const demoIni = await demo.read('ockle.ini');
    const c0 = await loadConfig(demo.configDir, { drivers: defaultRegistry(), plugins });
    expect(c0.plugins.enabled).toEqual(['auto-control', 'logger', 'metrics', 'timer-example']);
    expect(c0.plugins.settings.get('timer-example')).toEqual({ wait_time: 300_000, message: 'demo lab heartbeat' });
    expect(c0.plugins.settings.get('logger')).toEqual({ database: 'logger.sqlite', log_resolution: 10_000, retention: 30 * 86_400_000 });
    expect([c0.plugins.startTimeoutMs, c0.plugins.hangTimeoutMs, c0.plugins.stopTimeoutMs]).toEqual([10_000, 5000, 5000]);
    const bare = demoIni.replace(/^enabled = .*$/m, 'enabled = timer-example').replace(/\[plugins\.[\s\S]*?(?=\n; An API token)/, '');
    await demo.write('ockle.ini', bare);
    // Without auto-control the demo's UPS could not act (config check refuses it): it goes too.
    await rm(join(demo.configDir, 'ups'), { recursive: true });
    const c = await loadConfig(demo.configDir, { drivers: defaultRegistry(), plugins });
    expect(c.plugins.enabled).toEqual(['timer-example']);
    // No [plugins.timer-example] section: it runs on its template's defaults.
    expect(c.plugins.settings.get('timer-example')).toEqual({ wait_time: 60_000, message: 'timer tick' });
    expect(c.view.find((f) => f.file === 'ockle.ini')!.sections.some((x) => x.name === 'plugins.timer-example')).toBe(false);
    await demo.write('ockle.ini', bare + '\n[plugins.timer-example]\nwait_time = 30s\n');
    const c2 = await loadConfig(demo.configDir, { drivers: defaultRegistry(), plugins });
    expect(c2.plugins.settings.get('timer-example')).toEqual({ wait_time: 30_000, message: 'timer tick' });
  });

  it('reports a bad plugin key and warns about a configured plugin that is not enabled', async () => {
    await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace(/^enabled = .*$/m, 'enabled = auto-control, logger, metrics').replace('wait_time = 5m', 'wait_tme = 30s'));
    const { problems } = await checkConfig(demo.configDir, { drivers: defaultRegistry(), plugins });
    expect(problems.map(formatProblem)).toEqual([
      'ockle.ini:42: warning: [plugins.timer-example] configures plugin "timer-example", which is not enabled Add it to [plugins] enabled to run it.',
      'ockle.ini:43: unknown key "wait_tme" in [plugins.timer-example] Did you mean "wait_time"?',
    ]);
  });
});

describe('INI line parser', () => {
  it('reads the same values as ini.decode for every demo file', async () => {
    for (const f of ['ockle.ini', 'devices/relay-1.ini', 'servers/storage-1.ini', 'servers/web-1.ini']) {
      const text = await readFile(join(REPO, 'config', f), 'utf8');
      const mine = Object.fromEntries(
        parseIni(text).sections.map((s) => [s.name, Object.fromEntries([...s.keys.values()].map((k) => [k.key, k.value]))]),
      );
      const theirs = ini.decode(text) as Record<string, Record<string, unknown>>;
      // ini.decode nests dotted section names ([plugins.auto-control]): compare the others.
      for (const [sec, keys] of Object.entries(mine).filter(([n]) => !n.includes('.')))
        for (const [k, v] of Object.entries(keys)) expect(String(theirs[sec]![k]), `${f} [${sec}] ${k}`).toBe(v);
    }
  });

  it('decodes quotes and inline comments like ini does', () => {
    const text = '[a]\nx = "quoted ; not a comment"\ny = plain ; comment\n';
    const s = parseIni(text).sections[0]!;
    expect(s.keys.get('x')!.value).toBe('quoted ; not a comment');
    expect(s.keys.get('y')!.value).toBe('plain');
    expect(s.keys.get('y')!.line).toBe(3);
  });
});

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2', 2000],
    ['1.5s', 1500],
  ])('parses %s', (raw, ms) => expect(parseDuration(raw)).toBe(ms));
  it.each(['', '5 minutes', 'm5', '5x', '-1s'])('rejects %j', (raw) => expect(parseDuration(raw)).toBeUndefined());
  it('checks bounds', () => {
    const d = duration({ min: 100, max: 60_000, help: 'x' });
    expect(d.parse('50ms').ok).toBe(false);
    expect(d.parse('2m').ok).toBe(false);
    expect(d.parse('1m')).toEqual({ ok: true, value: 60_000 });
  });
});
