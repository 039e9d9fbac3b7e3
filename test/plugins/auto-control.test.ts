/**
 * auto-control on generated sim labs: order, parallelism, failures, retries, shutdown timeouts,
 * cancel, busy servers, stagger. Sequences run in simulated time (vitest fake timers, driven by
 * `simulate`); the crash test runs a real child daemon in real time. Assertions are on the
 * journal's step order and on what the sim hardware recorded, in simulated time.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import type { ActionProgress, ActionRecord } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { REPO } from '../support/demo.js';
import { FAKED, simulate } from '../support/simulate.js';
import { makeLab, type Lab, type LabServer } from '../support/lab.js';
import { learnBoot, nextProbeIn } from '../../plugins/auto-control/sequencer.js';

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

/**
 * Starts a daemon on a generated lab. From then on timers are fake (simulated time): the
 * sequences below take seconds of boot and shutdown time in a few real milliseconds, and what
 * the sim hardware records carries exact simulated timestamps.
 */
async function boot(servers: Record<string, LabServer>, o?: Parameters<typeof makeLab>[1], monitor = false): Promise<Daemon> {
  lab = await makeLab(servers, o);
  vi.useFakeTimers({ toFake: [...FAKED] });
  daemon = await simulate(Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor }));
  return daemon;
}

/** As `boot`, with the monitor on and simulated from the start, so its test runs follow simulated time. */
async function bootMonitored(servers: Record<string, LabServer>): Promise<Daemon> {
  lab = await makeLab(servers);
  vi.useFakeTimers({ toFake: [...FAKED] });
  daemon = await simulate(Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: true }));
  return daemon;
}
const run = async (d: Daemon, kind: 'on' | 'off', targets: string[]): Promise<ActionRecord> =>
  simulate(d.gateway.waitFor(d.gateway.request({ kind, targets, force: false, origin: 'api:test', reason: 'test' }).id));
/** Index of the first journal step matching. */
const at = (a: ActionRecord, server: string, op: string): number => a.steps.findIndex((s) => s.server === server && s.op === op);
const world = (d: Daemon): SimWorld => d.shared<SimWorld>('sim-world')!;


describe('auto-control: power-on', () => {
  it('starts a chain in dependency order, each server only once its dependency serves', async () => {
    const d = await boot({ a: {}, b: { deps: ['a'] }, c: { deps: ['b'] } });
    const rec = await run(d, 'on', ['c']);
    expect(rec.status).toBe('ok');
    expect(at(rec, 'a', 'up')).toBeLessThan(at(rec, 'b', 'switch'));
    expect(at(rec, 'b', 'up')).toBeLessThan(at(rec, 'c', 'switch'));
    for (const s of ['a', 'b', 'c']) expect(d.gateway.server(s).state).toBe('OK');
  });

  it('runs independent branches in parallel and joins a diamond', async () => {
    const d = await boot({ root: {}, left: { deps: ['root'], bootMs: 400 }, right: { deps: ['root'], bootMs: 400 }, join: { deps: ['left', 'right'] } });
    const rec = await run(d, 'on', ['join']);
    expect(rec.status).toBe('ok');
    // Both branches were switched on before either was proven up.
    expect(Math.max(at(rec, 'left', 'switch'), at(rec, 'right', 'switch'))).toBeLessThan(Math.min(at(rec, 'left', 'up'), at(rec, 'right', 'up')));
    expect(at(rec, 'join', 'switch')).toBeGreaterThan(Math.max(at(rec, 'left', 'up'), at(rec, 'right', 'up')));
  });

  it('brings up a target with what it needs and nothing else, skipping what already serves', async () => {
    const d = await boot({ a: {}, b: { deps: ['a'] }, other: {} });
    expect((await run(d, 'on', ['a'])).status).toBe('ok');
    const rec = await run(d, 'on', ['b']);
    expect(rec.steps[0]).toMatchObject({ op: 'plan', detail: 'on: b' });
    expect(world(d).outlet('pdu-1', 3)).toBe('off');
  });

  it('retries a server that does not boot, gives up, blocks its dependents and lets siblings finish', async () => {
    const d = await boot({
      base: {},
      broken: { deps: ['base'], faults: ['never_boots'], extra: 'boot_timeout = 1s' },
      sibling: { deps: ['base'] },
      child: { deps: ['broken'] },
      grandchild: { deps: ['child'] },
    });
    const rec = await run(d, 'on', ['grandchild', 'sibling']);
    expect(rec.status).toBe('failed');
    expect(rec.error?.code).toBe('OCKLE_SEQUENCE_START_FAILED');
    expect(rec.error?.message).toMatch(/^broken: tests did not pass within boot_timeout 1\.0 s$/);
    expect(rec.steps.filter((s) => s.server === 'broken' && s.op === 'retry')).toHaveLength(1);
    // on, then the power-cycle of the retry: off and on again.
    expect(world(d).writes('pdu-1').log.filter((w) => w.outlet === 2).map((w) => w.action)).toEqual(['on', 'off', 'on']);
    expect(d.gateway.server('broken').state).toBe('PERMANENTLY_FAILED_TO_START');
    expect(d.gateway.server('sibling').state).toBe('OK');
    for (const s of ['child', 'grandchild']) {
      expect(d.gateway.server(s).state).toBe('OFF');
      expect(d.gateway.server(s).reason).toMatch(/; not started in action \w+: broken failed$/);
      expect(at(rec, s, 'switch')).toBe(-1);
    }
  });
});

describe('auto-control: progress events', () => {
  it('reports each server starting and ending, with its wave and the share done, up to 100 %', async () => {
    const d = await boot({ root: {}, left: { deps: ['root'] }, right: { deps: ['root'] }, join: { deps: ['left', 'right'] } });
    const seen: ActionProgress[] = [];
    const off = d.gateway.events.on('action.progress', (p) => seen.push(p));
    const rec = await run(d, 'on', ['join']);
    off();
    expect(rec.status).toBe('ok');
    expect(seen.every((p) => p.actionId === rec.id && p.total === 4 && p.waves === 3)).toBe(true);
    const ends = seen.filter((p) => p.event === 'done');
    expect(ends.map((p) => p.server).sort()).toEqual(['join', 'left', 'right', 'root']);
    expect(ends.map((p) => p.percent)).toEqual([25, 50, 75, 100]);
    expect(Object.fromEntries(ends.map((p) => [p.server, p.wave]))).toEqual({ root: 1, left: 2, right: 2, join: 3 });
    // The current wave moves on only once every server of the one before is done.
    expect(ends.find((p) => p.server === 'root')!.currentWave).toBe(2);
    expect(ends.at(-1)).toMatchObject({ server: 'join', currentWave: 3, done: 4, active: [] });
    const started = seen.filter((p) => p.event === 'started').map((p) => p.server);
    expect(started[0]).toBe('root');
    expect(started.at(-1)).toBe('join');
  });

  it('counts a blocked dependent and a server that gave up as ended, and a retried attempt as not', async () => {
    const d = await boot({ broken: { faults: ['never_boots'], extra: 'boot_timeout = 1s' }, child: { deps: ['broken'] } });
    const seen: ActionProgress[] = [];
    const off = d.gateway.events.on('action.progress', (p) => seen.push(p));
    const rec = await run(d, 'on', ['child']);
    off();
    expect(rec.status).toBe('failed');
    expect(seen.map((p) => `${p.server}:${p.event}:${p.done}/${p.total}`)).toEqual([
      'broken:started:0/2',
      'broken:failed:0/2',
      'broken:gave-up:1/2',
      'child:blocked:2/2',
    ]);
  });
});

describe('auto-control: power-off', () => {
  it('takes a server down with everything that needs it, dependents first', async () => {
    const d = await boot({ storage: {}, vm: { deps: ['storage'] }, web: { deps: ['vm'] }, unrelated: {} });
    await run(d, 'on', ['web', 'unrelated']);
    const rec = await run(d, 'off', ['storage']);
    expect(rec.status).toBe('ok');
    expect(rec.steps[0]!.detail).toBe('off: web, vm, storage');
    expect(at(rec, 'web', 'confirm')).toBeLessThan(at(rec, 'vm', 'shutdown'));
    expect(at(rec, 'vm', 'confirm')).toBeLessThan(at(rec, 'storage', 'shutdown'));
    // Each host was asked to shut down and proven down before its power was cut.
    expect(at(rec, 'vm', 'down')).toBeLessThan(at(rec, 'vm', 'switch'));
    for (const s of ['storage', 'vm', 'web']) expect(d.gateway.server(s).state).toBe('OFF');
    expect(d.gateway.server('unrelated').state).toBe('OK');
  });

  it('cuts the power after shutdown_timeout when on_shutdown_timeout = cut', async () => {
    const d = await boot({ stuck: { extra: 'on_shutdown_timeout = cut\nshutdown_timeout = 1s' } });
    await run(d, 'on', ['stuck']);
    world(d).setMachineFaults('stuck', ['ignores_shutdown']);
    const rec = await run(d, 'off', ['stuck']);
    expect(rec.status).toBe('ok');
    expect(rec.steps.find((s) => s.op === 'cut')?.detail).toBe('still serving after shutdown_timeout 1.0 s; cutting power (on_shutdown_timeout = cut)');
    // In simulated time the cut comes at shutdown_timeout after the shutdown request, plus at
    // most the last probe (the sim's test takes a millisecond), never a whole test_interval.
    const t = (op: string): number => Date.parse(rec.steps.find((s) => s.op === op)!.at);
    expect(t('cut') - t('shutdown')).toBeGreaterThanOrEqual(1000);
    expect(t('cut') - t('shutdown')).toBeLessThan(1010);
    expect(d.gateway.server('stuck').state).toBe('OFF');
  });

  it('leaves the power on and what it needs running when on_shutdown_timeout = fail', async () => {
    const d = await boot({ base: {}, stuck: { deps: ['base'], extra: 'on_shutdown_timeout = fail\nshutdown_timeout = 1s' } });
    await run(d, 'on', ['stuck']);
    world(d).setMachineFaults('stuck', ['ignores_shutdown']);
    const rec = await run(d, 'off', ['base']);
    expect(rec.status).toBe('failed');
    expect(rec.error?.code).toBe('OCKLE_SEQUENCE_STOP_FAILED');
    expect(d.gateway.server('stuck').state).toBe('FAILED_TO_STOP');
    expect(world(d).outlet('pdu-1', 2)).toBe('on');
    expect(d.gateway.server('base').state).toBe('OK');
    expect(d.gateway.server('base').reason).toMatch(/; not stopped in action \w+: stuck failed$/);
  });

  it('switches a server without controls off directly', async () => {
    const d = await boot({ plain: { noControls: true } });
    await run(d, 'on', ['plain']);
    const rec = await run(d, 'off', ['plain']);
    expect(rec.status).toBe('ok');
    expect(rec.steps.map((s) => s.op)).toEqual(['plan', 'switch', 'confirm']);
  });
});

describe('auto-control: run control', () => {
  it('refuses a second request touching a busy server, naming the holder', async () => {
    const d = await boot({ a: { bootMs: 500 }, b: { deps: ['a'] } });
    const first = d.gateway.request({ kind: 'on', targets: ['b'], force: false, origin: 'api:one', reason: '' });
    expect(() => d.gateway.request({ kind: 'on', targets: ['a'], force: false, origin: 'api:two', reason: '' })).toThrow(
      expect.objectContaining({ code: 'OCKLE_ACTION_BUSY', actionId: first.id }),
    );
    expect(() => d.gateway.request({ kind: 'off', targets: ['b'], force: true, origin: 'api:two', reason: '' })).toThrow(
      expect.objectContaining({ code: 'OCKLE_ACTION_BUSY' }),
    );
    await simulate(d.gateway.waitFor(first.id));
  });

  it('cancels mid-sequence: nothing new starts, and every state stays true', async () => {
    const d = await boot({ a: { bootMs: 60_000, extra: 'boot_timeout = 5m' }, b: { deps: ['a'] }, c: { deps: ['b'] } });
    const rec = d.gateway.request({ kind: 'on', targets: ['c'], force: false, origin: 'api:test', reason: '' });
    await simulate(d.events.once('action.progressed', (e) => e.step.server === 'a' && e.step.op === 'confirm'));
    d.gateway.cancel(rec.id, 'api:test');
    const done = await simulate(d.gateway.waitFor(rec.id));
    expect(done.status).toBe('cancelled');
    expect(done.steps.some((s) => s.op === 'cancel')).toBe(true);
    expect(world(d).outlet('pdu-1', 1)).toBe('on'); // a was switched on and stays on: nothing is undone blindly
    expect(world(d).writes('pdu-1').count).toBe(1); // b and c were never touched
    // Powered, still booting, nothing starting it any more: not serving, and it says why.
    expect(d.gateway.server('a').state).toBe('NOT_SERVING');
    expect(d.gateway.server('b').state).toBe('OFF');
  });

  it('spaces switch-ons on one device by its stagger (simulated time)', async () => {
    const d = await boot({ r: {}, x: { deps: ['r'] }, y: { deps: ['r'] }, z: { deps: ['r'] } }, { devices: { 'pdu-1': 'stagger = 150ms' } });
    const rec = await run(d, 'on', ['x', 'y', 'z']);
    expect(rec.status).toBe('ok');
    const ons = world(d).writes('pdu-1').log.filter((w) => w.action === 'on');
    expect(ons.map((w) => w.outlet)).toEqual([1, 2, 3, 4]);
    const at = ons.map((w) => Date.parse(w.at));
    // r boots (sim boot 0, first probe) then x, y, z go out exactly one stagger apart.
    expect(at.slice(2).map((t, i) => t - at[i + 1]!)).toEqual([150, 150]);
  });

  it('never exceeds max_parallel servers in progress', async () => {
    const servers: Record<string, LabServer> = {};
    for (let i = 0; i < 6; i++) servers[`s${i}`] = { bootMs: 100 };
    const d = await boot(servers, { plugin: 'max_parallel = 2' });
    let inProgress = 0;
    let peak = 0;
    d.events.on('server.changed', (e) => {
      if (e.state === 'SWITCHING_ON') peak = Math.max(peak, ++inProgress);
      if (e.previous === 'SWITCHING_ON') inProgress--;
    });
    const rec = await run(d, 'on', Object.keys(servers));
    expect(rec.status).toBe('ok');
    expect(peak).toBe(2);
  });
});

describe('auto-control: plan', () => {
  it('shows waves, device order and the critical path without touching anything, learning boot times', async () => {
    const t = 'boot_timeout = 30s';
    const d = await boot({ a: { extra: t }, b: { deps: ['a'], extra: t }, c: { deps: ['a'], extra: t }, d: { deps: ['b', 'c'], extra: t } });
    const p = d.gateway.plan('on', ['d']);
    expect(p.waves).toEqual([['a'], ['b', 'c'], ['d']]);
    expect(p.expected.every((e) => e.source === 'timeout' && e.ms === 30_000)).toBe(true);
    expect(p.criticalPath).toEqual({ servers: ['a', 'b', 'd'], ms: 90_000 });
    expect(p.devices).toEqual([{ device: 'pdu-1', staggerMs: 0, order: ['a/power (outlet 1)', 'b/power (outlet 2)', 'c/power (outlet 3)', 'd/power (outlet 4)'] }]);
    expect(world(d).writes('pdu-1').count).toBe(0);
    await run(d, 'on', ['a']);
    await run(d, 'off', ['a']);
    const learned = d.gateway.plan('on', ['d']);
    expect(learned.expected.find((e) => e.server === 'a')).toMatchObject({ source: 'learned' });
    expect(learned.expected.find((e) => e.server === 'a')!.ms).toBeLessThan(30_000);
    const off = d.gateway.plan('off', 'all');
    expect(off.servers).toEqual([]);
    expect(off.skipped).toEqual(['d', 'c', 'b', 'a']); // dependents first, the off order
  });
});

describe('auto-control across a daemon stop', () => {
  it('a clean stop mid-sequence cancels it: no new write, journal says cancelled', async () => {
    const d = await boot({ a: { bootMs: 60_000, extra: 'boot_timeout = 5m' }, b: { deps: ['a'] } });
    const rec = d.gateway.request({ kind: 'on', targets: ['b'], force: false, origin: 'api:test', reason: '' });
    await simulate(d.events.once('action.progressed', (e) => e.step.server === 'a' && e.step.op === 'confirm'));
    vi.useRealTimers();
    await d.stop();
    daemon = await Daemon.start({ configDir: lab!.configDir, log: silentLogger(), monitor: false });
    expect(daemon.gateway.action(rec.id).status).toBe('cancelled');
    expect(world(daemon).writes('pdu-1').count).toBe(1);
    expect(daemon.gateway.server('a').outlets[0]!.power).toBe('on');
    expect(daemon.gateway.server('b').state).toBe('OFF');
  });

  it('a crash (SIGKILL) mid-sequence shows as interrupted after restart, and the restart switches nothing', async () => {
    lab = await makeLab({ a: { bootMs: 60_000, extra: 'boot_timeout = 5m' }, b: { deps: ['a'] } });
    const child = spawn(process.execPath, [join(REPO, 'dist', 'src', 'cli', 'main.js'), 'daemon', '--config', lab.configDir], { stdio: 'ignore', env: { ...process.env, NOTIFY_SOCKET: '' } });
    const exited = new Promise((r) => child.on('exit', r));
    let url = '';
    for (let i = 0; i < 400 && !url; i++) {
      url = await readFile(join(lab.stateDir, 'api.json'), 'utf8').then((t) => (JSON.parse(t) as { url: string }).url, () => '');
      if (!url) await new Promise((r) => setTimeout(r, 25));
    }
    const token = (await readFile(join(lab.stateDir, 'api-token'), 'utf8')).trim();
    const res = await fetch(`${url}/api/actions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'on', targets: ['b'] }),
    });
    const { action } = (await res.json()) as { action: { id: string } };
    for (let i = 0; i < 400; i++) {
      const a = (await (await fetch(`${url}/api/actions/${action.id}`, { headers: { authorization: `Bearer ${token}` } })).json()) as ActionRecord;
      if (a.steps.some((s) => s.op === 'confirm')) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    // The sim hardware persists its state within 50 ms: kill only once it holds the write.
    for (let i = 0; i < 200; i++) {
      const f = await readFile(join(lab.stateDir, 'sim', 'pdu-1.json'), 'utf8').catch(() => '{}');
      if ((JSON.parse(f) as { writes?: number }).writes === 1) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await exited;
    const before = JSON.parse(await readFile(join(lab.stateDir, 'sim', 'pdu-1.json'), 'utf8')) as { writes: number };
    daemon = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: false });
    expect(daemon.gateway.action(action.id)).toMatchObject({ status: 'interrupted', error: { code: 'OCKLE_OPERATION_ABORTED' } });
    expect(world(daemon).writes('pdu-1').count).toBe(before.writes);
    expect(before.writes).toBe(1);
  });
});

describe('after a crash mid-off', () => {
  it('keep-alive does not power back on a server the crashed off had already stopped', async () => {
    // app (keep-alive) depends on base. `off base` stops app, then asks base's OS to shut down,
    // which takes a minute: the daemon is SIGKILLed meanwhile, with app's outlet off.
    lab = await makeLab({ base: { shutdownMs: 60_000, extra: 'shutdown_timeout = 5m' }, app: { deps: ['base'], extra: 'keepalive = true\nkeepalive_failures = 2' } });
    const child = spawn(process.execPath, [join(REPO, 'dist', 'src', 'cli', 'main.js'), 'daemon', '--config', lab.configDir], { stdio: 'ignore', env: { ...process.env, NOTIFY_SOCKET: '' } });
    const exited = new Promise((r) => child.on('exit', r));
    try {
      let url = '';
      for (let i = 0; i < 400 && !url; i++) {
        url = await readFile(join(lab.stateDir, 'api.json'), 'utf8').then((t) => (JSON.parse(t) as { url: string }).url, () => '');
        if (!url) await new Promise((r) => setTimeout(r, 25));
      }
      const token = (await readFile(join(lab.stateDir, 'api-token'), 'utf8')).trim();
      const act = async (action: string, targets: string[]): Promise<string> => {
        const res = await fetch(`${url}/api/actions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ action, targets }) });
        return ((await res.json()) as { action: { id: string } }).action.id;
      };
      const until = async (id: string, done: (a: ActionRecord) => boolean): Promise<void> => {
        for (let i = 0; i < 800; i++) {
          const a = (await (await fetch(`${url}/api/actions/${id}`, { headers: { authorization: `Bearer ${token}` } })).json()) as ActionRecord;
          if (done(a)) return;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error(`action ${id} never got there`);
      };
      await until(await act('on', ['app']), (a) => a.status === 'ok');
      await until(await act('off', ['base']), (a) => a.steps.some((s) => s.server === 'base' && s.op === 'shutdown'));
      // The sim hardware persists its state within 50 ms: kill only once it holds app's off.
      for (let i = 0; i < 200; i++) {
        const f = JSON.parse(await readFile(join(lab.stateDir, 'sim', 'pdu-1.json'), 'utf8').catch(() => '{}')) as { outlets?: { on: boolean }[] };
        if (f.outlets?.[1]?.on === false) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    daemon = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: true });
    const writes = world(daemon).writes('pdu-1').count;
    expect(world(daemon).outlet('pdu-1', 2)).toBe('off');
    await new Promise((r) => setTimeout(r, 1500)); // many of app's test runs ("no power"), 100 ms apart
    expect(daemon.gateway.actions({ limit: 10 }).filter((a) => a.origin === 'plugin:auto-control')).toEqual([]);
    expect(world(daemon).writes('pdu-1').count).toBe(writes);
    expect(world(daemon).outlet('pdu-1', 2)).toBe('off');
  }, 30_000);
});

describe('probe schedule', () => {
  it('probes every test_interval while no boot time is known', () => {
    expect(nextProbeIn(0, 5000, undefined)).toBe(5000);
    expect(nextProbeIn(12_000, 5000, undefined)).toBe(5000);
  });
  it('jumps to the learned boot time, then looks closely until twice that, then relaxes', () => {
    expect(nextProbeIn(0, 5000, 30_000)).toBe(5000); // never longer than test_interval
    expect(nextProbeIn(28_000, 5000, 30_000)).toBe(2000); // straight to the expected boot
    expect(nextProbeIn(30_100, 5000, 30_000)).toBe(600); // one close step: a fiftieth of the boot time
    expect(nextProbeIn(31_200, 5000, 30_000)).toBe(900); // then three quarters of the time past it
    expect(nextProbeIn(36_000, 5000, 30_000)).toBe(4500); // growing: a boot far longer costs few probes
    expect(nextProbeIn(40_000, 1000, 30_000)).toBe(1000); // but never above test_interval
    expect(nextProbeIn(61_000, 5000, 30_000)).toBe(5000); // far past it: back to the interval
    expect(nextProbeIn(5, 10, 20)).toBe(10);
    expect(nextProbeIn(15, 10, 20)).toBe(5);
    expect(nextProbeIn(21, 10, 20)).toBe(1); // at least 1 ms, the timers' grain
  });
});

describe('learned boot times', () => {
  /** One boot of a machine that serves `trueMs` after power-on, probed as the sequencer does: the time learned and the probes sent. */
  const oneBoot = (trueMs: number, intervalMs: number, expected: number | undefined): { learned: number; probes: number } => {
    let t = 0;
    let lastFail = 0;
    for (let probes = 1; ; probes++) {
      t += nextProbeIn(t, intervalMs, expected);
      if (t >= trueMs) return { learned: learnBoot(lastFail, t, expected), probes };
      lastFail = t;
    }
  };
  const boots = (trueMs: number, intervalMs: number, n: number): { learned: number; probes: number }[] => {
    const out: { learned: number; probes: number }[] = [];
    let expected: number | undefined;
    for (let i = 0; i < n; i++) {
      out.push(oneBoot(trueMs, intervalMs, expected));
      expected = out.at(-1)!.learned;
    }
    return out;
  };

  it('the midpoint between the last failing and the passing probe, when they are close or nothing is expected', () => {
    expect(learnBoot(0, 30_000, undefined)).toBe(15_000);
    expect(learnBoot(19_000, 21_000, 19_000)).toBe(20_000); // failed at the expected time
    expect(learnBoot(55_000, 60_000, 90_000)).toBe(57_500); // passed well before it
  });

  it('passing at the expected time lowers it by a tenth, never below the last failure', () => {
    expect(learnBoot(0, 20, 20)).toBe(18);
    expect(learnBoot(10, 20, 20)).toBe(18); // the failure at test_interval says nothing of the boot
    expect(learnBoot(0, 19.6, 20)).toBe(18); // a timer a little early counts as the expected probe
    expect(learnBoot(19, 20, 20)).toBe(20); // failed just before: the midpoint
  });

  it('passing at the expected time just after a failure lowers it by one close step only (the estimate is right)', () => {
    expect(learnBoot(57_000, 60_000, 60_000)).toBe(58_800); // failed within the tenth before: a fiftieth down
    expect(learnBoot(50_000, 60_000, 60_000)).toBe(54_000); // nothing failed near it: a tenth down
  });

  it('a right estimate stays near the truth, probed three times a boot on average (it was halved every other boot, then probed ten times)', () => {
    const run = boots(20, 10, 20).slice(4);
    for (const b of run) {
      expect(b.learned).toBeGreaterThanOrEqual(17);
      expect(b.learned).toBeLessThanOrEqual(21);
      expect(b.probes).toBeLessThanOrEqual(4);
    }
    expect(run.reduce((n, b) => n + b.probes, 0) / run.length).toBeLessThanOrEqual(3);
  });

  it('an estimate too long (a probe every test_interval, or a machine that got faster) comes down to within a tenth', () => {
    const slow = boots(10_000, 30_000, 12);
    expect(slow[0]!.learned).toBe(15_000); // one probe at test_interval: only "under 30 s" is known
    for (const b of slow.slice(6)) {
      expect(b.learned).toBeGreaterThanOrEqual(9_000);
      expect(b.learned).toBeLessThanOrEqual(11_000);
      expect(b.probes).toBeLessThanOrEqual(6);
    }
    expect(slow.slice(6).reduce((n, b) => n + b.probes, 0) / 6).toBeLessThanOrEqual(3.5);
  });

  /**
   * Boots that vary from one to the next (±`jitter`, seeded), probed as the sequencer does, with
   * timers up to 5 ms late: how late each boot is noticed after it serves (its share of the boot
   * time), and the probes it took, past the first few boots.
   */
  const jittered = (trueMs: number, intervalMs: number, jitter: number, n = 400): { late: number[]; probes: number } => {
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const late: number[] = [];
    let probes = 0;
    let expected: number | undefined;
    for (let i = 0; i < n; i++) {
      const serves = trueMs * (1 + jitter * (2 * rnd() - 1));
      let t = 0;
      let lastFail = 0;
      for (let k = 1; ; k++) {
        t += nextProbeIn(t, intervalMs, expected) + 5 * rnd();
        if (t >= serves) {
          expected = learnBoot(lastFail, t, expected);
          if (i >= 20) {
            late.push((t - serves) / trueMs);
            probes += k;
          }
          break;
        }
        lastFail = t;
      }
    }
    return { late: late.sort((a, b) => a - b), probes: probes / late.length };
  };

  it('a boot that varies a little is noticed within a few hundredths of its time (a tenth of it, before), for about as many probes', () => {
    // A 60 s boot, ±2 %, tests every 5 s: 12 probes wait for the expected time whatever the schedule.
    const { late, probes } = jittered(60_000, 5000, 0.02);
    const mean = late.reduce((a, b) => a + b, 0) / late.length;
    expect(mean).toBeLessThan(0.015); // 0.9 s; the tenth's close step: 3.3 % (2 s)
    expect(late[Math.floor(late.length * 0.99)]).toBeLessThan(0.05); // the tenth's: 8 %
    expect(probes).toBeLessThan(13.5); // the tenth's: 12.8
    // ±10 %: the estimate cannot be right every time; still noticed sooner than with the tenth (4 %).
    const wide = jittered(60_000, 5000, 0.1);
    expect(wide.late.reduce((a, b) => a + b, 0) / wide.late.length).toBeLessThan(0.03);
  });

  it('a boot is timed from when the device took the write, not from the confirming read a slow device answers later', async () => {
    const d = await boot({ a: { bootMs: 10_000, extra: 'boot_timeout = 60s' } }, { devices: { 'pdu-1': 'read_latency = 2s' } });
    const rec = await run(d, 'on', ['a']);
    expect(rec.status).toBe('ok');
    const up = rec.steps.find((s) => s.server === 'a' && s.op === 'up')!;
    // Timed from the confirming read, this was 8 s: the next boot would be probed 2 s early.
    expect(up.ms).toBeGreaterThanOrEqual(9_900);
    expect(up.ms).toBeLessThanOrEqual(10_100);
    expect(up.detail).toMatch(/serves after 10\.[01] s/);
  });

  it('a confirming read slower than boot_timeout still gets one probe: the server that serves is not failed, nor power-cycled', async () => {
    // The read that confirms the switch takes 2 s; the machine serves 0.5 s after power-on; boot_timeout is 1 s.
    const d = await boot({ a: { bootMs: 500, extra: 'boot_timeout = 1s' } }, { devices: { 'pdu-1': 'read_latency = 2s' } });
    const rec = await run(d, 'on', ['a']);
    expect(rec.status).toBe('ok');
    expect(rec.steps.filter((s) => s.op === 'cycle' || s.op === 'retry' || s.op === 'failed')).toEqual([]);
    expect(world(d).writes('pdu-1').count).toBe(1); // the one switch-on, no power cycle
    expect(d.gateway.server('a').state).toBe('OK');
  });
});

describe('auto-control: restarts', () => {
  it('restarts exactly the named server: a clean shutdown when it still serves, then proven up', async () => {
    const d = await boot({ base: {}, app: { deps: ['base'] } });
    await run(d, 'on', ['app']);
    const rec = await simulate(d.gateway.waitFor(d.gateway.request({ kind: 'cycle', targets: ['app'], force: false, origin: 'api:test', reason: '' }).id));
    expect(rec.status).toBe('ok');
    expect(rec.steps.map((s) => s.op)).toEqual(['plan', 'shutdown', 'down', 'switch', 'confirm', 'switch', 'confirm', 'up']);
    expect(world(d).writes('pdu-1').log.map((w) => `${w.outlet}:${w.action}`)).toEqual(['1:on', '2:on', '2:off', '2:on']);
    expect(d.gateway.server('app').state).toBe('OK');
  });

  it('on: a server powered longer than boot_timeout but not serving (halted) is power-cycled at once', async () => {
    const d = await bootMonitored({ a: { extra: 'boot_timeout = 5m', bootMs: 2000 } });
    expect((await run(d, 'on', ['a'])).status).toBe('ok');
    world(d).requestHalt('a'); // its OS went down, its power stayed on (a cancelled off does this)
    await vi.advanceTimersByTimeAsync(6 * 60_000);
    expect(d.gateway.server('a').state).not.toBe('OK'); // the monitor saw its tests fail
    const rec = await run(d, 'on', ['a']);
    expect(rec.status).toBe('ok');
    expect(rec.steps.find((s) => s.op === 'cycle')).toMatchObject({ server: 'a', detail: expect.stringMatching(/^powered for \d+\.\d s but not serving: power-cycling$/) as string });
    expect(world(d).writes('pdu-1').log.map((w) => w.action)).toEqual(['on', 'off', 'on']);
    // Up after its boot time, not after another boot_timeout.
    expect(Date.parse(rec.finishedAt!) - Date.parse(rec.requestedAt)).toBeLessThan(60_000);
  });

  it('on: a server powered a moment ago is left to finish booting: no cycle, no write', async () => {
    const d = await bootMonitored({ a: { extra: 'boot_timeout = 5m', bootMs: 20_000 } });
    world(d).setPower('pdu-1', 1, true); // someone switched it on at the PDU; the next poll (10 s) sees it
    await vi.advanceTimersByTimeAsync(11_000);
    expect(d.gateway.server('a').outlets[0]!.power).toBe('on');
    const rec = await run(d, 'on', ['a']);
    expect(rec.status).toBe('ok');
    expect(rec.steps.some((s) => s.op === 'cycle')).toBe(false);
    expect(rec.steps.find((s) => s.op === 'wait')?.detail).toMatch(/^powered \d+\.\d s ago: waiting for the rest of boot_timeout$/);
    expect(world(d).writes('pdu-1').count).toBe(0);
    // It serves once its 20 s boot is over: about 9 s after this request, not boot_timeout later.
    const waited = Date.parse(rec.finishedAt!) - Date.parse(rec.requestedAt);
    expect(waited).toBeGreaterThan(5000);
    expect(waited).toBeLessThan(15_000);
  });

  it('keep-alive: a server that stops serving is power-cycled, alone, and comes back', async () => {
    const d = await boot(
      { base: {}, app: { deps: ['base'], extra: 'keepalive = true\nkeepalive_failures = 2' }, other: {} },
      undefined,
      true,
    );
    await run(d, 'on', ['app', 'other']);
    const restarted = d.events.once('action.finished', (e) => e.action.origin === 'plugin:auto-control');
    // 1. The OS of app hangs: its tests start failing, its power stays on.
    world(d).requestHalt('app');
    const { action } = await simulate(restarted);
    expect(action).toMatchObject({ kind: 'cycle', targets: ['app'], status: 'ok' });
    // A hung host gets no shutdown request: it is power-cycled straight away.
    expect(action.steps.map((s) => s.op)).toEqual(['plan', 'cycle', 'switch', 'confirm', 'switch', 'confirm', 'up']);
    expect(action.reason).toBe('keep-alive: ping failed 2 test runs in a row');
    // 2. Only app was touched: off and on again; base and other kept their single switch-on.
    const log = world(d).writes('pdu-1').log.map((w) => `${w.outlet}:${w.action}`);
    expect(log.filter((w) => w.startsWith('2:'))).toEqual(['2:on', '2:off', '2:on']);
    expect(log.filter((w) => !w.startsWith('2:')).sort()).toEqual(['1:on', '3:on']);
    expect(d.gateway.server('app').state).toBe('OK');
  });

  it('refuses keep-alive on a server without tests', async () => {
    await expect(boot({ blind: { noTests: true, extra: 'keepalive = true' } })).rejects.toThrow(/keepalive needs tests: server "blind" has none/);
  });
});

describe('auto-control: queued requests', () => {
  it('waits for the action holding a server, then plans from the states at that moment', async () => {
    const d = await boot({ a: { bootMs: 400 } });
    const first = d.gateway.request({ kind: 'on', targets: ['a'], force: false, origin: 'api:one', reason: '' });
    const second = d.gateway.request({ kind: 'off', targets: ['a'], force: false, origin: 'api:two', reason: '', queue: true });
    expect(second.id).not.toBe(first.id);
    const done = await simulate(d.gateway.waitFor(second.id));
    expect(d.gateway.action(first.id).status).toBe('ok');
    expect(done.status).toBe('ok');
    expect(done.steps.map((s) => s.op).slice(0, 2)).toEqual(['queued', 'plan']);
    expect(done.steps[0]!.detail).toBe(`waiting for ${first.id}`);
    expect(world(d).writes('pdu-1').log.map((w) => w.action)).toEqual(['on', 'off']);
    expect(d.gateway.server('a').state).toBe('OFF');
  });

  it('can be cancelled while it waits, switching nothing', async () => {
    const d = await boot({ a: { bootMs: 400 } });
    const first = d.gateway.request({ kind: 'on', targets: ['a'], force: false, origin: 'api:one', reason: '' });
    const second = d.gateway.request({ kind: 'off', targets: ['a'], force: false, origin: 'api:two', reason: '', queue: true });
    d.gateway.cancel(second.id, 'api:two');
    expect((await simulate(d.gateway.waitFor(second.id))).status).toBe('cancelled');
    await simulate(d.gateway.waitFor(first.id));
    expect(world(d).writes('pdu-1').log.map((w) => w.action)).toEqual(['on']);
  });
});
