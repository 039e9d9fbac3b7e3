/**
 * Where a sequence's time goes: a diagnostic beside the sequence benchmark, not a benchmark (it
 * compares nothing; `npm run bench -- sequence` does). `node dist/bench/sequence-anatomy.js [N]`
 * on the sequence benchmark's lab (layered DAG, depth 10, 20 ms boots, zero device latency):
 *
 * 1. A learned `on` of all N servers, timed per level through the real daemon and auto-control:
 *    when the servers of a level became ready (their dependencies serve), when their power came
 *    on (the device took the write), when they were proven up, and the probes each took. The
 *    level's cost is how much later than one boot its last server was up.
 * 2. What each operation of the sequencer's port costs, per server, with every server held by
 *    one action: the process's CPU time (all threads: V8 compiles and collects garbage beside
 *    the main thread) and the wall time, for N calls at once.
 * 3. The budget the goal leaves: ×1.10 of the critical path is 2 ms per level; a level
 *    of N/10 servers becoming ready together shares it.
 */
import type { ServerOps, Sequencer } from '../src/core/sequence.js';
import { Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import { createSequencer } from '../plugins/auto-control/sequencer.js';
import { sleep } from '../src/timers.js';
import { layeredDag, writeLab } from './sequence.js';
import { median } from './timing.js';
import { rm } from 'node:fs/promises';

const DEPTH = 10;
const BOOT_MS = 20;

interface Marks {
  ready?: number;
  powered?: number;
  up?: number;
  probes: number;
}

const n = Number(process.argv[2] ?? 1000);
const dag = layeredDag(n, DEPTH);
const level = new Map<string, number>();
for (const s of dag.names) level.set(s, Math.max(0, ...dag.deps.get(s)!.map((m) => level.get(m)! + 1)));
const { dir, root } = await writeLab(dag);
const d = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });

let marks = new Map<string, Marks>();
let t0 = 0;
const now = (): number => performance.now() - t0;
const m = (s: string): Marks => {
  let x = marks.get(s);
  if (!x) marks.set(s, (x = { probes: 0 }));
  return x;
};
/** auto-control's sequencer, with a port that notes when each server got where. */
const inner = createSequencer({ maxParallel: n });
const timed: Sequencer = (run, ops) => {
  const port: ServerOps = {
    ...ops,
    tree: ops.tree,
    mark: (s, mk) => {
      if (mk.phase === 'running') m(s).ready ??= now();
      ops.mark(s, mk);
    },
    probe: async (s, signal) => {
      m(s).probes++;
      const ok = await ops.probe(s, signal);
      if (ok && m(s).powered !== undefined) m(s).up ??= now();
      return ok;
    },
    switchOutlets: async (id, s, to, signal, read) => {
      const r = await ops.switchOutlets(id, s, to, signal, read);
      if (to === 'on' && r.poweredAt !== undefined) m(s).powered = now() - (ops.now() - r.poweredAt);
      return r;
    },
  };
  return inner(run, port);
};
d.gateway.lab.actions.setSequencer(timed);
const sequence = async (kind: 'on' | 'off'): Promise<number> => {
  marks = new Map();
  t0 = performance.now();
  const rec = d.gateway.request({ kind, targets: dag.names, force: false, origin: 'bench', reason: 'anatomy' });
  const done = await d.gateway.waitFor(rec.id);
  if (done.status !== 'ok') throw new Error(`sequence ${kind} ended ${done.status}: ${done.error?.message}`);
  return now();
};

try {
  // Warm: a cold on, then learned pairs (the JIT settles over the first few).
  await sequence('on');
  for (let i = 0; i < 4; i++) {
    await sequence('off');
    await sequence('on');
  }
  await sequence('off');
  const total = await sequence('on');
  console.log(`\n1. one learned on of ${n} servers: ${total.toFixed(1)} ms, critical path ${DEPTH * BOOT_MS} ms (×${(total / (DEPTH * BOOT_MS)).toFixed(2)})`);
  console.log('level  ready (ms)        ready→power on: median  max   up (ms)           probes/server  level cost');
  let prevUp = 0;
  for (let l = 0; l < DEPTH; l++) {
    const xs = dag.names.filter((s) => level.get(s) === l).map((s) => marks.get(s)!);
    const span = (k: 'ready' | 'up'): string => `${Math.min(...xs.map((x) => x[k]!)).toFixed(1)}–${Math.max(...xs.map((x) => x[k]!)).toFixed(1)}`.padEnd(18);
    const lag = xs.map((x) => x.powered! - x.ready!);
    const lastUp = Math.max(...xs.map((x) => x.up!));
    console.log(
      `${String(l).padStart(5)}  ${span('ready')}${median(lag).toFixed(2).padStart(22)} ${Math.max(...lag).toFixed(2).padStart(5)}   ${span('up')}${(xs.reduce((a, x) => a + x.probes, 0) / xs.length).toFixed(2).padStart(13)}  ${(lastUp - prevUp - BOOT_MS).toFixed(1).padStart(7)} ms`,
    );
    prevUp = lastUp;
  }

  // 2. The port's operations, every server held by one action whose sequencer waits.
  await sequence('off');
  let release = (): void => {};
  let port!: ServerOps;
  let signal!: AbortSignal;
  d.gateway.lab.actions.setSequencer((run, ops) => {
    port = ops;
    signal = run.signal;
    return new Promise((resolve) => (release = () => resolve({ status: 'ok' })));
  });
  const held = d.gateway.request({ kind: 'on', targets: dag.names, force: false, origin: 'bench', reason: 'anatomy: held' });
  while (!port) await sleep(1);
  const id = held.id;
  const names = dag.names;
  const cost = async (what: string, fn: () => Promise<unknown>, reps = 3): Promise<number> => {
    const runs: { cpu: number; wall: number }[] = [];
    for (let r = 0; r < reps; r++) {
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      await fn();
      const c = process.cpuUsage(c0);
      runs.push({ cpu: (c.user + c.system) / names.length, wall: ((performance.now() - w0) * 1000) / names.length });
    }
    const cpu = median(runs.map((r) => r.cpu));
    console.log(`${what.padEnd(52)} ${cpu.toFixed(1).padStart(6)} µs CPU ${median(runs.map((r) => r.wall)).toFixed(1).padStart(7)} µs wall`);
    return cpu;
  };
  console.log(`\n2. the sequencer's port, per server (${n} at once, median of 3)`);
  const markCost = await cost('mark running, then finished', async () => {
    for (const s of names) {
      port.mark(s, { phase: 'running', kind: 'on' });
      port.mark(s, { phase: 'finished', kind: 'on', result: 'ok' });
    }
  });
  const stepCost = await cost('step (journal line and event)', async () => {
    for (const s of names) port.step(id, { server: s, op: 'up', ok: true, detail: `${s} serves after 0.0 s`, ms: BOOT_MS });
    await new Promise((r) => setImmediate(r));
  });
  const readCost = await cost('readOutlets (one read per device)', () => Promise.all(names.map((s) => port.readOutlets(s, signal))));
  const offProbe = await cost('probe, outlets off ("no power", nothing sent)', () => Promise.all(names.map((s) => port.probe(s, signal))));
  const reads = await Promise.all(names.map((s) => port.readOutlets(s, signal)));
  const switchCost = await cost('switchOutlets on (a fresh read given)', () => Promise.all(names.map((s, i) => port.switchOutlets(id, s, 'on', signal, reads[i]))), 1);
  const failProbe = await cost('probe, powered and booting (fails)', () => Promise.all(names.map((s) => port.probe(s, signal))));
  await sleep(BOOT_MS + 5);
  const passProbe = await cost('probe, booted (passes)', () => Promise.all(names.map((s) => port.probe(s, signal))));
  const sleepCost = await cost('sleep 1 ms under the action signal', () => Promise.all(names.map(() => sleep(1, signal))));
  await cost('switchOutlets off (read inside)', () => Promise.all(names.map((s) => port.switchOutlets(id, s, 'off', signal))), 1);
  release();
  await d.gateway.waitFor(id);

  // 3. The budget.
  const width = n / DEPTH;
  const perLevel = (0.1 * DEPTH * BOOT_MS) / DEPTH;
  const critical = markCost + readCost + offProbe + switchCost + passProbe + stepCost;
  console.log(
    `\n3. ×1.10 of the critical path leaves ${perLevel.toFixed(1)} ms per level, for ${width} servers ready together: ${((perLevel * 1000) / width).toFixed(0)} µs each.` +
      `\n   One server's way from ready to proven up (marks, read, probe, switch and confirm, passing probe, step) costs ${critical.toFixed(0)} µs here;` +
      ` with the probe that fails at test_interval and a boot timer, ${(critical + failProbe + sleepCost).toFixed(0)} µs (the goal for all of it is 50 µs).`,
  );
} finally {
  await d.stop();
  await rm(root, { recursive: true, force: true });
}
