/**
 * UPS benchmark: `npm run bench -- ups`. The demo lab with its simulated UPS (short delays), a
 * whole power cut drilled through the UPS service, measured in one run:
 * - from the UPS reporting OB to tier 1 asked for, against on_battery_delay (the policy's own
 *   wait): what ockle adds is the poll and the decision;
 * - from the restore asked for to the last server serving, against the critical path of the
 *   restore: the longest dependency chain of the restored servers, each at its physical limit
 *   (the PDU's switch time and the machine's boot time), plus the stagger of its devices; once
 *   cold (no boot time learned yet) and once learned (the same cut again).
 * Issue 18's goal: the restore ≤ 1.1 × (critical path + stagger).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Daemon } from '../src/daemon.js';
import type { ActionRecord } from '../src/core/model.js';
import { silentLogger } from '../src/log.js';
import { demoConfig } from '../test/support/demo.js';
import { stageReached } from '../test/support/ups.js';

type Report = (r: { name: string; unit: string; ockle: number; baseline: number; baselineName: string }) => void;

const DELAY_MS = 2000;

const stage = (d: Daemon, name: string, status: Parameters<typeof stageReached>[2] = ['ok', 'failed', 'skipped']) => stageReached(d, name, status, 180_000);

/** The longest chain of `servers` by their measured boot times (dependencies first). */
function criticalPath(servers: readonly string[], deps: (n: string) => readonly string[], boot: (n: string) => number): { ms: number; chain: string[] } {
  const memo = new Map<string, { ms: number; chain: string[] }>();
  const set = new Set(servers);
  const best = (n: string): { ms: number; chain: string[] } => {
    const known = memo.get(n);
    if (known) return known;
    let before = { ms: 0, chain: [] as string[] };
    for (const d of deps(n)) if (set.has(d) && best(d).ms > before.ms) before = best(d);
    const r = { ms: before.ms + boot(n), chain: [...before.chain, n] };
    memo.set(n, r);
    return r;
  };
  return servers.map(best).reduce((a, b) => (b.ms > a.ms ? b : a), { ms: 0, chain: [] });
}

export async function benchUps(report: Report): Promise<void> {
  console.log('\nups: a drilled power cut on the demo lab (simulated UPS), OB → tiers → low battery → mains → restore');
  const demo = await demoConfig();
  const file = join(demo.configDir, 'ups', 'rack-ups.ini');
  let text = await readFile(file, 'utf8');
  for (const [k, v] of Object.entries({ poll_interval: '100ms', on_battery_delay: `${DELAY_MS}ms`, tier_interval: '0s', min_runtime: '0s', min_charge: '0', restore_delay: '500ms', restore_min_charge: '0' }))
    text = text.replace(new RegExp(`^${k} = .*$`, 'm'), `${k} = ${v}`);
  await writeFile(file, text);
  const d = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: true });
  try {
    // The physical limit of a restore: per server, the PDU's switch time and the machine's boot
    // (its slowest sim test's boot_time), summed along the longest dependency chain.
    const cfg = d.config;
    const physical = (n: string): number => {
      const sc = cfg.servers.find((s) => s.name === n)!;
      const sw = Math.max(0, ...sc.outlets.map((o) => Number(cfg.devices.find((x) => x.id === o.device)!.spec.switch_latency ?? 0)));
      return sw + Math.max(0, ...sc.tests.map((t) => Number(t.spec.boot_time ?? 0)));
    };
    const staggerOf = (n: string): number => Math.max(0, ...cfg.servers.find((s) => s.name === n)!.outlets.map((o) => cfg.devices.find((x) => x.id === o.device)!.common.stagger));
    // Let the first test runs settle: every server serving before the cut.
    for (let i = 0; i < 200 && d.gateway.servers().some((s) => s.state !== 'OK'); i++) await new Promise((r) => setTimeout(r, 100));
    for (const round of ['cold', 'learned'] as const) {
      // cold: the journal has never seen these servers boot (the demo starts them on); learned:
      // the same cut again, the boot times known from the first restore, as in a lab that ran a while.
      const t1 = stage(d, 'tier-1', ['started']);
      const cutAt = performance.now();
      await d.ups.simulate('rack-ups', { power: 'battery', chargePct: 90 });
      const tier1 = await t1;
      if (round === 'cold') report({ name: 'ups: OB → tier 1 asked', unit: 'ms', ockle: tier1.at - cutAt, baseline: DELAY_MS, baselineName: 'on_battery_delay' });
      await stage(d, 'tier-3');
      const low = stage(d, 'low-battery');
      await d.ups.simulate('rack-ups', { chargePct: 10 });
      await low;
      const restoreEnd = stage(d, 'restore', ['ok', 'failed']);
      const ended = stage(d, 'end', ['info']);
      await d.ups.simulate('rack-ups', { power: 'mains', chargePct: 60 });
      await restoreEnd;
      await ended;
      const rec = d.gateway.actions({ limit: 200 }).find((a: ActionRecord) => a.origin === 'ups:rack-ups' && a.event?.stage === 'restore')!;
      const makespan = Date.parse(rec.finishedAt!) - Date.parse(rec.requestedAt);
      const restored = rec.steps.filter((s) => s.op === 'up' && s.server).map((s) => s.server!);
      const servers = new Map(d.gateway.servers().map((s) => [s.name, s]));
      const cp = criticalPath(restored, (n) => servers.get(n)?.dependencies ?? [], physical);
      const stagger = cp.chain.reduce((sum, n) => sum + staggerOf(n), 0);
      console.log(`  ${round}: restored ${restored.length} servers (${rec.status}) in ${makespan} ms; critical path ${cp.chain.join(' → ')} = ${cp.ms} ms (switch + boot), stagger ${stagger} ms`);
      report({ name: `ups: restore (${round}) → last serving`, unit: 'ms', ockle: makespan, baseline: cp.ms + stagger, baselineName: 'critical path + stagger' });
    }
  } finally {
    await d.stop();
    await demo.cleanup();
  }
}
