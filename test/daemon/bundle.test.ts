/**
 * The daemon's bundled build (dist/bundle/main.js, tools/bundle-daemon.ts), what the systemd
 * unit and `npm start` run: the same daemon as dist/src, so it finds what it finds from its own
 * files (the dashboard, the worker plugins' modules, the package version) and starts, serves,
 * reloads and stops as the unbundled one does, switching nothing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_INFO_FILE, LOCAL_TOKEN_FILE, type ApiInfo } from '../../src/config/paths.js';
import { packageVersion } from '../../src/version.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';
import { loadRecording, TestAgent } from '../support/snmp-agent.js';

const BUNDLE = join(REPO, 'dist', 'bundle', 'main.js');

describe('the bundled daemon', () => {
  let demo: DemoCopy;
  beforeEach(async () => {
    demo = await demoConfig();
  });
  afterEach(async () => {
    await demo.cleanup();
  });

  it('starts, serves the API, the dashboard and its worker plugins, and stops without switching', async () => {
    expect(existsSync(BUNDLE), 'dist/bundle/main.js is missing: run `npm run build`').toBe(true);
    const child = spawn(process.execPath, [BUNDLE, 'daemon', '--config', demo.configDir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: '' } });
    const out: string[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b.toString()));
    child.stderr.on('data', (b: Buffer) => out.push(b.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      let url = '';
      while (!url) {
        if (child.exitCode !== null) throw new Error(`daemon exited early:\n${out.join('')}`);
        const file = join(demo.stateDir, API_INFO_FILE);
        if (existsSync(file)) {
          const info = JSON.parse(await readFile(file, 'utf8')) as ApiInfo;
          if ((await fetch(`${info.url}/api/health`).catch(() => undefined))?.ok) url = info.url;
        }
        if (!url) await new Promise((r) => setTimeout(r, 25));
      }
      const auth = { authorization: `Bearer ${(await readFile(join(demo.stateDir, LOCAL_TOKEN_FILE), 'utf8')).trim()}` };
      expect(((await (await fetch(`${url}/api/health`, { headers: auth })).json()) as { version: string }).version).toBe(packageVersion());
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>ockle</title>');
      // The worker plugins load their modules from dist/ in their threads: each reaches `running`.
      const workers = async () =>
        ((await (await fetch(`${url}/api/plugins`, { headers: auth })).json()) as { plugins: { name: string; where: string; state: string }[] }).plugins.filter((p) => p.where === 'worker' && p.state !== 'disabled');
      for (let i = 0; i < 400 && (await workers()).some((p) => p.state !== 'running'); i++) await new Promise((r) => setTimeout(r, 25));
      expect((await workers()).map((p) => `${p.name}: ${p.state}`).sort()).toEqual(['logger: running', 'metrics: running', 'timer-example: running']);
      expect((await fetch(`${url}/api/openapi.json`, { headers: auth })).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exit, out.join('')).toBe(0);
    for (const d of ['pdu-a', 'pdu-b', 'relay-1'])
      expect((JSON.parse(await readFile(join(demo.stateDir, 'sim', `${d}.json`), 'utf8')) as { writes: number }).writes, d).toBe(0);
  });

  it('the second start reads the daemon from its code cache; drivers loaded later still load', async () => {
    // An SNMP PDU beside the demo's sim devices: its driver and net-snmp load after the bundle, at adoption.
    const agent = await new TestAgent({ data: loadRecording(join(REPO, 'test', 'fixtures', 'snmp', 'apc-rpdu.snmprec')) }).start();
    const cache = await mkdtemp(join(tmpdir(), 'ockle-code-cache-'));
    await demo.write('devices/rack-pdu.ini', `[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nport = ${agent.port}\ncommunity = public\nwrite_community = private\n`);
    await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace(/^log_level = .*$/m, 'log_level = debug'));
    const start = async (): Promise<{ codeCache: string; reachable: boolean | null }> => {
      const child = spawn(process.execPath, [BUNDLE, 'daemon', '--config', demo.configDir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: '', OCKLE_CODE_CACHE: cache } });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (out += b.toString()));
      const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
      let reachable: boolean | null = null;
      try {
        while (!/"codeCache"/.test(out)) {
          if (child.exitCode !== null) throw new Error(`daemon exited early:\n${out}`);
          await new Promise((r) => setTimeout(r, 25));
        }
        const { url } = JSON.parse(await readFile(join(demo.stateDir, API_INFO_FILE), 'utf8')) as ApiInfo;
        const auth = { authorization: `Bearer ${(await readFile(join(demo.stateDir, LOCAL_TOKEN_FILE), 'utf8')).trim()}` };
        const { devices } = (await (await fetch(`${url}/api/devices`, { headers: auth })).json()) as { devices: { id: string; reachable: boolean | null }[] };
        reachable = devices.find((d) => d.id === 'rack-pdu')?.reachable ?? null;
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exit, out).toBe(0);
      return { codeCache: /"codeCache":"(\w+)"/.exec(out)![1]!, reachable };
    };
    try {
      expect(await start()).toEqual({ codeCache: 'absent', reachable: true });
      // Saved at the stop (a start that lasts saves it a few seconds after it is ready).
      expect((await readdir(cache)).filter((f) => f.endsWith('.v8'))).toHaveLength(1);
      expect(await start()).toEqual({ codeCache: 'used', reachable: true });
      expect(agent.sets).toEqual([]);
    } finally {
      await agent.stop();
      await rm(cache, { recursive: true, force: true });
    }
  });

  it('`ockle version` prints the version, bundled and not', () => {
    for (const bin of [BUNDLE, join(REPO, 'dist', 'src', 'cli', 'main.js')])
      expect(execFileSync(process.execPath, [bin, 'version'], { encoding: 'utf8' })).toBe(`ockle ${packageVersion()}\n`);
  });

  it('both entries run as commands of their own (the build marks them executable; npx does not always)', () => {
    for (const bin of [BUNDLE, join(REPO, 'dist', 'src', 'cli', 'main.js')]) expect(execFileSync(bin, ['version'], { encoding: 'utf8' })).toBe(`ockle ${packageVersion()}\n`);
  });
});
