/**
 * Idle memory (issue 15): the resident set of the demo daemon with its worker plugins, once
 * they all run and it has idled a while, against a bare Node process running a fastify server
 * and the same number of idle worker threads, both measured in the same run. Once as `node`
 * runs them by default, once with the environment of systemd/ockle.service (the settings a
 * deployment runs with); then where the memory goes, from one run each: the daemon without
 * worker plugins and with each alone, and every thread's V8 heap (bench/memory-probe.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { API_INFO_FILE, LOCAL_TOKEN_FILE } from '../src/config/paths.js';
import { demoConfig, REPO } from '../test/support/demo.js';
import type { ThreadFigures } from './memory-probe.js';
import { median } from './timing.js';

type Report = (r: { name: string; unit: string; ockle: number; baseline: number; baselineName: string }) => void;

/** The daemon as the systemd unit and `npm start` run it: the bundled build (tools/bundle-daemon.ts). */
const MAIN = join(import.meta.dirname, '..', 'bundle', 'main.js');
const BASELINE = join(import.meta.dirname, 'idle-baseline.js');
const PROBE = pathToFileURL(join(import.meta.dirname, 'memory-probe.js')).href;
/** Idle this long once everything runs, then take the median of SAMPLES readings, 500 ms apart. */
const SETTLE_MS = 5000;
const SAMPLES = 5;
const REPS = 3;
const MB = 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `Environment=` settings of the systemd unit, as it would pass them to the daemon. */
export function unitEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(REPO, 'systemd', 'ockle.service'), 'utf8').split('\n')) {
    const m = /^Environment=(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const word of m[1]!.match(/"[^"]*"|\S+/g) ?? []) {
      const kv = word.replace(/^"|"$/g, '');
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
  }
  return env;
}

function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

async function idleRss(pid: number): Promise<number> {
  await sleep(SETTLE_MS);
  const xs: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await sleep(500);
    xs.push(rssKb(pid));
  }
  return median(xs) / MB;
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

interface DaemonIdle {
  readonly mb: number;
  readonly workers: readonly string[];
  /** With a probe: every thread's figures, the main thread first. */
  readonly threads?: readonly ThreadFigures[];
}

/** The demo daemon (`plugins`: its [plugins] enabled list instead of the demo's), idle with every plugin running. */
async function daemonIdle(env: Record<string, string>, o: { plugins?: string; probe?: boolean } = {}): Promise<DaemonIdle> {
  const demo = await demoConfig();
  const probeDir = o.probe ? mkdtempSync(join(tmpdir(), 'ockle-probe-')) : null;
  try {
    if (o.plugins !== undefined) await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace(/^enabled = .*$/m, `enabled = ${o.plugins}`));
    const args = [...(probeDir ? ['--import', PROBE] : []), MAIN, 'daemon', '--config', demo.configDir];
    const child = spawn(process.execPath, args, {
      stdio: 'ignore',
      env: { ...process.env, NOTIFY_SOCKET: '', ...env, ...(probeDir && { OCKLE_MEMORY_PROBE: join(probeDir, 'thread') }) },
    });
    try {
      const info = join(demo.stateDir, API_INFO_FILE);
      let url = '';
      for (let i = 0; ; i++) {
        if (i > 3000) throw new Error('the demo daemon did not answer within 60 s');
        if (existsSync(info)) {
          url = (JSON.parse(readFileSync(info, 'utf8')) as { url: string }).url;
          if ((await fetch(`${url}/api/health`).catch(() => undefined))?.ok) break;
        }
        await sleep(20);
      }
      const token = readFileSync(join(demo.stateDir, LOCAL_TOKEN_FILE), 'utf8').trim();
      let workers: string[] = [];
      for (let i = 0; ; i++) {
        if (i > 1500) throw new Error('the demo daemon’s plugins did not all run within 30 s');
        const { plugins } = (await (await fetch(`${url}/api/plugins`, { headers: { authorization: `Bearer ${token}` } })).json()) as { plugins: { name: string; where: string; state: string }[] };
        const enabled = plugins.filter((p) => p.state !== 'disabled');
        if (enabled.every((p) => p.state === 'running')) {
          workers = enabled.filter((p) => p.where === 'worker').map((p) => p.name);
          break;
        }
        await sleep(20);
      }
      const mb = await idleRss(child.pid!);
      if (!probeDir) return { mb, workers };
      const threads = readdirSync(probeDir)
        .map((f) => JSON.parse(readFileSync(join(probeDir, f), 'utf8')) as ThreadFigures)
        .sort((a, b) => a.threadId - b.threadId);
      return { mb, workers, threads };
    } finally {
      await stop(child);
    }
  } finally {
    await demo.cleanup();
    if (probeDir) rmSync(probeDir, { recursive: true, force: true });
  }
}

/** A bare process: fastify on loopback and `workers` idle worker threads. */
async function bareIdle(env: Record<string, string>, workers: number): Promise<number> {
  const child = spawn(process.execPath, [BASELINE, String(workers)], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, ...env } });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
      child.once('exit', () => reject(new Error('the baseline process exited before it listened')));
    });
    await (await fetch(`http://127.0.0.1:${port}/`)).arrayBuffer();
    return await idleRss(child.pid!);
  } finally {
    await stop(child);
  }
}

const mb = (bytes: number) => (bytes / 1_048_576).toFixed(1);

function describeThreads(threads: readonly ThreadFigures[], workers: readonly string[]): void {
  const [main, ...rest] = threads;
  if (!main?.process) return;
  const p = main.process;
  console.log(
    `  process: RSS ${(p.rss / MB).toFixed(1)} MB = ${(p.anon / MB).toFixed(1)} anonymous + ${(p.file / MB).toFixed(1)} file-backed (the node binary and libraries); threads' malloc arenas ${(p.mallocArenas / MB).toFixed(1)} MB`,
  );
  const line = (name: string, t: ThreadFigures): string => {
    const spaces = Object.entries(t.spaces)
      .filter(([, s]) => s.committed >= 512 * 1024)
      .map(([n, s]) => `${n.replace(/_space$/, '')} ${mb(s.committed)}/${mb(s.used)}`)
      .join(', ');
    return `  ${name.padEnd(24)} heap ${mb(t.heapTotal).padStart(5)} MB committed, ${mb(t.heapUsed).padStart(5)} used (${spaces}); external ${mb(t.external)} MB`;
  };
  // V8 counts the WebAssembly compiler's zones (process-wide) in every isolate's figure.
  console.log(`  V8 zone memory (parsers and compilers, WebAssembly's included) at its peak: ${mb(main.peakMalloced)} MB, now ${mb(main.malloced)} MB`);
  console.log(line('main thread', main));
  // Worker threads get their ids in the order the plugins start: the enabled order.
  rest.forEach((t, i) => console.log(line(`worker ${t.threadId}${workers[i] ? ` (${workers[i]})` : ''}`, t)));
}

export async function benchMemory(report: Report): Promise<void> {
  const unit = unitEnvironment();
  const unitText = Object.entries(unit).map(([k, v]) => `${k}=${v}`).join(' ');
  console.log(`idle RSS: ${REPS} runs each, ${SETTLE_MS / 1000} s idle after every plugin runs, median of ${SAMPLES} readings; the unit's environment: ${unitText || '(none)'}`);
  const runs: [string, Record<string, string>][] = [
    ['node defaults', {}],
    ['unit environment', unit],
  ];
  for (const [label, env] of runs) {
    const ours: number[] = [];
    const bare: number[] = [];
    const bareSame: number[] = [];
    let workers: readonly string[] = [];
    for (let i = 0; i < REPS; i++) {
      const d = await daemonIdle(env);
      ours.push(d.mb);
      workers = d.workers;
      bare.push(await bareIdle({}, workers.length));
      if (env !== unit) continue;
      bareSame.push(await bareIdle(env, workers.length));
    }
    report({ name: `idle RSS, demo + ${workers.length} workers, ${label}`, unit: 'MB', ockle: median(ours), baseline: median(bare), baselineName: `fastify + ${workers.length} idle workers, node defaults` });
    if (bareSame.length > 0)
      console.log(`  (the bare process with the unit's environment too: ${median(bareSame).toFixed(1)} MB, ratio ${(median(ours) / median(bareSame)).toFixed(2)}; runs ${ours.map((x) => x.toFixed(0)).join('/')} against ${bare.map((x) => x.toFixed(0)).join('/')})`);
    else console.log(`  (runs ${ours.map((x) => x.toFixed(0)).join('/')} against ${bare.map((x) => x.toFixed(0)).join('/')})`);
  }

  console.log('\nwhere it goes (one run each, node defaults):');
  const full = await daemonIdle({}, { probe: true });
  const none = await daemonIdle({}, { plugins: 'auto-control' });
  const bareNone = await bareIdle({}, 0);
  console.log(`  without worker plugins: ${none.mb.toFixed(1)} MB (bare fastify process: ${bareNone.toFixed(1)} MB); all ${full.workers.length}: ${full.mb.toFixed(1)} MB`);
  for (const w of full.workers) {
    const one = await daemonIdle({}, { plugins: `auto-control, ${w}` });
    console.log(`  with ${w} alone: ${one.mb.toFixed(1)} MB, +${(one.mb - none.mb).toFixed(1)} MB`);
  }
  if (full.threads) describeThreads(full.threads, full.workers);
  const tuned = await daemonIdle(unit, { probe: true });
  if (tuned.threads) {
    console.log(`with the unit's environment: ${tuned.mb.toFixed(1)} MB`);
    describeThreads(tuned.threads, tuned.workers);
  }
}

/** For a scratch look at one configuration: `node dist/bench/memory.js [enabled plugins]`. */
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const d = await daemonIdle({}, { probe: true, ...(process.argv[2] !== undefined && { plugins: process.argv[2] }) });
  console.log(`${d.mb.toFixed(1)} MB, workers: ${d.workers.join(', ')}`);
  if (d.threads) describeThreads(d.threads, d.workers);
}
