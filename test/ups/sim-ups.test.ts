/**
 * A power cut end to end, on a real daemon with a simulated UPS (its state is a file the drill
 * writes, like dummy-ups's .dev file): a flicker does nothing; on battery the tiers shed in
 * dependency order; a low battery takes everything but keep_on; mains back brings back exactly
 * what was on. Every write is counted at the sim PDU; every stage is in the journal with origin
 * ups:NAME. Then the faults: a restart mid-event goes on from the journal without a repeated
 * write; a silent UPS starts nothing; mains failing during the restore cancels it.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import type { ActionRecord } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { appendForcedCycles } from '../support/busy-journal.js';
import { makeLab, type Lab } from '../support/lab.js';
import { stageReached } from '../support/ups.js';

let lab: Lab | undefined;
let daemon: Daemon | undefined;
afterEach(async () => {
  await daemon?.stop();
  await lab?.cleanup();
  daemon = undefined;
  lab = undefined;
});

/** switch ← storage ← vm ← web; build alone; all on (booted long ago). Tiers: web, build 1; vm 2; storage 3. */
async function powerCutLab(policy: Record<string, string> = {}): Promise<Lab> {
  lab = await makeLab(
    {
      switch: { outlet: 'pdu-1:1', noControls: true },
      storage: { outlet: 'pdu-1:2', deps: ['switch'], extra: 'shed_priority = 3' },
      vm: { outlet: 'pdu-1:3', deps: ['storage'], extra: 'shed_priority = 2' },
      web: { outlet: 'pdu-1:4', deps: ['vm'], extra: 'shed_priority = 1' },
      build: { outlet: 'pdu-1:5', extra: 'shed_priority = 1' },
    },
  );
  const pdu = join(lab.configDir, 'devices', 'pdu-1.ini');
  await writeFile(pdu, (await readFile(pdu, 'utf8')).replace('initial = off', 'initial = on'));
  await mkdir(join(lab.configDir, 'ups'));
  const keys = { on_battery_delay: '600ms', tier_interval: '0s', min_runtime: '0s', min_charge: '20', keep_on: 'switch', restore_delay: '300ms', restore_min_charge: '0', ...policy };
  await writeFile(
    join(lab.configDir, 'ups', 'ups-1.ini'),
    [
      '[ups]',
      'type = sim',
      'poll_interval = 50ms',
      'timeout = 500ms',
      'battery_runtime = 1h',
      'read_latency = 0ms',
      'low_battery = 5',
      '',
      '[policy]',
      ...Object.entries(keys).map(([k, v]) => `${k} = ${v}`),
      '',
    ].join('\n'),
  );
  return lab;
}

async function start(l: Lab): Promise<Daemon> {
  daemon = await Daemon.start({ configDir: l.configDir, log: silentLogger(), monitor: true });
  return daemon;
}

const world = (d: Daemon): SimWorld => d.shared<SimWorld>('sim-world')!;
const writes = (d: Daemon) => world(d).writes('pdu-1').log.map((w) => `${w.action} ${w.outlet}`);
const upsRecords = (d: Daemon): ActionRecord[] => d.gateway.actions({ limit: 200 }).filter((a) => a.origin === 'ups:ups-1').reverse();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const stage = (d: Daemon, name: string, status?: Parameters<typeof stageReached>[2]) => stageReached(d, name, status, 15_000);

describe('UPS power cut on a simulated UPS', () => {
  it('a flicker shorter than on_battery_delay does nothing: no write, no journal record', async () => {
    const d = await start(await powerCutLab());
    await d.ups.simulate('ups-1', { power: 'battery' });
    expect(d.ups.status('ups-1')).toMatchObject({ power: 'battery', stage: 'on-battery' });
    await sleep(300);
    await d.ups.simulate('ups-1', { power: 'mains' });
    await sleep(900);
    expect(writes(d)).toEqual([]);
    expect(upsRecords(d)).toEqual([]);
    expect(d.ups.status('ups-1')).toMatchObject({ power: 'mains', stage: 'normal', event: null });
  });

  it('sheds tier by tier, then the low battery takes all but keep_on, and mains back restores exactly what was on, in order', async () => {
    const d = await start(await powerCutLab());
    // build was off before the cut: it must not come back.
    await d.gateway.waitFor(d.gateway.request({ kind: 'off', targets: ['build'], force: true, origin: 'api:test', reason: 'not needed' }).id);
    const before = writes(d).length;
    const t1 = stage(d, 'tier-1');
    const t2 = stage(d, 'tier-2');
    const t3 = stage(d, 'tier-3');
    await d.ups.simulate('ups-1', { power: 'battery', chargePct: 80 });
    await t1;
    await t2;
    await t3;
    // Dependents before dependencies, each outlet once; the switch (no tier) stays on.
    expect(writes(d).slice(before)).toEqual(['off 4', 'off 3', 'off 2']);
    const low = stage(d, 'low-battery', ['ok', 'failed', 'skipped']);
    await d.ups.simulate('ups-1', { chargePct: 10 });
    expect((await low).status).toBe('skipped'); // everything but the kept switch is off already
    expect(d.gateway.server('switch').state).toBe('OK');

    const restore = stage(d, 'restore');
    const end = stage(d, 'end', ['info']);
    await d.ups.simulate('ups-1', { power: 'mains', chargePct: 60 });
    expect((await restore).status).toBe('ok');
    await end;
    expect(writes(d).slice(before)).toEqual(['off 4', 'off 3', 'off 2', 'on 2', 'on 3', 'on 4']);
    for (const s of ['switch', 'storage', 'vm', 'web']) expect(d.gateway.server(s).state).toBe('OK');
    expect(d.gateway.server('build').state).toBe('FORCED_OFF');

    // The journal tells the story, every record with origin ups:ups-1 and one event id.
    const recs = upsRecords(d);
    const id = recs[0]!.event!.id;
    expect(recs.every((r) => r.event?.id === id)).toBe(true);
    expect(recs.map((r) => `${r.kind} ${r.event!.stage} ${r.status}`)).toEqual([
      'ups start ok',
      'off tier-1 ok',
      'off tier-2 ok',
      'off tier-3 ok',
      'ups mains-back ok',
      'on restore ok',
      'ups end ok',
    ]);
    expect([...recs[0]!.event!.wasOn!].sort()).toEqual(['storage', 'switch', 'vm', 'web']);
    expect(recs[0]!.reason).toMatch(/^on battery for \d+ s, 80 % charge/);
    expect(recs[5]!.targets).toEqual(['storage', 'vm', 'web']);
  });

  it('a low battery cancels the running tier and shuts down all but keep_on; nothing is written twice', async () => {
    const d = await start(await powerCutLab({ tier_interval: '1h' }));
    const t1 = stage(d, 'tier-1');
    await d.ups.simulate('ups-1', { power: 'battery', chargePct: 80 });
    await t1;
    const low = stage(d, 'low-battery');
    await d.ups.simulate('ups-1', { chargePct: 15 });
    expect((await low).status).toBe('ok');
    const w = writes(d);
    // Each once; web before vm before storage (build, alone, whenever).
    expect([...w].sort()).toEqual(['off 2', 'off 3', 'off 4', 'off 5']);
    expect(w.indexOf('off 4')).toBeLessThan(w.indexOf('off 3'));
    expect(w.indexOf('off 3')).toBeLessThan(w.indexOf('off 2'));
    expect(d.gateway.server('switch').state).toBe('OK');
    expect(upsRecords(d).find((r) => r.event?.stage === 'low-battery')!.reason).toMatch(/charge 15 % is under min_charge 20 %/);
  });

  it('a daemon restarted mid-event goes on from the journal: no stage runs twice, no write is repeated', async () => {
    const l = await powerCutLab({ tier_interval: '1s' });
    let d = await start(l);
    const t1 = stage(d, 'tier-1');
    await d.ups.simulate('ups-1', { power: 'battery', chargePct: 80 });
    await t1;
    expect([...writes(d)].sort()).toEqual(['off 4', 'off 5']);
    await d.stop();
    daemon = undefined;
    // The UPS is still on battery (its state file says so); a new process takes over.
    d = await start(l);
    const resumed = d.ups.status('ups-1');
    expect(resumed.event?.done).toContain('tier-1');
    const t2 = stage(d, 'tier-2');
    await t2;
    const restore = stage(d, 'restore');
    await d.ups.simulate('ups-1', { power: 'mains' });
    await restore;
    // The sim PDU's write log spans both processes: each outlet off once, on once, vm before web.
    const w = writes(d);
    expect([...w.slice(0, 2)].sort()).toEqual(['off 4', 'off 5']);
    expect(w[2]).toBe('off 3');
    expect([...w.slice(3)].sort()).toEqual(['on 3', 'on 4', 'on 5']);
    expect(w.indexOf('on 3')).toBeLessThan(w.indexOf('on 4'));
    const recs = upsRecords(d);
    expect(recs.filter((r) => r.event?.stage === 'tier-1')).toHaveLength(1);
    expect(recs.filter((r) => r.event?.stage === 'start')).toHaveLength(1);
  });

  it('a daemon restarted mid-event goes on from the journal even after thousands of other actions (a busy lab kept switching what stayed on)', async () => {
    const l = await powerCutLab({ tier_interval: '1s' });
    let d = await start(l);
    const t1 = stage(d, 'tier-1');
    await d.ups.simulate('ups-1', { power: 'battery' });
    await t1;
    await d.stop();
    daemon = undefined;
    // Meanwhile (journaled as a busy lab does: a CI farm power-cycling the boards it still has),
    // 2500 actions: more than the journal holds by count (2000) and than a resume looked back (1000).
    await appendForcedCycles(l.stateDir, 'switch', 2500);
    d = await start(l);
    // The event is not forgotten: tier-1 is not run again, and mains back brings back what was shed.
    expect(d.ups.status('ups-1').event?.done).toContain('tier-1');
    const restore = stage(d, 'restore');
    await d.ups.simulate('ups-1', { power: 'mains' });
    await restore;
    const w = writes(d);
    expect(w.filter((x) => x.startsWith('off ')).sort()).toEqual(['off 4', 'off 5']);
    expect(w.filter((x) => x.startsWith('on ')).sort()).toEqual(['on 4', 'on 5']);
  });

  it('a silent UPS is unknown with an alarm and starts nothing; it acts once it answers again', async () => {
    const d = await start(await powerCutLab());
    await d.ups.simulate('ups-1', { power: 'battery' });
    await d.ups.simulate('ups-1', { power: 'silent' });
    expect(d.ups.status('ups-1')).toMatchObject({ power: 'unknown', stage: 'unknown', alarms: [expect.stringMatching(/^source silent/)] });
    await sleep(1200); // well past on_battery_delay
    expect(writes(d)).toEqual([]);
    expect(upsRecords(d)).toEqual([]);
    const t1 = stage(d, 'tier-1');
    await d.ups.simulate('ups-1', { power: 'battery' });
    await t1;
    expect([...writes(d)].sort()).toEqual(['off 4', 'off 5']);
  });

  it('mains failing again during the restore cancels it; a new cut of the same event sheds what the restore brought back', async () => {
    const d = await start(await powerCutLab({ restore_delay: '100ms' }));
    const t3 = stage(d, 'tier-3');
    await d.ups.simulate('ups-1', { power: 'battery' });
    await t3;
    await d.ups.simulate('ups-1', { power: 'mains' });
    // The restore has powered storage (outlet 2) back when the mains fails again.
    for (let i = 0; i < 300 && !writes(d).includes('on 2'); i++) await sleep(10);
    const cancelled = stage(d, 'restore', ['cancelled']);
    const again = stage(d, 'tier-3', ['ok', 'failed', 'skipped']);
    await d.ups.simulate('ups-1', { power: 'battery' });
    await cancelled;
    const e = await again;
    expect(e.status).toBe('ok');
    const recs = upsRecords(d);
    expect(recs.filter((r) => r.event?.stage === 'start')).toHaveLength(1);
    expect(recs.find((r) => r.event?.stage === 'restore')!.status).toBe('cancelled');
    const cut2 = recs.filter((r) => r.event!.cut === 2).map((r) => `${r.event!.stage} ${r.status}`);
    expect(cut2[0]).toBe('cut ok');
    expect(cut2).toContain('tier-3 ok');
    // What the cancelled restore powered (storage, maybe build) went off again in cut 2; vm and
    // web were never restored (storage never served); the switch was never touched.
    const w = writes(d);
    expect([...w.slice(0, 2)].sort()).toEqual(['off 4', 'off 5']);
    expect(w.slice(2, 4)).toEqual(['off 3', 'off 2']);
    const restored = w.slice(4).filter((x) => x.startsWith('on ')).map((x) => x.slice(3));
    expect(restored).toContain('2');
    expect(restored).not.toContain('3');
    for (const n of restored) expect(w.lastIndexOf(`off ${n}`)).toBeGreaterThan(w.lastIndexOf(`on ${n}`));
    expect(w.filter((x) => x.endsWith(' 1'))).toEqual([]);
    expect(d.ups.status('ups-1').event?.cut).toBe(2);
  });
});
