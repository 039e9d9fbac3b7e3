/**
 * Sequence benchmark: `npm run bench -- sequence`. Layered DAGs of N servers (depth 10, each
 * server above the first layer needs 1–3 random servers of the layer below), sim devices with
 * zero switch latency, machines that boot in a fixed time. Side by side, in one run:
 * - ockle: measured makespan of `on --all` through the real daemon, runtime and auto-control,
 *   cold (no boot time known) and learned (the same lab again after an off);
 * - critical path: depth × boot, the physical limit;
 * - sequential: one server at a time in topological order (N × boot), computed;
 * - Ockle's scan-and-sleep (every WAIT_TIME = 1 s, start every server whose dependencies are up),
 *   re-simulated exactly on the same DAG;
 * - floor: the same DAG run with one bare timer per server, measured in this process (median of
 *   three): what Node's timers alone add to the critical path here. `/floor` is learned ÷ floor.
 * - bare: the same `on` through the same daemon, runtime, journal, progress and marks, with a
 *   sequencer that does no device work at all (per server: its dependencies, a mark, a timer of
 *   the boot time, a journal step, a mark): what any sequencer pays here around its reads,
 *   probes and writes (median of three).
 * Also the daemon's CPU time for the run, per server. The learned run is repeated (an off in
 * between) and its median reported, with the fastest and slowest beside it: on a shared machine
 * one run moved by ±30 %.
 *
 * Run on its own (to profile it): `node --cpu-prof dist/bench/sequence.js 1000`.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Sequencer } from '../src/core/sequence.js';
import { Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import { sleep } from '../src/timers.js';
import { median } from './timing.js';

const DEPTH = 10;
const BOOT_MS = 20;
const TEST_INTERVAL_MS = 10;
const OUTLETS_PER_DEVICE = 64;
const OCKLE_WAIT_MS = 1000;
/** Learned runs per size; the median is reported. */
const LEARNED_RUNS = 3;

/** A small deterministic generator (mulberry32), so every run benchmarks the same graphs. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Dag {
  readonly names: string[];
  readonly deps: Map<string, string[]>;
}

export function layeredDag(n: number, depth: number, seed = 42): Dag {
  const r = rng(seed);
  const layers: string[][] = Array.from({ length: depth }, () => []);
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = `s${String(i).padStart(4, '0')}`;
    layers[Math.floor((i * depth) / n)]!.push(name);
    names.push(name);
  }
  const deps = new Map<string, string[]>();
  layers.forEach((layer, l) => {
    for (const name of layer) {
      if (l === 0 || layers[l - 1]!.length === 0) {
        deps.set(name, []);
        continue;
      }
      const below = layers[l - 1]!;
      const k = Math.min(below.length, 1 + Math.floor(r() * 3));
      const picked = new Set<string>();
      while (picked.size < k) picked.add(below[Math.floor(r() * below.length)]!);
      deps.set(name, [...picked]);
    }
  });
  return { names, deps };
}

/** Longest chain of boots (the physical limit). */
function criticalPath(d: Dag): number {
  const level = new Map<string, number>();
  for (const n of d.names) level.set(n, Math.max(0, ...d.deps.get(n)!.map((m) => level.get(m)! + 1)));
  return (Math.max(...level.values()) + 1) * BOOT_MS;
}

/**
 * The floor on this machine, measured: the same DAG run with nothing but one timer per server
 * (a server "boots" BOOT_MS after its last dependency's timer fired). What Node's timers alone
 * add to the critical path (each fires a little late); ockle cannot beat it.
 */
async function timerFloor(d: Dag): Promise<number> {
  const dependents = new Map(d.names.map((n) => [n, [] as string[]]));
  for (const [n, deps] of d.deps) for (const m of deps) dependents.get(m)!.push(n);
  const left = new Map(d.names.map((n) => [n, d.deps.get(n)!.length]));
  const t0 = performance.now();
  return new Promise((resolve) => {
    let done = 0;
    const start = (n: string): void => {
      setTimeout(() => {
        if (++done === d.names.length) resolve(performance.now() - t0);
        for (const m of dependents.get(n)!) {
          const k = left.get(m)! - 1;
          left.set(m, k);
          if (k === 0) start(m);
        }
      }, BOOT_MS);
    };
    for (const n of d.names) if (left.get(n) === 0) start(n);
  });
}

/**
 * A sequencer that switches, reads and probes nothing: each server waits for its dependencies,
 * is marked running, "boots" on a bare timer, gets an `up` step and is marked done. Run through
 * the real runtime, it measures what admission, the journal, progress, marks, derivations and
 * events cost around a sequence, without any device work.
 */
function bareSequencer(): Sequencer {
  return async (run, ops) => {
    const inSet = new Set(run.servers);
    const tasks = new Map<string, Promise<void>>();
    const go = (n: string): Promise<void> => {
      let t = tasks.get(n);
      if (!t) {
        t = (async () => {
          await Promise.all(ops.tree.dependencies(n).filter((m) => inSet.has(m)).map(go));
          ops.mark(n, { phase: 'running', kind: 'on' });
          await sleep(BOOT_MS, run.signal);
          ops.step(run.action.id, { server: n, op: 'up', ok: true, detail: `${n} up (bare sequencer)` });
          ops.mark(n, { phase: 'finished', kind: 'on', result: 'ok' });
        })();
        tasks.set(n, t);
      }
      return t;
    };
    await Promise.all(run.servers.map(go));
    return { status: 'ok' };
  };
}

/** Ockle's AutoControl: scan, start whatever is ready, sleep WAIT_TIME, repeat. */
function ockleScanMakespan(d: Dag): number {
  const upAt = new Map<string, number>();
  let t = 0;
  while (upAt.size < d.names.length) {
    const ready = d.names.filter((n) => !upAt.has(n) && d.deps.get(n)!.every((m) => upAt.has(m) && upAt.get(m)! <= t));
    for (const n of ready) upAt.set(n, t + BOOT_MS);
    if (upAt.size === d.names.length) break;
    t += OCKLE_WAIT_MS;
  }
  return Math.max(...upAt.values());
}

export async function writeLab(d: Dag): Promise<{ dir: string; root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'ockle-bench-seq-'));
  const dir = join(root, 'config');
  await mkdir(join(dir, 'devices'), { recursive: true });
  await mkdir(join(dir, 'servers'), { recursive: true });
  const devices = Math.ceil(d.names.length / OUTLETS_PER_DEVICE);
  await writeFile(
    join(dir, 'ockle.ini'),
    `[daemon]\nstate_dir = ../state\nlog_level = error\n[api]\nport = 0\n[servers]\nmax_attempts = 1\nboot_timeout = 30s\ntest_interval = ${TEST_INTERVAL_MS}ms\n[plugins]\nenabled = auto-control\n[plugins.auto-control]\nmax_parallel = 1000\n`,
  );
  for (let i = 0; i < devices; i++)
    await writeFile(
      join(dir, 'devices', `pdu-${i + 1}.ini`),
      `[device]\ntype = sim\noutlets = ${OUTLETS_PER_DEVICE}\ninitial = off\nswitch_latency = 0ms\nread_latency = 0ms\nmax_concurrency = 16\nmetering = false\npoll_interval = 1h\n`,
    );
  await Promise.all(
    d.names.map((name, i) =>
      writeFile(
        join(dir, 'servers', `${name}.ini`),
        `[server]\noutlets = power\ntests = up\n${d.deps.get(name)!.length ? `dependencies = ${d.deps.get(name)!.join(', ')}\n` : ''}\n[power]\ndevice = pdu-${Math.floor(i / OUTLETS_PER_DEVICE) + 1}\noutlet = ${(i % OUTLETS_PER_DEVICE) + 1}\n\n[up]\ntype = sim\nboot_time = ${BOOT_MS}ms\nprobe_latency = 0ms\n`,
      ),
    ),
  );
  return { dir, root };
}

export async function benchSequence(sizes: readonly number[] = [10, 100, 1000]): Promise<string[]> {
  const rows: string[] = [];
  const header = `${'N'.padStart(5)} ${'cold ms'.padStart(8)} ${'learned'.padStart(8)} ${'critical'.padStart(9)} ${'ratio'.padStart(6)} ${'floor'.padStart(6)} ${'/floor'.padStart(7)} ${'bare'.padStart(5)} ${'/bare'.padStart(6)} ${'sequential'.padStart(11)} ${'Ockle scan'.padStart(11)} ${'CPU/server'.padStart(11)}  learned min–max`;
  console.log(`\nsequence: layered DAG depth ${DEPTH}, fan-in 1–3, boot ${BOOT_MS} ms, test_interval ${TEST_INTERVAL_MS} ms, zero switch latency\n${header}`);
  rows.push(header);
  for (const n of sizes) {
    const dag = layeredDag(n, DEPTH);
    const { dir, root } = await writeLab(dag);
    const d = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    const sequence = async (kind: 'on' | 'off'): Promise<{ ms: number; cpuMs: number }> => {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const rec = d.gateway.request({ kind, targets: dag.names, force: false, origin: 'bench', reason: 'bench' });
      const done = await d.gateway.waitFor(rec.id);
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      if (done.status !== 'ok') throw new Error(`sequence ${kind} ended ${done.status}: ${done.error?.message}`);
      return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
    };
    try {
      // 1. Cold: no boot time known, probes every test_interval.
      const cold = await sequence('on');
      // 2. Learned: the same lab again, probes scheduled from the boot times just seen.
      const learned: { ms: number; cpuMs: number }[] = [];
      for (let i = 0; i < LEARNED_RUNS; i++) {
        await sequence('off');
        learned.push(await sequence('on'));
      }
      const warm = { ms: median(learned.map((r) => r.ms)), cpuMs: median(learned.map((r) => r.cpuMs)) };
      const spread = `${Math.min(...learned.map((r) => r.ms)).toFixed(0)}–${Math.max(...learned.map((r) => r.ms)).toFixed(0)}`;
      const cp = criticalPath(dag);
      const floor = median([await timerFloor(dag), await timerFloor(dag), await timerFloor(dag)]);
      // Last, as it replaces auto-control's sequencer for the rest of this daemon's life; from
      // a lab that is off (it switches nothing, so the lab stays off for each of its runs).
      await sequence('off');
      d.gateway.lab.actions.setSequencer(bareSequencer());
      const bare = median([(await sequence('on')).ms, (await sequence('on')).ms, (await sequence('on')).ms]);
      const row = `${String(n).padStart(5)} ${cold.ms.toFixed(0).padStart(8)} ${warm.ms.toFixed(0).padStart(8)} ${cp.toFixed(0).padStart(9)} ${(warm.ms / cp).toFixed(2).padStart(6)} ${floor.toFixed(0).padStart(6)} ${(warm.ms / floor).toFixed(2).padStart(7)} ${bare.toFixed(0).padStart(5)} ${(warm.ms / bare).toFixed(2).padStart(6)} ${(n * BOOT_MS).toFixed(0).padStart(11)} ${ockleScanMakespan(dag).toFixed(0).padStart(11)} ${(warm.cpuMs / n).toFixed(3).padStart(11)}  ${spread.padStart(15)}`;
      console.log(row);
      rows.push(row);
    } finally {
      await d.stop();
      await rm(root, { recursive: true, force: true });
    }
  }
  return rows;
}

type Report = (r: { name: string; unit: string; ockle: number; baseline: number; baselineName: string }) => void;

/**
 * The same learned `on` of N servers with `streams` event streams open (`/api/events`, read by a
 * child process as fast as they come: dashboards, `ockle watch`), against none, in one daemon.
 * Each stream gets every event of the sequence; what that costs the daemon is what is measured.
 */
export async function benchSequenceWatched(report: Report, n = 1000, streams = 50): Promise<void> {
  const dag = layeredDag(n, DEPTH);
  const { dir, root } = await writeLab(dag);
  const d = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
  const token = (await readFile(join(root, 'state', 'api-token'), 'utf8')).trim();
  const on = async (): Promise<number> => {
    for (const kind of ['off', 'on'] as const) {
      const t0 = performance.now();
      const rec = d.gateway.request({ kind, targets: dag.names, force: false, origin: 'bench', reason: 'bench' });
      const done = await d.gateway.waitFor(rec.id);
      if (done.status !== 'ok') throw new Error(`sequence ${kind} ended ${done.status}`);
      if (kind === 'on') return performance.now() - t0;
    }
    return NaN;
  };
  const reader = `const http = require('node:http'); let open = 0;
for (let i = 0; i < ${streams}; i++) http.get(process.argv[1], { headers: { authorization: 'Bearer ' + process.argv[2] } }, (res) => { res.resume(); if (++open === ${streams}) console.log('open'); });`;
  try {
    await on();
    const quiet = median([await on(), await on(), await on(), await on(), await on()]);
    const child = spawn(process.execPath, ['-e', reader, `${d.url}/api/events`, token], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => b.toString().includes('open') && resolve());
        child.once('exit', (code) => reject(new Error(`the stream reader exited (${code})`)));
      });
      const watched = median([await on(), await on(), await on(), await on(), await on()]);
      report({ name: `sequence ${n}, ${streams} event streams`, unit: 'ms', ockle: watched, baseline: quiet, baselineName: 'the same, no event stream' });
    } finally {
      child.kill();
    }
  } finally {
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
}

// `node dist/bench/sequence.js [N…]`: only these sizes, in this process (for --cpu-prof).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sizes = process.argv.slice(2).map(Number);
  await benchSequence(sizes.length > 0 ? sizes : undefined);
}
