/**
 * Plugins installed beside ockle, without touching its source: a folder dropped into
 * <config>/plugins/, and an npm package installed from a tarball into that prefix. Each is found
 * by its package.json, its settings are checked at file:line, it runs in a worker, registers a
 * command; a broken one is named with its file and never stops the others or the daemon.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../drivers/registry.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { checkConfig } from '../../src/config/load.js';
import { templateFromOckleIni } from '../../src/config/plugin-manifest.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { SimWorld } from '../../drivers/sim/index.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';

/** A plugin that greets on start, counts server changes, and answers a command. */
const HELLO_PLUGIN = `
let changes = 0;
export function start(ctx) {
  ctx.on('server.changed', () => { changes++; });
  ctx.command('greet', { description: 'Says the configured greeting.', role: 'viewer' }, async () => {
    const servers = await ctx.call('servers');
    return { greeting: ctx.config.greeting, times: ctx.config.times, servers: servers.length, changes };
  });
  ctx.log.info('hello started');
}
export function stop() {}
`;

function pkg(o: Record<string, unknown>, over: Record<string, unknown> = {}): string {
  return JSON.stringify(
    {
      name: 'ockle-plugin-hello',
      version: '1.0.0',
      type: 'module',
      keywords: ['ockle-plugin'],
      ockle: { apiVersion: 1, description: 'Says hello.', main: 'plugin.js', role: 'viewer', settings: { greeting: { type: 'string', default: 'hi', help: 'What it says.' }, times: { type: 'int', min: 1, max: 5, default: 1, help: 'How often.' } }, ...o },
      ...over,
    },
    null,
    2,
  );
}

async function plugin(dir: string, manifest: string, main: string | null = HELLO_PLUGIN): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), manifest);
  if (main !== null) await writeFile(join(dir, 'plugin.js'), main);
}

const check = (dir: string) => checkConfig(dir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });

describe('installed plugins', () => {
  let demo: DemoCopy;
  let scratch: string;
  beforeAll(async () => {
    demo = await demoConfig();
    scratch = await mkdtemp(join(tmpdir(), 'ockle-plugin-src-'));
  });
  afterAll(async () => {
    await demo.cleanup();
    await rm(scratch, { recursive: true, force: true });
  });

  it('a folder dropped into <config>/plugins is found, its settings checked at file:line, and it runs and answers its command', async () => {
    await plugin(join(demo.configDir, 'plugins', 'hello'), pkg({ name: 'hello' }));
    const ini = await demo.read('ockle.ini');
    await demo.write('ockle.ini', ini.replace(/^enabled = (.*)$/m, 'enabled = $1, hello') + '\n[plugins.hello]\ngreeting = good morning\ntimes = 9\n');
    const bad = await check(demo.configDir);
    expect(bad.config).toBeUndefined();
    const lines = (await demo.read('ockle.ini')).split('\n');
    expect(bad.problems).toContainEqual(expect.objectContaining({ file: 'ockle.ini', line: lines.indexOf('times = 9') + 1, message: expect.stringMatching(/9 is out of range/) as string, severity: 'error' }));
    await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace('times = 9', 'times = 3'));
    const ok = await check(demo.configDir);
    expect(ok.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(ok.config!.plugins.installed.get('hello')).toMatchObject({ name: 'hello', version: '1.0.0', role: 'viewer' });

    const d = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), port: 0, monitor: false });
    try {
      const world = d.shared<SimWorld>('sim-world')!;
      const writes = (): number => ['pdu-a', 'pdu-b', 'relay-1'].reduce((n, id) => n + world.writes(id).count, 0);
      expect(['pdu-a', 'pdu-b', 'relay-1'].every((id) => world.outlet(id, 1) !== undefined)).toBe(true); // the demo's devices, so the count below is real
      const before = writes();
      const until = async (f: () => boolean): Promise<void> => {
        for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 25));
      };
      await until(() => d.plugins().find((p) => p.name === 'hello')?.state === 'running');
      expect(d.plugins().find((p) => p.name === 'hello')).toMatchObject({ where: 'worker', state: 'running', description: 'Says hello.' });
      const res = await fetch(`${d.url}/api/commands/hello.greet`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${(await demo.read('../state/api-token')).trim()}` }, body: '{}' });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ result: { greeting: 'good morning', times: 3, servers: d.gateway.servers().length } });
      expect(writes()).toBe(before); // a plugin starting never switches anything
    } finally {
      await d.stop();
    }
  });

  it('an npm package installed from its tarball into the plugins prefix is found the same way, without network', async () => {
    const src = join(scratch, 'ockle-plugin-packed');
    await plugin(src, pkg({ name: 'packed', description: 'Packed and installed.' }, { name: 'ockle-plugin-packed', files: ['plugin.js'] }));
    const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', scratch], { cwd: src, encoding: 'utf8' }).trim().split('\n').pop()!;
    execFileSync('npm', ['install', '--prefix', join(demo.configDir, 'plugins'), '--offline', '--no-audit', '--no-fund', '--no-save', join(scratch, tgz)], { stdio: 'pipe' });
    const r = await check(demo.configDir);
    expect(r.config!.plugins.installed.get('packed')).toMatchObject({ description: 'Packed and installed.', module: expect.stringContaining(join('plugins', 'node_modules', 'ockle-plugin-packed', 'plugin.js')) as string });
  });

  it('names each broken plugin and its file, and still loads the others', async () => {
    const dir = join(demo.configDir, 'plugins');
    await plugin(join(dir, 'no-main'), pkg({ name: 'no-main' }), null);
    await plugin(join(dir, 'old-api'), pkg({ name: 'old-api', apiVersion: 0 }));
    await plugin(join(dir, 'bad-json'), '{ "name": ');
    await plugin(join(dir, 'clash'), pkg({ name: 'logger' }));
    await plugin(join(dir, 'twin'), pkg({ name: 'hello' }));
    await plugin(join(dir, 'bad-settings'), pkg({ name: 'bad-settings', settings: { level: { type: 'select', default: 'loud' } } }));
    await mkdir(join(dir, 'stray'), { recursive: true });
    const ini = await demo.read('ockle.ini');
    await demo.write('ockle.ini', ini.replace(/^enabled = (.*)$/m, 'enabled = $1, no-main'));
    const r = await check(demo.configDir);
    const says = (file: RegExp, message: RegExp) => expect(r.problems).toContainEqual(expect.objectContaining({ file: expect.stringMatching(file) as string, message: expect.stringMatching(message) as string }));
    says(/^plugins\/no-main\/package\.json$/, /plugin "no-main": the plugin's main file plugin\.js does not exist/);
    says(/^plugins\/old-api\/package\.json$/, /plugin "old-api": the plugin is written for plugin API 0; this ockle has 1/);
    says(/^plugins\/bad-json\/package\.json$/, /package\.json is not valid JSON/);
    says(/^plugins\/clash\/package\.json$/, /plugin "logger" is already taken by a built-in plugin; this one is not loaded/);
    says(/^plugins\/twin\/package\.json$/, /plugin "hello" is already taken by .*plugins\/hello\/package\.json/);
    says(/^plugins\/bad-settings\/package\.json$/, /setting "level": type select needs "choices"/);
    says(/plugins\/stray$/, /has no package\.json, so it is not a plugin/);
    says(/^ockle\.ini$/, /plugin "no-main" is enabled but cannot be loaded: the plugin's main file plugin\.js does not exist \(plugins\/no-main\/package\.json:\d+\)/);
    // Warnings only: the daemon starts, runs hello and logger, and shows no-main as failed with why.
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    const d = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), port: 0, monitor: false });
    try {
      for (let i = 0; i < 200 && d.plugins().find((p) => p.name === 'hello')?.state !== 'running'; i++) await new Promise((res) => setTimeout(res, 25));
      expect(d.plugins().find((p) => p.name === 'hello')?.state).toBe('running');
      expect(d.plugins().find((p) => p.name === 'no-main')).toMatchObject({ state: 'failed', lastError: expect.stringMatching(/main file plugin\.js does not exist/) as string });
    } finally {
      await d.stop();
    }
  });
});

describe('Ockle plugin INI templates', () => {
  it('reads Ockle’s own template format as the declaration of a plugin’s settings', () => {
    const { template, problems } = templateFromOckleIni('[plugins.TimerPluginExample]\nWAIT_TIME=["int",1]\nSOCKET=["intrange",1,"1-8"]\nVERBOSE=["bool",true]\nNAME=["string","Ockle"]\nMODE=["select","a",["a","b"]]\nLIST=["multilist",true]\n', 'timer');
    expect(problems).toEqual([]);
    expect(Object.keys(template)).toEqual(['WAIT_TIME', 'SOCKET', 'VERBOSE', 'NAME', 'MODE', 'LIST']);
    expect(template.WAIT_TIME!.default).toBe(1);
    expect(template.SOCKET!.parse('9')).toMatchObject({ ok: false, message: '9 is out of range' });
    expect(template.SOCKET!.parse('8')).toEqual({ ok: true, value: 8 });
    expect(template.VERBOSE!.default).toBe(true);
    expect(template.MODE!.parse('c')).toMatchObject({ ok: false });
    expect(template.LIST!.kind).toBe('list');
  });

  it('names the line of a setting it cannot read', () => {
    const { problems } = templateFromOckleIni('[plugins.x]\nA=["int",1]\nB=int\nC=["intrange",1]\n', 'x');
    expect(problems).toEqual([
      expect.objectContaining({ line: 3, message: 'B: the value is not a JSON list like ["int", 1]' }),
      expect.objectContaining({ line: 4, message: 'C: intrange needs a range like "1-8" as its third element' }),
    ]);
  });
});
