/**
 * The daemon as a real process, the way systemd runs it: `node dist/src/cli/main.js daemon`.
 * Signals: SIGTERM stops without switching, SIGHUP reloads only a valid config.
 * (`npm test` builds dist/ first, in its pretest step.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_INFO_FILE, type ApiInfo } from '../../src/config/paths.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

interface Run {
  child: ChildProcess;
  out: string[];
  exit: Promise<number | null>;
}

function run(configDir: string, env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [MAIN, 'daemon', '--config', configDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NOTIFY_SOCKET: '', ...env },
  });
  const out: string[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b.toString()));
  child.stderr!.on('data', (b: Buffer) => out.push(b.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out, exit };
}

/** Waits until the daemon has published its URL and answers /api/health. */
async function ready(stateDir: string, r: Run): Promise<string> {
  for (let i = 0; i < 400; i++) {
    if (r.child.exitCode !== null) throw new Error(`daemon exited early:\n${r.out.join('')}`);
    const file = join(stateDir, API_INFO_FILE);
    if (existsSync(file)) {
      const { url } = JSON.parse(await readFile(file, 'utf8')) as ApiInfo;
      const res = await fetch(`${url}/api/health`).catch(() => undefined);
      if (res?.ok) return url;
    }
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error(`daemon not ready:\n${r.out.join('')}`);
}

async function simWrites(stateDir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const d of ['pdu-a', 'pdu-b', 'relay-1']) {
    const f = JSON.parse(await readFile(join(stateDir, 'sim', `${d}.json`), 'utf8')) as { writes: number };
    out[d] = f.writes;
  }
  return out;
}

describe('daemon process', () => {
  let demo: DemoCopy;
  beforeEach(async () => {
    demo = await demoConfig();
  });
  afterEach(async () => {
    await demo.cleanup();
  });

  it('starts and stops (SIGTERM) ten times in a row without writing to any outlet', async () => {
    for (let i = 0; i < 10; i++) {
      const r = run(demo.configDir);
      await ready(demo.stateDir, r);
      r.child.kill('SIGTERM');
      expect(await r.exit, r.out.join('')).toBe(0);
    }
    expect(await simWrites(demo.stateDir)).toEqual({ 'pdu-a': 0, 'pdu-b': 0, 'relay-1': 0 });
  });

  it('a SIGTERM in the first moments, while its modules still load, stops it cleanly (exit 0, not killed by the signal)', async () => {
    // From the first line of the binary on (before ockle's modules load: about 0.5 s on a Pi),
    // a stop signal is held; OCKLE_TRACE_START says when that is.
    for (const afterMs of [0, 50, 150]) {
      const r = run(demo.configDir, { OCKLE_TRACE_START: '1' });
      const signalled = new Promise<NodeJS.Signals | null>((resolve) => r.child.on('exit', (_code, sig) => resolve(sig)));
      for (let i = 0; i < 400 && !r.out.join('').includes('ockle: stop signals held'); i++) await new Promise((res) => setTimeout(res, 2));
      await new Promise((res) => setTimeout(res, afterMs));
      r.child.kill('SIGTERM');
      expect(await signalled, `SIGTERM ${afterMs} ms after the signals were held:\n${r.out.join('')}`).toBeNull();
      expect(await r.exit, r.out.join('')).toBe(0);
    }
  });

  it('a SIGTERM or SIGHUP that arrives while it is still starting is honoured once started, never lost or fatal', async () => {
    await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace(/^log_level = .*$/m, 'log_level = info'));
    const until = async (r: Run, text: string): Promise<void> => {
      for (let i = 0; i < 800 && !r.out.join('').includes(text); i++) await new Promise((res) => setTimeout(res, 5));
    };
    // The API listens before the worker plugins have started: signal at that moment.
    const a = run(demo.configDir);
    await until(a, 'Server listening');
    a.child.kill('SIGHUP');
    await until(a, 'configuration reloaded');
    expect(a.out.join('')).toContain('configuration reloaded');
    a.child.kill('SIGTERM');
    expect(await a.exit, a.out.join('')).toBe(0);
    const b = run(demo.configDir);
    await until(b, 'Server listening');
    b.child.kill('SIGTERM');
    expect(await b.exit, b.out.join('')).toBe(0);
    expect(b.out.join('')).toMatch(/stopping \(no outlet is switched\)[\s\S]*ockle stopped/);
    expect(await simWrites(demo.stateDir)).toEqual({ 'pdu-a': 0, 'pdu-b': 0, 'relay-1': 0 });
  });

  it('keeps serving on the old config when SIGHUP brings a broken one', async () => {
    const r = run(demo.configDir);
    const url = await ready(demo.stateDir, r);
    await demo.write('servers/web-2.ini', (await demo.read('servers/web-2.ini')).replace('dependencies =', 'dependencies = nowhere,'));
    r.child.kill('SIGHUP');
    for (let i = 0; i < 200 && !r.out.join('').includes('reload refused'); i++) await new Promise((res) => setTimeout(res, 25));
    const log = r.out.join('');
    expect(log).toMatch(/servers\/web-2\.ini:\d+: .*nowhere/);
    expect(log).toMatch(/reload refused/);
    const res = await fetch(`${url}/api/health`);
    expect(res.ok).toBe(true);
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
  });

  it('refuses to start on a broken config with file:line messages and exit code 2', async () => {
    await demo.write('devices/pdu-a.ini', (await demo.read('devices/pdu-a.ini')).replace('outlets = 8', 'outlets = eight'));
    const r = run(demo.configDir);
    expect(await r.exit).toBe(2);
    expect(r.out.join('')).toMatch(/devices\/pdu-a\.ini:\d+: .*eight/);
    expect(existsSync(join(demo.stateDir, 'sim'))).toBe(false);
  });

  it('exits with the reason when its API port is taken, instead of hanging half started, having written nothing', async () => {
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', () => r()));
    const port = (squatter.address() as { port: number }).port;
    try {
      await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace(/^port = 0$/m, `port = ${port}`));
      const r = run(demo.configDir);
      const code = await Promise.race([r.exit, new Promise<'hung'>((res) => setTimeout(() => res('hung'), 20_000))]);
      if (code === 'hung') r.child.kill('SIGKILL');
      expect(code).toBe(1);
      expect(r.out.join('')).toContain(`[api] cannot listen: 127.0.0.1:${port} is in use`);
      expect(Object.values(await simWrites(demo.stateDir)).every((n) => n === 0)).toBe(true);
    } finally {
      squatter.close();
    }
  }, 30_000);
});
