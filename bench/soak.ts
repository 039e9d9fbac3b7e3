/**
 * `npm run soak`: the daemon as systemd runs it, started and stopped again and again on the
 * demo lab, then killed (SIGKILL) in the middle of sequences. It counts the writes the sim
 * devices saw that no action asked for, and checks after every restart that each action the
 * API accepted is still in the journal (finished, or marked interrupted) and that the journal
 * opens whole. Not part of the test suite (it takes minutes); bounded in count and time.
 *
 *   npm run soak                # 100 starts/stops, 20 kills
 *   npm run soak -- 20 5        # fewer
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_INFO_FILE, LOCAL_TOKEN_FILE, type ApiInfo } from '../src/config/paths.js';
import type { Health } from '../src/core/gateway.js';
import type { ActionRecord } from '../src/core/model.js';
import { REPO, demoConfig, type DemoCopy } from '../test/support/demo.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');
const STARTS = Number(process.argv[2] ?? 100);
const KILLS = Number(process.argv[3] ?? 20);
const DEADLINE = Date.now() + 20 * 60_000; // never more than 20 minutes

/** Switch commands each sim device has accepted in its whole life (its state file's counter). */
function writes(stateDir: string): number {
  const dir = join(stateDir, 'sim');
  if (!existsSync(dir)) return 0;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .reduce((n, f) => n + ((JSON.parse(readFileSync(join(dir, f), 'utf8')) as { writes?: number }).writes ?? 0), 0);
}

interface Running {
  child: ChildProcess;
  url: string;
  token: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function start(demo: DemoCopy): Promise<Running> {
  const info = join(demo.stateDir, API_INFO_FILE);
  const before = existsSync(info) ? readFileSync(info, 'utf8') : '';
  const child = spawn(process.execPath, [MAIN, 'daemon', '--config', demo.configDir], { stdio: 'ignore', env: { ...process.env, NOTIFY_SOCKET: '' } });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`the daemon exited while starting (code ${child.exitCode})`);
    if (existsSync(info)) {
      const text = readFileSync(info, 'utf8');
      const { url, pid } = JSON.parse(text) as ApiInfo;
      if (text !== before || pid === child.pid) {
        const ok = await fetch(`${url}/api/health`).then((r) => r.ok, () => false);
        if (ok) return { child, url, token: readFileSync(join(demo.stateDir, LOCAL_TOKEN_FILE), 'utf8').trim(), exit };
      }
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGKILL');
  throw new Error('the daemon did not answer within 15 s');
}

async function api<T>(d: Running, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(d.url + path, {
    method,
    headers: { authorization: `Bearer ${d.token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function main(): Promise<void> {
  const demo = await demoConfig();
  const problems: string[] = [];
  let restarts = 0;
  let unasked = 0;
  try {
    // 1. Starts and stops: no write at all.
    const t0 = performance.now();
    for (let i = 0; i < STARTS && Date.now() < DEADLINE; i++) {
      const w0 = writes(demo.stateDir);
      const d = await start(demo);
      d.child.kill('SIGTERM');
      const { code, signal } = await d.exit;
      if (code !== 0) problems.push(`start/stop ${i + 1}: exit code ${code}${signal ? ` (signal ${signal})` : ''}`);
      const w = writes(demo.stateDir) - w0;
      if (w !== 0) problems.push(`start/stop ${i + 1}: ${w} writes nobody asked for`);
      unasked += w;
      restarts++;
    }
    const startStopS = (performance.now() - t0) / 1000;

    // 2. SIGKILL in the middle of sequences; every accepted action must survive the restart.
    const accepted: string[] = [];
    let lost = 0;
    let kills = 0;
    let repairs = 0;
    for (let i = 0; i < KILLS && Date.now() < DEADLINE; i++) {
      const d = await start(demo);
      const body = i % 2 === 0 ? { action: 'on', all: true, reason: `soak ${i}` } : { action: 'off', targets: ['storage-1'], reason: `soak ${i}` };
      const r = await api<{ action?: ActionRecord }>(d, 'POST', '/api/actions', body);
      if (r.status === 202 && r.body.action) accepted.push(r.body.action.id);
      await new Promise((res) => setTimeout(res, 200 + Math.random() * 1300));
      d.child.kill('SIGKILL');
      await d.exit;
      kills++;
      // The hardware as the killed daemon left it (the sim flushes its state within 50 ms).
      await new Promise((res) => setTimeout(res, 100));
      const w0 = writes(demo.stateDir);
      const again = await start(demo);
      const health = (await api<Health>(again, 'GET', '/api/health')).body;
      repairs += health.journal.repairs.length;
      for (const id of accepted) {
        const a = await api<ActionRecord>(again, 'GET', `/api/actions/${id}`);
        if (a.status !== 200) {
          lost++;
          problems.push(`kill ${i + 1}: action ${id} is gone after the restart (${a.status})`);
        } else if (a.body.status === 'running') {
          problems.push(`kill ${i + 1}: action ${id} still running after the restart`);
        }
      }
      again.child.kill('SIGTERM');
      await again.exit;
      const w = writes(demo.stateDir) - w0;
      if (w !== 0) problems.push(`restart after kill ${i + 1}: ${w} writes nobody asked for`);
      unasked += w;
      restarts += 2;
    }
    console.log(`${restarts} restarts (${STARTS} starts and stops in ${startStopS.toFixed(0)} s, ${kills} SIGKILLs during sequences), ${unasked} writes nobody asked for, ${lost} actions lost of ${accepted.length} accepted; journal repairs after the kills: ${repairs}`);
    for (const p of problems) console.log(`  problem: ${p}`);
    process.exitCode = problems.length === 0 ? 0 : 1;
  } finally {
    await demo.cleanup();
  }
}

await main();
