/**
 * The UPS policy's decisions, table by table, without a daemon: flicker, tiers that never cut
 * what a running server needs, low battery with keep_on, restore of exactly what was on, and
 * a silent source that starts nothing.
 */
import { describe, expect, it } from 'vitest';
import type { OpState } from '../../src/core/model.js';
import type { UpsReading } from '../../drivers/types.js';
import { decide, type Decision, lowBatteryStage, tierStage, type EventState, type Policy, type ServerFacts, type Snapshot } from '../../src/ups/policy.js';

const policy: Policy = {
  servers: ['switch', 'storage', 'vm', 'web', 'build'],
  onBatteryDelayMs: 30_000,
  tierIntervalMs: 60_000,
  minRuntimeMs: 300_000,
  minChargePct: 20,
  keepOn: ['switch'],
  fsd: false,
  restore: true,
  restoreDelayMs: 60_000,
  restoreMinChargePct: 40,
};

/** switch ← storage ← vm ← web; build alone. Tiers: web, build 1; vm 2; storage 3. */
function lab(states: Partial<Record<string, OpState>> = {}, paused: string[] = []): Map<string, ServerFacts> {
  const deps: Record<string, string[]> = { switch: [], storage: ['switch'], vm: ['storage'], web: ['vm'], build: [] };
  const tier: Record<string, number | null> = { switch: null, storage: 3, vm: 2, web: 1, build: 1 };
  return new Map(
    Object.keys(deps).map((n) => [
      n,
      {
        name: n,
        state: states[n] ?? 'OK',
        dependencies: deps[n]!,
        dependents: Object.keys(deps).filter((d) => deps[d]!.includes(n)),
        shedPriority: tier[n]!,
        paused: paused.includes(n),
      },
    ]),
  );
}

const reading = (power: UpsReading['power'], o: Partial<UpsReading> = {}): UpsReading => ({ power, lowBattery: false, forcedShutdown: false, chargePct: 90, runtimeS: 1200, flags: [power === 'battery' ? 'OB' : 'OL'], alarms: [], ...o });
const event = (o: Partial<EventState> = {}): EventState => ({ id: 'e1', startedAt: '2026-12-01T00:00:00Z', wasOn: ['switch', 'storage', 'vm', 'web', 'build'], cut: 1, cutActive: true, done: new Map(), lastStageEndedAt: null, ...o });
const snap = (o: Partial<Snapshot>): Snapshot => ({ now: 100_000, reading: reading('mains'), onBatterySince: null, mainsSince: 0, event: null, running: null, servers: lab(), released: false, canFsd: false, ...o });

describe('UPS policy', () => {
  it('does nothing on mains, and nothing during a flicker shorter than on_battery_delay', () => {
    expect(decide(policy, snap({})).do).toBe('wait');
    const d = decide(policy, snap({ reading: reading('battery'), onBatterySince: 100_000 - 29_000, mainsSince: null }));
    expect(d).toMatchObject({ do: 'wait', stage: 'on-battery', wakeAt: 101_000 });
  });

  it('begins the event after the delay, remembering exactly the servers that are on', () => {
    const d = decide(policy, snap({ reading: reading('battery'), onBatterySince: 70_000, mainsSince: null, servers: lab({ build: 'OFF' }) }));
    expect(d).toMatchObject({ do: 'begin', wasOn: ['switch', 'storage', 'vm', 'web'] });
    expect((d as { reason: string }).reason).toMatch(/on battery for 30 s, 90 % charge/);
  });

  it('a battery that is already low skips the delay', () => {
    expect(decide(policy, snap({ reading: reading('battery', { lowBattery: true }), onBatterySince: 99_000, mainsSince: null })).do).toBe('begin');
  });

  it('sheds tier 1 first, then tier 2 after tier_interval; a tier never cuts what a running server needs', () => {
    const s = { reading: reading('battery'), onBatterySince: 0, mainsSince: null };
    expect(decide(policy, snap({ ...s, event: event() }))).toMatchObject({ do: 'stage', stage: 'tier-1', kind: 'off', targets: ['web', 'build'] });
    // A tier-1 server still running (it failed to stop) goes again with tier 2, before what it needs.
    expect(tierStage(policy, lab({ web: 'FAILED_TO_STOP', build: 'OFF' }), 2).targets.sort()).toEqual(['vm', 'web']);
    expect(tierStage(policy, lab({ web: 'OFF', build: 'OFF' }), 2).targets).toEqual(['vm']);
    // web is paused (kept by the tiers) and runs on vm: vm is kept too, and says why.
    const held = tierStage(policy, lab({ build: 'OFF' }, ['web']), 2);
    expect(held.targets).toEqual([]);
    expect(Object.fromEntries(held.held)).toEqual({ web: expect.stringMatching(/paused/), vm: 'web still runs and depends on it' });
    // A server of no tier (switch) keeps what it needs only through keep_on; storage's dependents decide at tier 3.
    expect(tierStage(policy, lab({ web: 'OFF', build: 'OFF', vm: 'OFF' }), 3).targets).toEqual(['storage']);
    // tier_interval counts from the end of the previous tier.
    const ev = event({ done: new Map([['tier-1', 'ok']]), lastStageEndedAt: 90_000 });
    expect(decide(policy, snap({ ...s, event: ev, servers: lab({ web: 'OFF', build: 'OFF' }) }))).toMatchObject({ do: 'wait', stage: 'shedding', wakeAt: 150_000 });
    expect(decide(policy, snap({ ...s, now: 150_000, event: ev, servers: lab({ web: 'OFF', build: 'OFF' }) }))).toMatchObject({ do: 'stage', stage: 'tier-2', targets: ['vm'] });
  });

  it('a paused server is not shed by a tier, but is by the low battery', () => {
    expect(tierStage(policy, lab({}, ['build']), 1)).toMatchObject({ targets: ['web'] });
    expect(lowBatteryStage(policy, lab({}, ['build'])).targets).toContain('build');
  });

  it('low battery (LB, runtime or charge) shuts down everything but keep_on and what it needs, cancelling a running tier first', () => {
    const s = { onBatterySince: 0, mainsSince: null, event: event() };
    for (const r of [reading('battery', { lowBattery: true }), reading('battery', { runtimeS: 200 }), reading('battery', { chargePct: 15 })])
      expect(decide(policy, snap({ ...s, reading: r }))).toMatchObject({ do: 'stage', stage: 'low-battery', targets: expect.arrayContaining(['storage', 'vm', 'web', 'build']) });
    const d = decide(policy, snap({ ...s, reading: reading("battery", { lowBattery: true }) })) as Extract<Decision, { do: "stage" }>;
    expect(d.targets).not.toContain('switch');
    expect(d.held.map((h) => h.server)).toEqual(['switch']);
    expect(decide(policy, snap({ ...s, reading: reading('battery', { lowBattery: true }), running: 'tier-1' })).do).toBe('cancel');
    // Once it ran: nothing twice in one cut.
    const done = event({ done: new Map([['low-battery', 'ok']]) });
    expect(decide(policy, snap({ ...s, event: done, reading: reading('battery', { lowBattery: true }) }))).toMatchObject({ do: 'wait', stage: 'low-battery' });
  });

  it('FSD: after the low-battery stage, raised when configured and possible; a secondary releases its login', () => {
    const ev = event({ done: new Map([['low-battery', 'ok']]) });
    const s = { onBatterySince: 0, mainsSince: null, event: ev, reading: reading('battery', { lowBattery: true }) };
    expect(decide({ ...policy, fsd: true }, snap({ ...s, canFsd: true })).do).toBe('fsd');
    expect(decide({ ...policy, fsd: true }, snap({ ...s, canFsd: false })).do).toBe('wait');
    expect(decide(policy, snap({ ...s, reading: reading('battery', { forcedShutdown: true }) })).do).toBe('release');
    expect(decide(policy, snap({ ...s, reading: reading('battery', { forcedShutdown: true }), released: true })).do).toBe('wait');
  });

  it('mains back: waits restore_delay and restore_min_charge, then brings back exactly what was on', () => {
    const off = lab({ storage: 'OFF', vm: 'OFF', web: 'OFF', build: 'OFF' });
    const ev = event({ wasOn: ['switch', 'storage', 'vm', 'web'], cutActive: false });
    expect(decide(policy, snap({ event: event(), servers: off })).do).toBe('mains-back');
    expect(decide(policy, snap({ event: ev, servers: off, mainsSince: 50_000 }))).toMatchObject({ do: 'wait', stage: 'waiting-for-mains', wakeAt: 110_000 });
    expect(decide(policy, snap({ event: ev, servers: off, mainsSince: 0, reading: reading('mains', { chargePct: 35 }) }))).toMatchObject({ do: 'wait', stage: 'waiting-for-mains', wakeAt: null });
    expect(decide(policy, snap({ event: ev, servers: off, mainsSince: 0 }))).toMatchObject({ do: 'stage', stage: 'restore', kind: 'on', targets: ['storage', 'vm', 'web'] });
    expect(decide({ ...policy, restore: false }, snap({ event: ev, servers: off })).do).toBe('end');
    expect(decide(policy, snap({ event: event({ ...ev, done: new Map([['restore', 'ok']]), cutActive: false }), servers: off, mainsSince: 0 })).do).toBe('end');
  });

  it('mains failing again during the restore cancels it, and a new cut waits the delay again', () => {
    const ev = event({ cutActive: false });
    expect(decide(policy, snap({ event: ev, running: 'restore', reading: reading('battery'), onBatterySince: 100_000, mainsSince: null })).do).toBe('cancel');
    expect(decide(policy, snap({ event: ev, reading: reading('battery'), onBatterySince: 100_000, mainsSince: null }))).toMatchObject({ do: 'wait', stage: 'on-battery' });
    expect(decide(policy, snap({ event: ev, reading: reading('battery'), onBatterySince: 60_000, mainsSince: null })).do).toBe('new-cut');
  });

  it('a silent source is never a power cut: no stage starts', () => {
    expect(decide(policy, snap({ reading: null }))).toMatchObject({ do: 'wait', stage: 'unknown' });
    expect(decide(policy, snap({ reading: reading('unknown'), event: event() }))).toMatchObject({ do: 'wait', stage: 'unknown' });
  });
});
