/**
 * `ockle plugins new`: the plugin it writes builds and passes its own test against the
 * `ockle/plugin` SDK (linked as npm would link a file: dependency; no network), and, installed
 * into a config's plugins folder and enabled, runs in the daemon and answers its command.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../drivers/registry.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { main } from '../../src/cli/commands.js';
import { checkConfig } from '../../src/config/load.js';
import { templateFromJson } from '../../src/config/plugin-manifest.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { PluginManifest, PluginSettings } from '../../src/sdk/plugin.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';

const run = promisify(execFile);
const CLI = join(REPO, 'dist', 'src', 'cli', 'main.js');

/** Runs the CLI in process; what it printed and its exit code. */
async function cli(argv: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: {}, cwd });
  return { code, stdout, stderr };
}

describe('ockle plugins new', () => {
  let scratch: string;
  let demo: DemoCopy;
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'ockle-scaffold-'));
    demo = await demoConfig();
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
    await demo.cleanup();
  });

  it('refuses an invalid name or a directory that is not empty, with exit 2, writing nothing', async () => {
    const bad = await cli(['plugins', 'new', 'Door_Bell'], scratch);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toMatch(/"Door_Bell" is not a valid plugin name/);
    expect(bad.stderr).toMatch(/lower-case letters, digits and dashes/);
    expect(await readdir(scratch)).toEqual([]);

    const busy = join(scratch, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'notes.txt'), 'mine');
    const full = await cli(['plugins', 'new', 'door-bell', '--dir', 'busy'], scratch);
    expect(full).toMatchObject({ code: 2, stdout: '' });
    expect(full.stderr).toContain(`${busy} exists and is not empty; nothing was written`);
    expect(await readdir(busy)).toEqual(['notes.txt']);
    await rm(busy, { recursive: true });

    expect((await cli(['plugins', 'new'], scratch)).code).toBe(2);
  });

  it('writes a plugin that builds, passes its own test, and runs in the daemon once installed and enabled', { timeout: 120_000 }, async () => {
    // Through the built binary, as a user runs it, into the default ./ockle-plugin-NAME.
    const made = await run(process.execPath, [CLI, 'plugins', 'new', 'change-count'], { cwd: scratch });
    const dir = join(scratch, 'ockle-plugin-change-count');
    expect(made.stdout).toContain(`wrote plugin change-count in ${dir}`);
    expect((await readdir(dir)).sort()).toEqual(['.gitignore', 'README.md', 'package.json', 'src', 'tsconfig.json']);
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { devDependencies: Record<string, string>; ockle: PluginManifest };
    expect(pkg.devDependencies.ockle).toBe(`file:${REPO}`);
    expect(pkg.devDependencies).not.toHaveProperty('vitest');

    // What `npm install` makes of its devDependencies, without the network: links.
    const nm = join(dir, 'node_modules');
    await mkdir(join(nm, '@types'), { recursive: true });
    await mkdir(join(nm, '.bin'));
    await symlink(REPO, join(nm, 'ockle'), 'dir');
    await symlink(join(REPO, 'node_modules', 'typescript'), join(nm, 'typescript'), 'dir');
    await symlink(join(REPO, 'node_modules', '@types', 'node'), join(nm, '@types', 'node'), 'dir');
    await symlink(join('..', 'typescript', 'bin', 'tsc'), join(nm, '.bin', 'tsc'));

    // `npm test`: its pretest builds (tsc), then node --test runs its test on ockle's test context.
    const env = { ...process.env, npm_config_update_notifier: 'false', NODE_OPTIONS: '' };
    const tested = await run('npm', ['test'], { cwd: dir, env }).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`the scaffold's npm test failed:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
    });
    expect(tested.stdout).toMatch(/# pass 2\n# fail 0/);
    expect(existsSync(join(dir, 'dist', 'plugin.js'))).toBe(true);
    // Its runtime code names ockle only in comments: the type import is gone.
    expect(await readFile(join(dir, 'dist', 'plugin.js'), 'utf8')).not.toMatch(/^\s*import .*ockle/m);

    // Installed as a folder into <config>/plugins/NAME, enabled and configured in ockle.ini.
    const installed = join(demo.configDir, 'plugins', 'change-count');
    await mkdir(installed, { recursive: true });
    await cp(join(dir, 'package.json'), join(installed, 'package.json'));
    await cp(join(dir, 'dist'), join(installed, 'dist'), { recursive: true });
    const ini = await demo.read('ockle.ini');
    await demo.write('ockle.ini', ini.replace(/^enabled = (.*)$/m, 'enabled = $1, change-count') + '\n[plugins.change-count]\ntop = 3\nlog_changes = yes\n');
    const checked = await checkConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    expect(checked.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(checked.config!.plugins.installed.get('change-count')).toMatchObject({ name: 'change-count', role: 'viewer', version: '0.1.0' });

    const d = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), port: 0, monitor: false });
    try {
      for (let i = 0; i < 200 && d.plugins().find((p) => p.name === 'change-count')?.state !== 'running'; i++) await new Promise((r) => setTimeout(r, 25));
      expect(d.plugins().find((p) => p.name === 'change-count')).toMatchObject({ where: 'worker', state: 'running', description: expect.stringContaining('Counts server state changes') as string });
      const token = (await demo.read('../state/api-token')).trim();
      const counts = (args: unknown) => fetch(`${d.url}/api/commands/change-count.counts`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(args) });
      type Counts = { result: { total: number; servers: { server: string; state: string; changes: number }[] } };
      const res = await counts({});
      expect(res.status).toBe(200);
      const { result } = (await res.json()) as Counts;
      expect(result.total).toBeGreaterThanOrEqual(0);
      expect(result.servers).toHaveLength(3); // top = 3 from [plugins.change-count]
      const names = d.gateway.servers().map((s) => s.name);
      for (const row of result.servers) expect(names).toContain(row.server);
      // Its declared argument: one server; a mistyped one is refused before the plugin sees it.
      const one = await counts({ server: names[0] });
      expect(((await one.json()) as Counts).result.servers).toEqual([expect.objectContaining({ server: names[0] })]);
      const bad = await counts({ server: 1 });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ error: { code: 'OCKLE_REQUEST_INVALID', message: expect.stringMatching(/argument "server" must be a string/) as string } });
    } finally {
      await d.stop();
    }
  });
});

describe('the SDK manifest types', () => {
  it('every setting type they admit is one the manifest reader accepts', () => {
    const settings = {
      name: { type: 'string', default: 'x', help: 'a string' },
      count: { type: 'int', min: 1, max: 8, default: 2 },
      on: { type: 'bool', default: true },
      every: { type: 'duration', min: '1s', max: '1h', default: '30s' },
      mode: { type: 'select', choices: ['a', 'b'], default: 'a' },
      modes: { type: 'multiselect', choices: ['a', 'b'], default: ['a'] },
      key: { type: 'secret', required: true },
      hosts: { type: 'list', default: ['h1', 'h2'] },
    } as const satisfies PluginSettings;
    const { template, problems } = templateFromJson(settings);
    expect(problems).toEqual([]);
    expect(Object.fromEntries(Object.entries(template).map(([k, s]) => [k, s.kind]))).toEqual({
      name: 'str',
      count: 'int',
      on: 'bool',
      every: 'duration',
      mode: 'select',
      modes: 'multilist',
      key: 'secret',
      hosts: 'list',
    });
    // @ts-expect-error a secret has no default: it would ship in the package
    const secretWithDefault: PluginSettings = { key: { type: 'secret', default: 'hunter2' } };
    expect(templateFromJson(secretWithDefault).problems).toHaveLength(1);
    // @ts-expect-error settings or a template file, not both
    const both: PluginManifest = { apiVersion: 1, settings: {}, template: 'x.ini' };
    expect(both.apiVersion).toBe(1);
  });
});
