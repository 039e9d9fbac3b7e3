/**
 * Benchmarks. Each one measures ockle's path and a baseline doing the irreducible part of the
 * same work in the same run, and prints both with their ratio, so figures from different
 * machines stay comparable. Run with `npm run bench`; record results in BENCHMARKS.md.
 *
 * `--one-core` runs the selection twice: as usual, then again pinned to one core
 * (`taskset -c 0`, the daemon and baseline processes it starts included), a budget closer to a
 * Raspberry Pi's, and prints both sets of figures side by side.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fdatasyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import ini from 'ini';
import { defaultRegistry } from '../drivers/registry.js';
import { builtinPluginTemplates } from '../plugins/registry.js';
import { loadConfig } from '../src/config/load.js';
import { API_INFO_FILE } from '../src/config/paths.js';
import { ActionJournal } from '../src/core/journal.js';
import { Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import { demoConfig } from '../test/support/demo.js';
import { benchSequence, benchSequenceWatched } from './sequence.js';
import { median, time } from './timing.js';
import { benchSnmp } from './snmp.js';
import { benchRelays } from './relays.js';
import { benchIpmi } from './ipmi.js';
import { benchPlugins } from './plugins.js';
import { benchWeb } from './web.js';
import { benchPduDaemon } from './pdudaemon.js';
import { benchMqtt } from './mqtt.js';
import { benchUps } from './ups.js';
import { benchMemory, unitEnvironment } from './memory.js';

interface Result {
  name: string;
  unit: string;
  ockle: number;
  baseline: number;
  baselineName: string;
}
const results: Result[] = [];

function report(r: Result): void {
  results.push(r);
  const ratio = r.ockle / r.baseline;
  console.log(
    `${r.name.padEnd(34)} ockle ${r.ockle.toFixed(3).padStart(9)} ${r.unit}   ${r.baselineName.padEnd(34)} ${r.baseline
      .toFixed(3)
      .padStart(9)} ${r.unit}   ratio ${ratio.toFixed(2)}`,
  );
}

async function benchConfig(dir: string): Promise<void> {
  const registry = defaultRegistry();
  const files = ['ockle.ini', ...['devices', 'servers'].flatMap((d) => readdirSync(join(dir, d)).map((f) => join(d, f)))];
  await loadConfig(dir, { drivers: registry, plugins: builtinPluginTemplates });
  const ockle = await time(50, () => loadConfig(dir, { drivers: registry, plugins: builtinPluginTemplates }));
  const baseline = await time(50, async () => {
    for (const f of files) ini.decode(await readFile(join(dir, f), 'utf8'));
  });
  report({ name: 'config load + validate (demo lab)', unit: 'ms', ockle, baseline, baselineName: 'read + ini.decode, no checks' });
}

async function benchStart(dir: string): Promise<void> {
  const ockle = await time(10, async () => {
    const d = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    await d.stop();
  });
  // Baseline: the unavoidable hardware part, the same sim devices opened and read directly.
  const cfg = await loadConfig(dir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
  const def = defaultRegistry().get('outlet', 'sim')!;
  const baseline = await time(10, async () => {
    const shared = new Map<string, unknown>();
    const signal = new AbortController().signal;
    await Promise.all(
      cfg.devices.map(async (dc) => {
        const dev = def.create(dc.spec as never, {
          id: dc.id,
          log: silentLogger(),
          stateDir: cfg.stateDir,
          shared: <T>(k: string, init: () => T): T => (shared.has(k) ? (shared.get(k) as T) : (shared.set(k, init()), shared.get(k) as T)),
        });
        await dev.open(signal);
        await dev.read(Array.from({ length: dev.outletCount }, (_, i) => i + 1), signal);
        await dev.close();
      }),
    );
  });
  report({ name: 'daemon start+stop, in process', unit: 'ms', ockle, baseline, baselineName: 'open + read the sim devices' });
}

/**
 * From `node …/main.js daemon` to an answering API: the bundled build, as `npm start` and the
 * systemd unit run it (tools/bundle-daemon.ts), and the unbundled dist/src for comparison.
 */
async function benchProcess(dir: string, stateDir: string): Promise<void> {
  const main = join(import.meta.dirname, '..', 'bundle', 'main.js');
  const unbundled = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
  const once = async (args: string[], readyCheck: () => Promise<boolean>, env: Record<string, string> = {}): Promise<number> => {
    const t = performance.now();
    const child = spawn(process.execPath, args, { stdio: 'ignore', env: { ...process.env, NOTIFY_SOCKET: '', ...env } });
    const exited = new Promise((r) => child.on('exit', r));
    while (!(await readyCheck())) await new Promise((r) => setTimeout(r, 5));
    const ms = performance.now() - t;
    child.kill('SIGTERM');
    await exited;
    return ms;
  };
  const apiReady = async (): Promise<boolean> => {
    const f = join(stateDir, API_INFO_FILE);
    if (!existsSync(f)) return false;
    const { url } = JSON.parse(readFileSync(f, 'utf8')) as { url: string };
    return (await fetch(`${url}/api/health`).catch(() => undefined))?.ok === true;
  };
  // Interleaved, so that load from elsewhere on the machine falls on both alike.
  const bare = async (): Promise<number> => {
    let port = 0;
    const t = performance.now();
    const child = spawn(process.execPath, ['-e', "require('http').createServer((q,s)=>s.end('ok')).listen(0,'127.0.0.1',function(){console.log(this.address().port)})"], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    child.stdout.on('data', (b: Buffer) => (port = Number(b.toString().trim())));
    const exited = new Promise((r) => child.on('exit', r));
    for (;;) {
      if (port && (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.ok) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const ms = performance.now() - t;
    child.kill('SIGTERM');
    await exited;
    return ms;
  };
  await bare(); // loads fetch's implementation in this process before anything is timed
  const xs: number[] = [];
  const us: number[] = [];
  const ns: number[] = [];
  const cs: number[] = [];
  const bs: number[] = [];
  // The daemon's code cache (src/code-cache.ts) is saved when a start is over: one start first.
  await once([main, 'daemon', '--config', dir], apiReady);
  // The systemd unit's environment too (its V8 and malloc settings must not slow the start).
  const unit = unitEnvironment();
  for (let i = 0; i < 9; i++) {
    xs.push(await once([main, 'daemon', '--config', dir], apiReady));
    us.push(await once([main, 'daemon', '--config', dir], apiReady, unit));
    ns.push(await once([unbundled, 'daemon', '--config', dir], apiReady));
    cs.push(await once([main, 'daemon', '--config', dir], apiReady, { OCKLE_CODE_CACHE: 'off' }));
    bs.push(await bare());
  }
  report({ name: 'process start to answering API', unit: 'ms', ockle: median(xs), baseline: median(bs), baselineName: 'node http hello-world process' });
  report({ name: "  the same, the unit's environment", unit: 'ms', ockle: median(us), baseline: median(bs), baselineName: 'node http hello-world process' });
  report({ name: '  the same, without its code cache', unit: 'ms', ockle: median(cs), baseline: median(bs), baselineName: 'node http hello-world process' });
  report({ name: '  the same, unbundled (dist/src)', unit: 'ms', ockle: median(ns), baseline: median(bs), baselineName: 'node http hello-world process' });
  console.log(`  runs: bundled ${xs.map(Math.round).join(' ')}; unit's ${us.map(Math.round).join(' ')}; no code cache ${cs.map(Math.round).join(' ')}; unbundled ${ns.map(Math.round).join(' ')}; bare ${bs.map(Math.round).join(' ')}`);
}

/** The CLI as people run it: `ockle version`, and `ockle status` against a running demo daemon, each against a bare `node -e 0`. */
async function benchCli(dir: string, stateDir: string): Promise<void> {
  const main = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
  const run = (args: string[]): Promise<number> =>
    new Promise((resolve) => {
      const t = performance.now();
      const child = spawn(process.execPath, args, { stdio: 'ignore' });
      child.on('exit', () => resolve(performance.now() - t));
    });
  /** Median wall time of each command line, run 15 times in turn (interleaved, as above). */
  const times = async (...lines: string[][]): Promise<number[]> => {
    const xs = lines.map((): number[] => []);
    for (let i = 0; i < 15; i++) for (const [j, args] of lines.entries()) xs[j]!.push(await run(args));
    return xs.map(median);
  };
  const daemon = spawn(process.execPath, [main, 'daemon', '--config', dir], { stdio: 'ignore', env: { ...process.env, NOTIFY_SOCKET: '' } });
  const exited = new Promise((r) => daemon.on('exit', r));
  try {
    for (;;) {
      const f = join(stateDir, API_INFO_FILE);
      if (existsSync(f) && (await fetch(`${(JSON.parse(readFileSync(f, 'utf8')) as { url: string }).url}/api/health`).catch(() => undefined))?.ok) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const [bare, version, status] = (await times(['-e', '0'], [main, 'version'], [main, 'status', '--config', dir])) as [number, number, number];
    report({ name: 'ockle version', unit: 'ms', ockle: version, baseline: bare, baselineName: 'node -e 0' });
    report({ name: 'ockle status (demo daemon running)', unit: 'ms', ockle: status, baseline: bare, baselineName: 'node -e 0' });
  } finally {
    daemon.kill('SIGTERM');
    await exited;
  }
}

async function benchAction(dir: string): Promise<void> {
  const d = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
  try {
    let kind: 'on' | 'off' = 'off';
    const ockle = await time(40, async () => {
      const rec = d.gateway.request({ kind, targets: ['web-1'], force: true, origin: 'bench', reason: 'bench' });
      await d.gateway.waitFor(rec.id);
      kind = kind === 'off' ? 'on' : 'off';
    });
    // Baseline: the same sim device driven directly, one switch and one read-back.
    const registry = defaultRegistry();
    const def = registry.get('outlet', 'sim')!;
    const cfg = d.config.devices.find((x) => x.id === 'pdu-b')!;
    const raw = def.create(cfg.spec as never, {
      id: 'pdu-b-bench',
      log: silentLogger(),
      stateDir: mkdtempSync(join(tmpdir(), 'ockle-bench-')),
      shared: (() => {
        const m = new Map<string, unknown>();
        return <T>(k: string, init: () => T): T => (m.has(k) ? (m.get(k) as T) : (m.set(k, init()), m.get(k) as T));
      })(),
    });
    const signal = new AbortController().signal;
    await raw.open(signal);
    let on = false;
    const baseline = await time(40, async () => {
      await raw.switch(4, on ? 'on' : 'off', signal);
      await raw.read([4], signal);
      on = !on;
    });
    await raw.close();
    report({ name: 'forced switch, journaled + confirmed', unit: 'ms', ockle, baseline, baselineName: 'driver switch + one read' });
  } finally {
    await d.stop();
  }
}

async function benchJournal(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ockle-bench-j-'));
  const j = await ActionJournal.open(dir);
  const ockle = await time(200, () => {
    const a = j.start({ kind: 'on', targets: ['web-1'], force: true, origin: 'bench', reason: 'bench' });
    j.step(a.id, { op: 'switch', ok: true, detail: 'bench' });
    j.finish(a.id, 'ok');
  });
  await j.close();
  const fd = openSync(join(dir, 'raw.jsonl'), 'a');
  const line = JSON.stringify({ t: 'start', action: { id: 'x', kind: 'on', targets: ['web-1'], reason: 'bench' } }) + '\n';
  const baseline = await time(200, () => {
    writeSync(fd, line);
    fdatasyncSync(fd);
    writeSync(fd, line);
    writeSync(fd, line);
    fdatasyncSync(fd);
  });
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  report({ name: 'journal: start+step+finish', unit: 'ms', ockle, baseline, baselineName: '3 raw appends + 2 fdatasync' });
}

const BENCHES = ['foundation', 'sequence', 'snmp', 'relays', 'ipmi', 'plugins', 'web', 'memory', 'pdudaemon', 'mqtt', 'mqtt-propagation', 'ups'];
const args = process.argv.slice(2);
const oneCore = args.includes('--one-core');
const only = args.find((a) => !a.startsWith('--'));
if ((only !== undefined && !BENCHES.includes(only)) || args.some((a) => a.startsWith('--') && a !== '--one-core')) {
  console.error(`usage: run.js [${BENCHES.join('|')}] [--one-core] (default: all, on every core)`);
  process.exit(2);
}
/** Set in the pinned child of a --one-core run: where it writes its results for the parent. */
const RESULTS_FILE = process.env.OCKLE_BENCH_RESULTS;
console.log(`node ${process.version}, ${new Date().toISOString()}, ${availableParallelism()} core(s) available; medians\n`);
if (only === undefined || only === 'foundation') {
  const demo = await demoConfig();
  try {
    await benchConfig(demo.configDir);
    await benchStart(demo.configDir);
    await benchProcess(demo.configDir, demo.stateDir);
    await benchCli(demo.configDir, demo.stateDir);
    await benchAction(demo.configDir);
    await benchJournal();
  } finally {
    await demo.cleanup();
  }
}
if (only === undefined || only === 'sequence') {
  await benchSequence();
  await benchSequenceWatched(report);
}
if (only === undefined || only === 'snmp') await benchSnmp();
if (only === undefined || only === 'relays') await benchRelays();
if (only === undefined || only === 'ipmi') await benchIpmi();
if (only === undefined || only === 'plugins') await benchPlugins(report);
if (only === undefined || only === 'web') await benchWeb(report);
if (only === undefined || only === 'memory') await benchMemory(report);
if (only === undefined || only === 'pdudaemon') await benchPduDaemon(report);
if (only === undefined || only === 'mqtt') await benchMqtt(report);
if (only === 'mqtt-propagation') await benchMqtt(report, { scale: false });
if (only === undefined || only === 'ups') await benchUps(report);
if (RESULTS_FILE) writeFileSync(RESULTS_FILE, JSON.stringify(results));
else if (oneCore) await runOnOneCore();

/** The same selection again under `taskset -c 0`, then every reported figure on both budgets. */
async function runOnOneCore(): Promise<void> {
  const file = join(mkdtempSync(join(tmpdir(), 'ockle-bench-1c-')), 'results.json');
  console.log('\n--- the same on one core: taskset -c 0 ---\n');
  const r = spawnSync('taskset', ['-c', '0', process.execPath, ...process.execArgv, process.argv[1]!, ...(only ? [only] : [])], {
    stdio: 'inherit',
    env: { ...process.env, OCKLE_BENCH_RESULTS: file },
  });
  if (r.error || r.status !== 0 || !existsSync(file)) {
    console.error(`the one-core run failed (${r.error?.message ?? `exit ${r.status}`}): taskset is in util-linux`);
    process.exit(1);
  }
  const pinned = new Map((JSON.parse(readFileSync(file, 'utf8')) as Result[]).map((x) => [x.name, x]));
  rmSync(join(file, '..'), { recursive: true, force: true });
  const n = (x: number) => x.toFixed(3).padStart(9);
  console.log(`\n${'two cores against one'.padEnd(40)} ${'ockle 2c'.padStart(9)} ${'ockle 1c'.padStart(9)} ${'1c/2c'.padStart(6)}   ${'base 2c'.padStart(9)} ${'base 1c'.padStart(9)} ${'1c/2c'.padStart(6)}   ratio 2c → 1c`);
  for (const a of results) {
    const b = pinned.get(a.name);
    if (!b) continue;
    console.log(
      `${`${a.name} (${a.unit})`.padEnd(40)} ${n(a.ockle)} ${n(b.ockle)} ${(b.ockle / a.ockle).toFixed(2).padStart(6)}   ${n(a.baseline)} ${n(b.baseline)} ${(b.baseline / a.baseline).toFixed(2).padStart(6)}   ${(a.ockle / a.baseline).toFixed(2)} → ${(b.ockle / b.baseline).toFixed(2)}`,
    );
  }
}
