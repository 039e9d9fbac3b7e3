/**
 * Enabling and disabling plugins without a restart (issue 16): `POST /api/plugins/NAME/enable|
 * disable` and `ockle plugins enable|disable NAME` edit exactly the `[plugins] enabled` line of
 * ockle.ini (the rest byte for byte, the previous file kept as ockle.ini.bak), after checking the
 * whole configuration with the change, and reload: only that plugin starts or stops. Every
 * refusal (unknown, broken, invalid, files changed since the load, read-only directory) leaves
 * the directory byte for byte as it was. The daemon never restarts and never switches an outlet.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import type { PluginDetail, PluginStatus } from '../../src/api/server.js';
import { generateToken } from '../../src/api/auth.js';
import { main } from '../../src/cli/commands.js';
import { Daemon } from '../../src/daemon.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';
import { readOnly, writable } from '../support/read-only.js';

/** An installed plugin whose command declares its arguments. */
const HELLO = `
export function start(ctx) {
  ctx.command('greet', {
    description: 'Greets someone.',
    role: 'viewer',
    params: { name: { type: 'string', help: 'Whom to greet.', required: true }, times: { type: 'number', help: 'How often.' } },
  }, (p) => ({ text: Array.from({ length: p.times ?? 1 }, () => 'hello, ' + p.name).join(' ') }));
}
`;
const HELLO_PKG = JSON.stringify({
  name: 'ockle-plugin-hello',
  version: '2.1.0',
  type: 'module',
  ockle: {
    name: 'hello',
    apiVersion: 1,
    description: 'Says hello.',
    main: 'plugin.js',
    role: 'viewer',
    settings: {
      greeting: { type: 'string', default: 'hi', help: 'What it says.' },
      times: { type: 'int', min: 1, max: 5, default: 1, help: 'How often.' },
      password: { type: 'secret', help: 'A secret it never shows.' },
    },
  },
});

/** Every file under `dir` with its bytes (and mode): what "nothing changed" compares. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(p.slice(dir.length + 1), `${((await stat(p)).mode & 0o777).toString(8)} ${(await readFile(p)).toString('base64')}`);
    }
  };
  await walk(dir);
  return out;
}

interface Ran {
  code: number;
  out: string;
  err: string;
}

describe('enable and disable plugins without a restart', () => {
  let demo: DemoCopy;
  let d: Daemon;
  let admin: string;
  const viewer = generateToken();
  const logs: { msg: string; origin?: string; plugin?: string; file?: string; action?: string }[] = [];
  /** Every plugin.changed event since the last `events.length = 0`: who started or stopped. */
  const events: { plugin: string; state: string }[] = [];
  let writesBefore = 0;
  const writes = (): number => {
    const world = d.shared<SimWorld>('sim-world')!;
    return ['pdu-a', 'pdu-b', 'relay-1'].reduce((n, id) => n + world.writes(id).count, 0);
  };
  const api = async (method: 'GET' | 'POST', path: string, token = admin): Promise<{ status: number; body: Record<string, unknown> }> => {
    // X-Ockle-Client: a bodyless POST must say it is no cross-site form (src/api/guard.ts).
    const res = await fetch(`${d.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'x-ockle-client': 'api' } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const cli = async (...argv: string[]): Promise<Ran> => {
    let out = '';
    let err = '';
    const code = await main([...argv, '--config', demo.configDir], {
      stdout: { write: (s: string) => ((out += s), true) },
      stderr: { write: (s: string) => ((err += s), true) },
      env: {},
      cwd: demo.configDir,
    });
    return { code, out, err };
  };
  const status = (name: string): PluginStatus | undefined => d.plugins().find((p) => p.name === name);
  const until = async (f: () => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 400 && !f(); i++) await new Promise((r) => setTimeout(r, 25));
    if (!f()) throw new Error(`never happened: ${what}`);
  };
  const ini = (): Promise<string> => demo.read('ockle.ini');
  /** Lines of `after` that differ from `before`, as [line number, text]. */
  const changedLines = (before: string, after: string): [number, string][] => {
    const a = before.split('\n');
    const b = after.split('\n');
    expect(b.length).toBe(a.length);
    return b.flatMap((l, i) => (l === a[i] ? [] : [[i + 1, l] as [number, string]]));
  };
  const refusedUnchanged = async (f: () => Promise<void>): Promise<void> => {
    const before = await snapshot(demo.configDir);
    events.length = 0;
    await f();
    expect(await snapshot(demo.configDir)).toEqual(before);
    expect(events).toEqual([]);
  };

  beforeAll(async () => {
    demo = await demoConfig();
    await demo.write('ockle.ini', (await ini()) + `\n[token.watcher]\nrole = viewer\nsha256 = ${viewer.sha256}\n`);
    const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) });
    d = await Daemon.start({ configDir: demo.configDir, log, port: 0, monitor: false });
    admin = (await readFile(join(demo.stateDir, 'api-token'), 'utf8')).trim();
    d.events.on('plugin.changed', (e) => events.push({ plugin: e.plugin, state: e.state }));
    await until(() => ['logger', 'metrics', 'timer-example'].every((n) => status(n)?.state === 'running'), 'the demo plugins run');
    // The sim devices are those of the demo (an unknown id would count 0 writes whatever happened).
    const world = d.shared<SimWorld>('sim-world')!;
    for (const id of ['pdu-a', 'pdu-b', 'relay-1']) expect(() => world.outlet(id, 1)).not.toThrow();
    writesBefore = writes();
  });
  afterAll(async () => {
    await writable(demo.configDir);
    await d.stop();
    await demo.cleanup();
  });

  it('disables and enables a bundled plugin through the API: one line changes, a backup is kept, only that plugin stops and starts', async () => {
    const original = await ini();
    const url = d.url;
    const servers = JSON.stringify(d.gateway.servers().map((s) => [s.name, s.state]));
    events.length = 0;
    const off = await api('POST', '/api/plugins/timer-example/disable');
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ changed: true, reloaded: true, plugin: { name: 'timer-example', state: 'disabled', source: 'bundled' }, file: join(demo.configDir, 'ockle.ini'), backup: join(demo.configDir, 'ockle.ini.bak') });
    expect(changedLines(original, await ini())).toEqual([[original.split('\n').indexOf('enabled = auto-control, logger, metrics, timer-example') + 1, 'enabled = auto-control, logger, metrics']]);
    expect(await demo.read('ockle.ini.bak')).toBe(original);
    expect(d.config.plugins.enabled).toEqual(['auto-control', 'logger', 'metrics']);
    // Only timer-example stopped: the other workers were never touched.
    expect(new Set(events.map((e) => e.plugin))).toEqual(new Set(['timer-example']));
    expect(status('logger')?.state).toBe('running');
    // Who, what, which file: logged.
    expect(logs).toContainEqual(expect.objectContaining({ origin: 'api:local', plugin: 'timer-example', action: 'disable', file: join(demo.configDir, 'ockle.ini'), msg: expect.stringMatching(/^plugin timer-example disabled by api:local: .*ockle\.ini written and reloaded$/) as string }));

    // Again: already disabled, nothing written.
    await refusedUnchanged(async () => {
      const again = await api('POST', '/api/plugins/timer-example/disable');
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ changed: false, reloaded: false, plugin: { name: 'timer-example', state: 'disabled' } });
    });

    events.length = 0;
    const on = await api('POST', '/api/plugins/timer-example/enable');
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ changed: true, reloaded: true, plugin: { name: 'timer-example', state: 'running' } });
    // Back in its place at the end of the list: the file is the original, byte for byte.
    expect(await ini()).toBe(original);
    expect(new Set(events.map((e) => e.plugin))).toEqual(new Set(['timer-example']));
    // The same daemon, on the same address, the servers as they were, and not an outlet written.
    expect(d.url).toBe(url);
    expect(JSON.stringify(d.gateway.servers().map((s) => [s.name, s.state]))).toBe(servers);
    expect(writes()).toBe(writesBefore);
  });

  it('only an admin may enable or disable; a viewer may look', async () => {
    await refusedUnchanged(async () => {
      expect((await api('POST', '/api/plugins/logger/disable', viewer.token)).status).toBe(403);
      expect((await api('POST', '/api/plugins/logger/enable', '')).status).toBe(401);
    });
    const shown = await api('GET', '/api/plugins/logger', viewer.token);
    expect(shown.status).toBe(200);
    const p = shown.body.plugin as PluginDetail;
    expect(p).toMatchObject({ name: 'logger', source: 'bundled', enabled: true, state: 'running', where: 'worker' });
    expect(p.settings.find((s) => s.key === 'retention')).toMatchObject({ kind: 'duration', value: '30d', line: expect.any(Number) as number });
  });

  it('an installed plugin dropped in while the daemon runs: shown, enabled by `ockle plugins enable`, runs its command with checked arguments, disabled again', async () => {
    const original = await ini();
    const dir = join(demo.configDir, 'plugins', 'hello');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'package.json'), HELLO_PKG);
    await writeFile(join(dir, 'plugin.js'), HELLO);

    const show = await cli('plugins', 'show', 'hello');
    expect(show.code, show.err).toBe(0);
    expect(show.out).toMatch(/^hello \(installed 2\.1\.0\): not enabled, disabled, runs in the worker thread\n {2}Says hello\.\n {2}file: .*plugins\/hello\/package\.json\n/);
    expect(show.out).toMatch(/^greeting +text +hi \(default\) +hi +What it says\.$/m);
    expect(show.out).toMatch(/^times +integer 1–5 +1 \(default\) +1 +How often\.$/m);
    expect(show.out).toMatch(/^password +secret text +- +- +A secret it never shows\.$/m);

    events.length = 0;
    const on = await cli('plugins', 'enable', 'hello');
    expect(on.code, on.err).toBe(0);
    expect(on.out).toMatch(/^hello: enabled, running; .*ockle\.ini written \(previous version: .*ockle\.ini\.bak\), configuration reloaded\n$/);
    expect(changedLines(original, await ini())).toEqual([[original.split('\n').indexOf('enabled = auto-control, logger, metrics, timer-example') + 1, 'enabled = auto-control, logger, metrics, timer-example, hello']]);
    expect(new Set(events.map((e) => e.plugin))).toEqual(new Set(['hello']));

    const list = await cli('plugins');
    expect(list.out).toMatch(/^hello +running +worker +installed +Says hello\.$/m);
    expect(list.out).toMatch(/^logger +running +worker +bundled /m);

    expect(status('hello')?.state).toBe('running');
    const cmds = await cli('cmd', '--list');
    expect(cmds.code, cmds.err).toBe(0);
    expect(cmds.out).toMatch(/^hello\.greet +viewer +name:string times\?:number +Greets someone\.$/m);
    expect(cmds.out).toMatch(/^hello\.greet +name +string, required +Whom to greet\.$/m);
    expect((await cli('cmd')).out).toBe(cmds.out);
    const listed = (await api('GET', '/api/commands', viewer.token)).body.commands as { name: string; params?: unknown }[];
    expect(listed.find((c) => c.name === 'hello.greet')?.params).toEqual({ name: { type: 'string', help: 'Whom to greet.', required: true }, times: { type: 'number', help: 'How often.' } });

    const ran = await cli('cmd', 'hello.greet', '{"name":"Ada","times":2}');
    expect(ran.code, ran.err).toBe(0);
    expect(JSON.parse(ran.out)).toEqual({ text: 'hello, Ada hello, Ada' });
    const bad = await cli('cmd', 'hello.greet', '{"name":5}');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/command hello\.greet: argument "name" must be a string, not number/);
    const missing = await cli('cmd', 'hello.greet', '{}');
    expect(missing.err).toMatch(/command hello\.greet needs argument "name" \(string: Whom to greet\.\)/);
    const unknown = await cli('cmd', 'hello.greet', '{"name":"x","loud":true}');
    expect(unknown.err).toMatch(/command hello\.greet has no argument "loud"; it takes: name \(string, required\), times \(number\)/);

    events.length = 0;
    const offRun = await cli('plugins', 'disable', 'hello');
    expect(offRun.code, offRun.err).toBe(0);
    expect(offRun.out).toMatch(/^hello: disabled; /);
    expect(await ini()).toBe(original);
    expect(new Set(events.map((e) => e.plugin))).toEqual(new Set(['hello']));
    expect((await cli('plugins', 'disable', 'hello')).out).toBe('hello: already disabled; nothing written\n');
    expect(((await api('GET', '/api/commands', viewer.token)).body.commands as { name: string }[]).map((c) => c.name)).not.toContain('hello.greet');

    // --json prints the API's answer.
    const json = await cli('plugins', 'show', 'hello', '--json');
    expect((JSON.parse(json.out) as { plugin: PluginDetail }).plugin).toMatchObject({ name: 'hello', source: 'installed', version: '2.1.0', enabled: false, file: join(dir, 'package.json') });
    expect(writes()).toBe(writesBefore);
  });

  it('shows a configured secret as [secret], never its value', async () => {
    const original = await ini();
    await demo.write('ockle.ini', original + '\n[plugins.hello]\npassword = hunter2\ntimes = 3\n');
    expect(await d.reload()).toBe(true);
    try {
      const r = await api('GET', '/api/plugins/hello', viewer.token);
      expect(JSON.stringify(r.body)).not.toContain('hunter2');
      const s = (r.body.plugin as PluginDetail).settings;
      expect(s.find((k) => k.key === 'password')).toMatchObject({ value: '[secret]', default: null, line: expect.any(Number) as number });
      expect(s.find((k) => k.key === 'times')).toMatchObject({ value: '3', default: '1', min: 1, max: 5 });
      const shown = await cli('plugins', 'show', 'hello');
      expect(shown.out).not.toContain('hunter2');
      expect(shown.out).toMatch(/^password +secret text +\[secret\] \(ockle\.ini:\d+\) +- +A secret/m);
    } finally {
      await demo.write('ockle.ini', original);
      expect(await d.reload()).toBe(true);
    }
  });

  it('refuses an unknown plugin (404, naming the others) and a broken one (409, with why), changing nothing', async () => {
    const broken = join(demo.configDir, 'plugins', 'no-main');
    await mkdir(broken, { recursive: true });
    await writeFile(join(broken, 'package.json'), JSON.stringify({ name: 'ockle-plugin-no-main', version: '1.0.0', ockle: { apiVersion: 1, main: 'gone.js' } }));
    await refusedUnchanged(async () => {
      const r = await api('POST', '/api/plugins/nope/enable');
      expect(r.status).toBe(404);
      expect(r.body.error).toMatchObject({ code: 'OCKLE_NOT_FOUND', message: 'no plugin "nope"', hint: expect.stringMatching(/^Plugins: auto-control, hello, logger, metrics, mqtt, no-main, timer-example\./) as string });
      const b = await api('POST', '/api/plugins/no-main/enable');
      expect(b.status).toBe(409);
      expect(b.body.error).toMatchObject({ code: 'OCKLE_PLUGIN_BROKEN', message: expect.stringMatching(/^plugin "no-main" cannot be loaded: .*gone\.js does not exist \(plugins\/no-main\/package\.json:\d+\)$/) as string });
      const c = await cli('plugins', 'enable', 'no-main');
      expect(c.code).toBe(1);
      expect(c.err).toMatch(/^ockle: plugin "no-main" cannot be loaded/);
      expect((await cli('plugins', 'show', 'nope')).code).toBe(2);
    });
  });

  it('refuses a change that would not validate, with the problem, writing nothing', async () => {
    // metrics off, and set to listen on the port ockle.ini gives the API: enabling it would clash.
    const original = await ini();
    const clashing = original.replace('enabled = auto-control, logger, metrics, timer-example', 'enabled = auto-control, logger, timer-example').replace(/^port = 0$/m, 'port = 18420').replace(/(\[plugins\.metrics\][^[]*?)port = 0/, '$1port = 18420');
    expect(clashing.match(/port = 18420/g)).toHaveLength(2);
    await demo.write('ockle.ini', clashing);
    expect(await d.reload()).toBe(true);
    try {
      await refusedUnchanged(async () => {
        const r = await api('POST', '/api/plugins/metrics/enable');
        expect(r.status).toBe(400);
        expect(r.body.error).toMatchObject({ code: 'OCKLE_CONFIG_INVALID', message: expect.stringMatching(/ockle\.ini:\d+: \[plugins\.metrics\] port 18420 on 127\.0\.0\.1 clashes with \[api\] port 18420/) as string });
      });
      expect(status('metrics')?.state).toBe('disabled');
    } finally {
      await demo.write('ockle.ini', original);
      expect(await d.reload()).toBe(true);
      await until(() => status('metrics')?.state === 'running', 'metrics runs again');
    }
  });

  it('refuses while the files differ from what the daemon loaded (the reload would apply those edits too)', async () => {
    const server = await demo.read('servers/web-1.ini');
    await demo.write('servers/web-1.ini', server.replace(/^description = .*$/m, 'description = edited but not reloaded'));
    try {
      await refusedUnchanged(async () => {
        const r = await api('POST', '/api/plugins/timer-example/disable');
        expect(r.status).toBe(409);
        expect(r.body.error).toMatchObject({ code: 'OCKLE_CONFIG_CONFLICT', message: expect.stringMatching(/was changed since the daemon loaded it/) as string });
      });
      // An invalid configuration on disk: refused as such.
      await demo.write('servers/web-1.ini', server + 'nonsense line\n');
      await refusedUnchanged(async () => {
        const r = await api('POST', '/api/plugins/timer-example/disable');
        expect(r.status).toBe(400);
        expect(r.body.error).toMatchObject({ code: 'OCKLE_CONFIG_INVALID', message: expect.stringMatching(/does not validate as it is.*servers\/web-1\.ini:\d+/s) as string });
      });
    } finally {
      await demo.write('servers/web-1.ini', server);
    }
    expect(status('timer-example')?.state).toBe('running');
  });

  it('in a read-only config directory: a clear error with the system’s reason, nothing changed, the plugin runs on', async () => {
    await readOnly(demo.configDir);
    try {
      await refusedUnchanged(async () => {
        const r = await api('POST', '/api/plugins/timer-example/disable');
        expect(r.status).toBe(500);
        expect(r.body.error).toMatchObject({ code: 'OCKLE_CONFIG_UNWRITABLE', message: expect.stringMatching(/^cannot write .*ockle\.ini: (EACCES|EPERM|EROFS)[^;]*; nothing was changed$/) as string });
        const c = await cli('plugins', 'disable', 'timer-example');
        expect(c.code).toBe(1);
        expect(c.err).toMatch(/^ockle: cannot write .*ockle\.ini: (EACCES|EPERM|EROFS)/);
      });
    } finally {
      await writable(demo.configDir);
    }
    expect(status('timer-example')?.state).toBe('running');
    expect(writes()).toBe(writesBefore);
  });

  it('describes the routes in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${d.url}/api/openapi.json`)).json()) as { paths: Record<string, unknown> };
    for (const p of ['/api/plugins/{name}', '/api/plugins/{name}/enable', '/api/plugins/{name}/disable']) expect(Object.keys(doc.paths)).toContain(p);
  });
});
