/**
 * PDUDaemon benchmark: `node dist/bench/run.js pdudaemon`. A LAVA-style loop of 100 `reboot`
 * requests (delay=0), one after the other, each on a new connection as curl makes it, through
 * ockle's PDUDaemon face (sim PDU, 1 ms per operation) and, in the same run, through Debian's
 * pdudaemon with its localcmdline driver (a shell `echo >> file` per switch). Per request:
 * ockle journals two actions and confirms each switch by reading the outlet back before it
 * answers; pdudaemon answers when its command has returned, without a read-back.
 */
import fs, { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { request } from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/log.js';
import { Daemon } from '../src/daemon.js';
import type { SimWorld } from '../drivers/sim/world.js';
import { makePduLab } from '../test/faces/pdudaemon-lab.js';
import { startPduDaemon } from '../test/faces/pdudaemon-peer.js';
import { median } from './timing.js';

type Report = (r: { name: string; unit: string; ockle: number; baseline: number; baselineName: string }) => void;

const N = 100;

/** One GET on a fresh connection (agent: false, like curl); resolves with the status. */
function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Latencies (ms) of `n` sequential reboots of outlet 3 on `base`; every answer must be 200. */
async function loop(base: string, n: number): Promise<number[]> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const status = await get(`${base}/power/control/reboot?hostname=pdu-a&port=3&delay=0`);
    xs.push(performance.now() - t);
    if (status !== 200) throw new Error(`reboot ${i + 1} on ${base} answered ${status}`);
  }
  return xs;
}

/**
 * Median cost of one small append + fdatasync in the temp directory (where the lab's state, and
 * so its action journal, lives): the journal syncs each action's start and end, two per action.
 */
function fdatasyncMs(n = 50): number {
  const dir = mkdtempSync(join(tmpdir(), 'ockle-bench-sync-'));
  const fd = openSync(join(dir, 'f'), 'a');
  try {
    const xs: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      writeSync(fd, `{"i":${i},"pad":"${'x'.repeat(100)}"}\n`);
      fdatasyncSync(fd);
      xs.push(performance.now() - t);
    }
    return median(xs);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs `fn` while counting the time this process spends in fdatasyncSync (the journal's durable
 * start and end of each action; it blocks the event loop, so it adds to every request's latency).
 * The wrapper replaces node:fs's export for the duration (syncBuiltinESMExports updates the named
 * imports the journal holds) and puts the original back.
 */
async function countingSyncs<T>(fn: () => Promise<T>): Promise<{ result: T; syncs: number; syncMs: number }> {
  const original = fs.fdatasyncSync;
  let syncs = 0;
  let syncMs = 0;
  fs.fdatasyncSync = (fd) => {
    const t = performance.now();
    try {
      original(fd);
    } finally {
      syncs++;
      syncMs += performance.now() - t;
    }
  };
  syncBuiltinESMExports();
  try {
    return { result: await fn(), syncs, syncMs };
  } finally {
    fs.fdatasyncSync = original;
    syncBuiltinESMExports();
  }
}

const p95 = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!;

export async function benchPduDaemon(report: Report): Promise<void> {
  console.log(`\npdudaemon: ${N} reboot requests (delay=0), sequential, a new connection each; latency per request`);
  // The sim PDU answers at once, as pdudaemon's localcmdline driver does: both sides' device time is nil.
  const lab = await makePduLab({ pdudaemon: 'allow = 127.0.0.1', switchLatency: '0ms', readLatency: '0ms' });
  const d = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: false });
  const pd = await startPduDaemon(['pdu-a']);
  try {
    const ours = d.pdudaemonUrl!;
    // Warm both (JIT, pdudaemon's first executor thread), then measure, alternating halves so a
    // burst of load elsewhere on the machine does not land on one side only.
    await loop(ours, 5);
    await loop(pd.url, 5);
    const world = d.shared<SimWorld>('sim-world')!;
    const writesBefore = world.writes('pdu-a').count;
    const pdBefore = pd.writes('pdu-a').length;
    const actionsBefore = d.gateway.actions({ limit: 1 })[0]!.id;
    const o: number[] = [];
    const p: number[] = [];
    let syncs = 0;
    let syncMs = 0;
    for (let half = 0; half < 2; half++) {
      const c = await countingSyncs(() => loop(ours, N / 2));
      o.push(...c.result);
      syncs += c.syncs;
      syncMs += c.syncMs;
      p.push(...(await loop(pd.url, N / 2)));
    }
    // What each side did for those requests: ockle's writes and read-back confirmations, pdudaemon's commands.
    const all = d.gateway.actions({ limit: 1000 });
    const acts = all.slice(0, all.findIndex((a) => a.id === actionsBefore));
    const confirms = acts.flatMap((a) => a.steps).filter((s) => s.op === 'confirm' && s.ok).length;
    const failed = acts.filter((a) => a.status !== 'ok').length;
    console.log(
      `  ockle:     ${acts.length} actions journaled (${failed} not ok), ${world.writes('pdu-a').count - writesBefore} writes at the sim PDU, ${confirms} confirmed by read-back`,
    );
    console.log(`  pdudaemon: ${pd.writes('pdu-a').length - pdBefore} localcmdline commands run, none read back (its drivers cannot)`);
    console.log(
      `  latency ms: ockle median ${median(o).toFixed(2)} p95 ${p95(o).toFixed(2)} total ${o.reduce((a, b) => a + b, 0).toFixed(0)}; pdudaemon median ${median(p).toFixed(2)} p95 ${p95(p).toFixed(2)} total ${p
        .reduce((a, b) => a + b, 0)
        .toFixed(0)}`,
    );
    console.log(
      `  of ockle's time: ${(syncs / N).toFixed(1)} fdatasync per request (the journal: start and end of the one cycle action), ${(syncMs / N).toFixed(2)} ms per request on average; an isolated append + fdatasync here takes ${fdatasyncMs().toFixed(2)} ms (median); the sim PDU's 4 operations (write, read-back, write, read-back) take no time`,
    );
    report({ name: 'PDUDaemon reboot, delay 0 (median)', unit: 'ms', ockle: median(o), baseline: median(p), baselineName: 'Debian pdudaemon, localcmdline' });
    report({ name: 'PDUDaemon reboot, delay 0 (p95)', unit: 'ms', ockle: p95(o), baseline: p95(p), baselineName: 'Debian pdudaemon, localcmdline' });
  } finally {
    await pd.close();
    await d.stop();
    await lab.cleanup();
  }
}
