/**
 * Promises the rest of the suite did not hold: each test here fails when the behaviour it names
 * is broken on purpose (keep-alive off by one, a refused shutdown taken for "down", no pause in
 * an emulated cycle, learned boot times not reloaded, keep-alive cycling on a guess). Sim lab,
 * through the real daemon, in simulated time; writes are counted at the sim devices.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import type { ActionRecord } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { appendForcedCycles } from '../support/busy-journal.js';
import { FAKED, simulate } from '../support/simulate.js';
import { makeLab, type Lab, type LabServer } from '../support/lab.js';

let lab: Lab | undefined;
let daemon: Daemon | undefined;
afterEach(async () => {
  // Stopped in simulated time: a probe or sleep started under fake timers ends under them.
  if (daemon) await (vi.isFakeTimers() ? simulate(daemon.stop()) : daemon.stop());
  vi.useRealTimers();
  await lab?.cleanup();
  daemon = undefined;
  lab = undefined;
});


async function bootMonitored(servers: Record<string, LabServer>, o?: Parameters<typeof makeLab>[1]): Promise<Daemon> {
  lab = await makeLab(servers, o);
  vi.useFakeTimers({ toFake: [...FAKED] });
  daemon = await simulate(Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: true }));
  return daemon;
}
const run = (d: Daemon, kind: 'on' | 'off' | 'cycle', targets: string[], force = false): Promise<ActionRecord> =>
  simulate(d.gateway.waitFor(d.gateway.request({ kind, targets, force, origin: 'api:test', reason: 'test' }).id));
const world = (d: Daemon): SimWorld => d.shared<SimWorld>('sim-world')!;

describe('keep-alive', () => {
  it('acts after exactly keepalive_failures failed test runs, not one earlier or later', async () => {
    const d = await bootMonitored({ app: { extra: 'keepalive = true\nkeepalive_failures = 3' } });
    expect((await run(d, 'on', ['app'])).status).toBe('ok');
    await vi.advanceTimersByTimeAsync(5000); // powered longer than boot_timeout (3 s)
    const failedBefore = world(d).probes.get('app')?.failed ?? 0;
    let failedAtRequest = -1;
    d.events.on('action.started', (e) => {
      if (e.action.origin === 'plugin:auto-control') failedAtRequest = (world(d).probes.get('app')?.failed ?? 0) - failedBefore;
    });
    world(d).requestHalt('app');
    await simulate(d.events.once('action.finished', (e) => e.action.origin === 'plugin:auto-control'));
    expect(failedAtRequest).toBe(3);
  });

  it('never cycles on a guess: with the PDU unreachable it waits, and acts once the outlet reads again', async () => {
    const d = await bootMonitored({ app: { extra: 'keepalive = true\nkeepalive_failures = 2' } }, { devices: { 'pdu-1': 'timeout = 500ms\nretries = 0' } });
    expect((await run(d, 'on', ['app'])).status).toBe('ok');
    await vi.advanceTimersByTimeAsync(5000);
    const writes = world(d).writes('pdu-1').count;
    const started: ActionRecord[] = [];
    d.events.on('action.started', (e) => started.push(e.action));
    world(d).setDeviceFaults('pdu-1', ['unreachable']);
    await vi.advanceTimersByTimeAsync(11_000); // the next poll (every 10 s) finds it silent
    expect(d.gateway.devices()[0]!.reachable).toBe(false);
    world(d).requestHalt('app'); // its tests fail from now on
    await vi.advanceTimersByTimeAsync(30_000);
    expect(d.gateway.server('app').state).toBe('UNKNOWN');
    expect(started).toEqual([]);
    expect(world(d).writes('pdu-1').count).toBe(writes);
    world(d).setDeviceFaults('pdu-1', []);
    const rec = await simulate(d.events.once('action.finished', (e) => e.action.origin === 'plugin:auto-control'));
    expect(rec.action).toMatchObject({ kind: 'cycle', status: 'ok' });
    expect(world(d).writes('pdu-1').log.slice(-2).map((w) => w.action)).toEqual(['off', 'on']);
  });
});

describe('shutdowns', () => {
  it('a refused clean shutdown with on_shutdown_timeout = fail leaves the power on', async () => {
    const d = await bootMonitored({ base: {}, app: { deps: ['base'], extra: 'on_shutdown_timeout = fail' } });
    expect((await run(d, 'on', ['app'])).status).toBe('ok');
    const writes = world(d).writes('pdu-1').count;
    world(d).setMachineFaults('app', ['refuses_shutdown']);
    const rec = await run(d, 'off', ['base']);
    expect(rec.status).toBe('failed');
    expect(rec.steps.find((s) => s.server === 'app' && s.op === 'failed')?.detail).toMatch(/^shutdown request failed: .*refused the shutdown request; power left on \(on_shutdown_timeout = fail\)$/);
    // app keeps its power, and base (which app needs) is not stopped either.
    expect(world(d).writes('pdu-1').count).toBe(writes);
    expect(world(d).machine('app').powered).toBe(true);
    expect(world(d).machine('base').powered).toBe(true);
    expect(d.gateway.server('app').state).toBe('FAILED_TO_STOP');
    expect(d.gateway.server('base').reason).toMatch(/; not stopped in action \w+: app failed$/);
  });
});

describe('emulated cycle', () => {
  it('pauses cycle_delay between off and on at the device', async () => {
    const d = await bootMonitored({ app: { noControls: true } }, { devices: { 'pdu-1': 'native_cycle = false\ncycle_delay = 7s' } });
    expect((await run(d, 'on', ['app'], true)).status).toBe('ok');
    expect((await run(d, 'cycle', ['app'], true)).status).toBe('ok');
    const log = world(d).writes('pdu-1').log.slice(-2);
    expect(log.map((w) => w.action)).toEqual(['off', 'on']);
    const gap = Date.parse(log[1]!.at) - Date.parse(log[0]!.at);
    expect(gap).toBeGreaterThanOrEqual(7000);
    expect(gap).toBeLessThan(8000);
  });
});

describe('learned boot times', () => {
  it('are read back from the journal at start: the plan after a restart uses them', async () => {
    const d = await bootMonitored({ app: { bootMs: 1700, extra: 'boot_timeout = 5m' } });
    expect((await run(d, 'on', ['app'])).status).toBe('ok');
    const learned = d.gateway.plan('on', ['app']);
    expect(learned.servers).toEqual([]); // it serves now
    await run(d, 'off', ['app'], true);
    const before = d.gateway.plan('on', ['app']).expected[0]!;
    expect(before.source).toBe('learned');
    await d.stop();
    vi.useRealTimers();
    daemon = await Daemon.start({ configDir: lab!.configDir, log: silentLogger(), monitor: false });
    const after = daemon.gateway.plan('on', ['app']).expected[0]!;
    expect(after).toEqual(before);
    expect(after.ms).toBeGreaterThan(1500);
    expect(after.ms).toBeLessThan(2000); // the sim's 1.7 s boot, not boot_timeout's 5 min
  });
  it('outlive a busy lab: thousands of other actions later, a restart still probes from them', async () => {
    const d = await bootMonitored({ app: { bootMs: 1700, extra: 'boot_timeout = 5m' } });
    expect((await run(d, 'on', ['app'])).status).toBe('ok');
    await run(d, 'off', ['app'], true);
    const before = d.gateway.plan('on', ['app']).expected[0]!;
    expect(before.source).toBe('learned');
    await d.stop();
    vi.useRealTimers();
    // A CI farm's forced cycles (which learn nothing), more than the journal holds (2000).
    await appendForcedCycles(lab!.stateDir, 'app', 2500);
    daemon = await Daemon.start({ configDir: lab!.configDir, log: silentLogger(), monitor: false });
    expect(daemon.gateway.plan('on', ['app']).expected[0]).toEqual(before);
  });
});

describe('keep-alive after a reload or a restart', () => {
  // base has keep-alive and was brought up as app's dependency (not named in the request). Its
  // last action (the on that brought it up) was read back from the requests' targets only, so a
  // reload or a restart silently turned keep-alive off for it.
  for (const how of ['nothing in between', 'a reload', 'a restart'] as const)
    it(`after ${how}, a hung host brought up as a dependency is still power-cycled`, async () => {
      const d = await bootMonitored({ base: { extra: 'keepalive = true\nkeepalive_failures = 2' }, app: { deps: ['base'] } });
      expect((await run(d, 'on', ['app'])).status).toBe('ok');
      let now: Daemon = d;
      if (how === 'a reload') expect(await simulate(d.reload())).toBe(true);
      else if (how === 'a restart') {
        await simulate(d.stop());
        now = daemon = await simulate(Daemon.start({ configDir: lab!.configDir, log: silentLogger(), monitor: true }));
      }
      const restarted = now.events.once('action.finished', (e) => e.action.origin === 'plugin:auto-control');
      world(now).requestHalt('base');
      const { action } = await simulate(restarted);
      expect(action).toMatchObject({ kind: 'cycle', targets: ['base'], status: 'ok' });
      expect(world(now).writes('pdu-1').log.filter((w) => w.outlet === 1).map((w) => w.action)).toEqual(['on', 'off', 'on']);
    });
});

describe('an off survives a reload or a restart', () => {
  // app (keep-alive) depends on base; `off base` stops app first, as base's dependent. Read back
  // by the requests' targets only, app's last action was still the `on` that named it: after a
  // reload or a restart keep-alive counted its "no power" test runs and power-cycled it on,
  // with base off.
  for (const how of ['a reload', 'a restart'] as const)
    it(`after ${how}, keep-alive does not power on a server an off stopped as a dependent`, async () => {
      const d = await bootMonitored({ base: {}, app: { deps: ['base'], extra: 'keepalive = true\nkeepalive_failures = 2' } });
      expect((await run(d, 'on', ['app'])).status).toBe('ok');
      expect((await run(d, 'off', ['base'])).status).toBe('ok');
      let now: Daemon = d;
      if (how === 'a reload') expect(await simulate(d.reload())).toBe(true);
      else {
        await simulate(d.stop());
        now = daemon = await simulate(Daemon.start({ configDir: lab!.configDir, log: silentLogger(), monitor: true }));
      }
      const writes = world(now).writes('pdu-1').count;
      await vi.advanceTimersByTimeAsync(60_000); // many test runs of app ("no power")
      expect(world(now).writes('pdu-1').count).toBe(writes);
      expect(now.gateway.actions({ limit: 10 }).filter((a) => a.origin === 'plugin:auto-control')).toEqual([]);
      expect(world(now).outlet('pdu-1', 2)).toBe('off');
    });
});

describe('a permanent failure survives a restart', () => {
  it('a server given up on after max_attempts is still PERMANENTLY_FAILED_TO_START after a restart, not merely FAILED', async () => {
    // A machine that never boots (its test's fault, in its file: it holds across the restart).
    const d = await bootMonitored({ base: {}, app: { deps: ['base'], faults: ['never_boots'], extra: 'max_attempts = 2\nboot_timeout = 2s' } });
    expect((await run(d, 'on', ['app'])).status).toBe('failed');
    expect(d.gateway.server('app').state).toBe('PERMANENTLY_FAILED_TO_START');
    await simulate(d.stop());
    daemon = await simulate(Daemon.start({ configDir: lab!.configDir, log: silentLogger(), monitor: true }));
    await vi.advanceTimersByTimeAsync(1000); // its tests have run (and still fail)
    expect(daemon.gateway.server('app').state).toBe('PERMANENTLY_FAILED_TO_START');
    expect(daemon.gateway.server('base').state).toBe('OK');
  });
});

describe('after a cancelled off', () => {
  it('says what is true: powered but not serving, nothing blocked, and the journal says cancelled', async () => {
    const d = await bootMonitored({ base: {}, app: { deps: ['base'], shutdownMs: 500 }, web: { deps: ['app'] } });
    expect((await run(d, 'on', ['web'])).status).toBe('ok');
    const id = d.gateway.request({ kind: 'off', targets: ['base'], force: false, origin: 'api:test', reason: 'test' }).id;
    // Cancel the moment app has accepted its shutdown request: its OS goes down, its power stays.
    d.events.on('action.progressed', (e) => {
      if (e.actionId === id && e.step.server === 'app' && e.step.op === 'shutdown') d.gateway.cancel(id, 'api:test');
    });
    const rec = await simulate(d.gateway.waitFor(id));
    expect(rec.status).toBe('cancelled');
    await vi.advanceTimersByTimeAsync(2000); // app's OS has halted; the monitor has probed it
    expect(world(d).machine('app')).toMatchObject({ powered: true, halted: true });
    const app = d.gateway.server('app');
    expect(app.state).toBe('NOT_SERVING');
    expect(app.reason).toBe('powered, but ping fails; no action running');
    expect(d.gateway.server('base').state).toBe('OK');
    expect(d.gateway.server('base').reason).not.toMatch(/blocked|not stopped/);
    expect(rec.steps.some((s) => s.op === 'blocked')).toBe(false);
    expect(rec.steps.find((s) => s.server === 'base')).toMatchObject({ op: 'cancelled', detail: 'not stopped: the action was cancelled' });
    expect(d.gateway.server('web').state).toBe('OFF');
  });
});
