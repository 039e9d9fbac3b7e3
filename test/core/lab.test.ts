/**
 * The runtime's parts on their own, without a daemon: state derivation (LabState) and
 * switching (Switcher, through Actions) over sim devices, with fake timers and the clock
 * injected, so durations (boot waits, stagger, confirm deadlines, "powered for") are exact.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { simOutletDriver, simTesterDriver, type SimWorld } from '../../drivers/sim/index.js';
import type { SpecOf, Tester } from '../../drivers/types.js';
import { Actions } from '../../src/core/actions.js';
import { DeviceQueue } from '../../src/core/device-queue.js';
import { EventBus } from '../../src/core/event-bus.js';
import { ActionJournal } from '../../src/core/journal.js';
import type { OckleEvents } from '../../src/core/model.js';
import { OpenOnDemand } from '../../src/core/open-on-demand.js';
import type { RuntimeDevice, RuntimeServer } from '../../src/core/slots.js';
import { LabState } from '../../src/core/state.js';
import { silentLogger } from '../../src/log.js';
import { makeDriverContext } from '../support/driver-context.js';

type Spec = SpecOf<typeof simOutletDriver>;
const simSpec = (over: Partial<Spec> = {}): Spec => {
  const d: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(simOutletDriver.template)) d[k] = v.default;
  return { ...d, switch_latency: 100, read_latency: 10, metering: false, outlets: 4, ...over } as Spec;
};

let stateDir: string;
let shared: Map<string, unknown>;
let journal: ActionJournal;
const events = new EventBus<OckleEvents>();
const world = (): SimWorld => shared.get('sim-world') as SimWorld;

beforeEach(async () => {
  vi.useFakeTimers({ now: new Date('2026-12-01T10:00:00Z'), toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  stateDir = await mkdtemp(join(tmpdir(), 'ockle-lab-'));
  shared = new Map();
  journal = await ActionJournal.open(stateDir);
});
afterEach(async () => {
  await journal.close();
  vi.useRealTimers();
  await rm(stateDir, { recursive: true, force: true });
});

function device(id: string, over: Partial<Spec> = {}, common: Partial<RuntimeDevice> = {}): RuntimeDevice {
  const d = simOutletDriver.create(simSpec(over), makeDriverContext({ id, stateDir, shared }));
  return {
    id,
    type: 'sim',
    description: '',
    device: new OpenOnDemand(d),
    queue: new DeviceQueue({ device: `sim "${id}"`, concurrency: 4, timeoutMs: 1000, retries: 0 }),
    pollIntervalMs: 5000,
    cycleDelayMs: 3000,
    confirmTimeoutMs: 2000,
    staggerMs: 0,
    ...common,
  };
}

function server(name: string, outlets: [string, number][], tests: { tester: Tester; timeoutMs?: number }[] = []): RuntimeServer {
  return {
    name,
    description: '',
    host: undefined,
    testIntervalMs: 10_000,
    policy: { maxAttempts: 2, bootTimeoutMs: 60_000, shutdownTimeoutMs: 30_000, testIntervalMs: 10_000, onShutdownTimeout: 'fail', keepaliveFailures: null },
    outlets: outlets.map(([d, n], i) => ({ name: `power${i + 1}`, device: d, outlet: n })),
    controls: [],
    tests: tests.map((t, i) => ({ name: `t${i + 1}`, type: 'sim', tester: t.tester, timeoutMs: t.timeoutMs ?? 1000 })),
    dependencies: [],
  };
}

function simTester(serverName: string, outlets: [string, number][], bootMs: number): Tester {
  return simTesterDriver.create(
    { boot_time: bootMs, probe_latency: 5, fault: [] },
    makeDriverContext({ id: `${serverName}/t`, stateDir, shared, server: { name: serverName, host: undefined, outlets: outlets.map(([device, outlet]) => ({ device, outlet })) } }),
  );
}

const lab = (devices: RuntimeDevice[], servers: RuntimeServer[]) =>
  new LabState({ devices, servers, events, log: silentLogger(), now: () => Date.now(), last: journal.lastActions() });

/** Runs `p` while advancing the fake clock in steps until it settles. */
async function settle<T>(p: Promise<T>, stepMs = 10, maxMs = 120_000): Promise<T> {
  let done = false;
  const out = p.finally(() => (done = true));
  for (let t = 0; !done && t < maxMs; t += stepMs) await vi.advanceTimersByTimeAsync(stepMs);
  return out;
}

describe('LabState: derivation from reads', () => {
  it('adopts by reading each device once, writing nothing, and derives OFF, OK and UNKNOWN', async () => {
    const a = device('pdu-a', { initial: 'off' });
    const b = device('pdu-b', { initial: 'on' });
    const st = lab([a, b], [server('cold', [['pdu-a', 1]]), server('warm', [['pdu-b', 1]]), server('split', [['pdu-a', 2], ['pdu-b', 2]])]);
    const reads = vi.spyOn(a.device, 'read');
    await settle(st.adopt());
    expect(reads).toHaveBeenCalledTimes(1);
    expect(world().writes('pdu-a').count + world().writes('pdu-b').count).toBe(0);
    expect(st.servers.get('cold')!.state).toBe('OFF');
    expect(st.servers.get('warm')!.state).toBe('OK'); // all outlets on, no tests
    expect(st.servers.get('split')!.state).toBe('UNKNOWN');
    expect(st.servers.get('split')!.reason).toMatch(/partially powered|power1.*off|on.*off/i);
  });

  it('a device that does not answer makes it unreachable, its outlets unknown, and blocks its servers by name', async () => {
    const a = device('pdu-a', { initial: 'on' });
    const st = lab([a], [server('app', [['pdu-a', 3]])]);
    await settle(st.adopt());
    expect(st.servers.get('app')!.state).toBe('OK');
    const seen: string[] = [];
    const off = events.on('device.unreachable', (p) => seen.push(p.device));
    world().setDeviceFaults('pdu-a', ['unreachable']);
    await settle(st.poll(st.devices.get('pdu-a')!));
    off();
    expect(seen).toEqual(['pdu-a']);
    expect(st.devices.get('pdu-a')!.power).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
    expect(st.servers.get('app')!.state).toBe('UNKNOWN');
    expect(st.outletsState(st.servers.get('app')!.s).blocked).toBe('pdu-a unreachable');
  });

  it('counts "powered for" on the injected clock from the read that saw the outlet turn on, and a reload carries it', async () => {
    const a = device('pdu-a', { initial: 'off' });
    const s = server('app', [['pdu-a', 1]]);
    const st = lab([a], [s]);
    await settle(st.adopt());
    expect(st.outletsState(s).poweredForMs).toBeNull();
    world().setPower('pdu-a', 1, true); // a hand at the PDU
    await settle(st.poll(st.devices.get('pdu-a')!));
    const seenAt = Date.now();
    await vi.advanceTimersByTimeAsync(7000);
    expect(st.outletsState(s).poweredForMs).toBe(Date.now() - seenAt);
    const next = new LabState({ devices: [a], servers: [s], events, log: silentLogger(), now: () => Date.now(), last: new Map(), carry: st.carry() });
    await vi.advanceTimersByTimeAsync(1000);
    expect(next.outletsState(s).poweredForMs).toBe(Date.now() - seenAt);
    expect(next.servers.get('app')!.state).toBe('OK'); // shown at once, not UNKNOWN until a poll
  });

  it('marks the tests of a server without power FAILED "no power" without probing, and times out a probe that never answers', async () => {
    const a = device('pdu-a', { initial: 'off' });
    const probe = vi.fn(async () => ({ passed: true, detail: 'ok', latencyMs: 1 }));
    const hung: Tester = { id: 'hung/t1', probe: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))) };
    const st = lab([a], [server('cold', [['pdu-a', 1]], [{ tester: { id: 'cold/t1', probe } }]), server('hung', [['pdu-a', 2]], [{ tester: hung, timeoutMs: 1500 }])]);
    await settle(st.adopt());
    await settle(st.testAll(undefined, new Set(['cold'])));
    expect(probe).not.toHaveBeenCalled();
    expect(st.servers.get('cold')!.tests[0]).toMatchObject({ result: 'FAILED', detail: 'no power' });
    world().setPower('pdu-a', 2, true);
    await settle(st.poll(st.devices.get('pdu-a')!));
    const t0 = Date.now();
    await settle(st.runTests(st.servers.get('hung')!));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    expect(st.servers.get('hung')!.tests[0]).toMatchObject({ result: 'FAILED', detail: 'no result within 1500 ms' });
    expect(st.servers.get('hung')!.state).toBe('NOT_SERVING');
  });

  it('derives OK from a passing boot test only once the sim machine has booted', async () => {
    const a = device('pdu-a', { initial: 'off' });
    const s = server('db', [['pdu-a', 1]], [{ tester: simTester('db', [['pdu-a', 1]], 4000) }]);
    const st = lab([a], [s]);
    await settle(st.adopt());
    world().setPower('pdu-a', 1, true);
    await settle(st.poll(st.devices.get('pdu-a')!));
    await settle(st.runTests(st.servers.get('db')!));
    expect(st.servers.get('db')!.state).toBe('NOT_SERVING');
    await vi.advanceTimersByTimeAsync(4000);
    await settle(st.runTests(st.servers.get('db')!));
    expect(st.servers.get('db')!.state).toBe('OK');
  });
});

describe('switching through Actions', () => {
  const actions = (st: LabState) => new Actions({ state: st, journal, events, log: silentLogger(), confirmIntervalMs: 250 });
  const forced = (a: Actions, kind: 'on' | 'off' | 'cycle', targets: string[]) =>
    a.request({ kind, targets, force: true, origin: 'test', reason: 'unit test' });

  it('writes once, confirms by read-back, and journals switch and confirm; an outlet already there is not written', async () => {
    const a = device('pdu-a', { initial: 'off' });
    const st = lab([a], [server('app', [['pdu-a', 1], ['pdu-a', 2]])]);
    await settle(st.adopt());
    world().setPower('pdu-a', 2, true);
    const acts = actions(st);
    const rec = forced(acts, 'on', ['app']);
    const done = await settle(acts.waitFor(rec.id));
    expect(done.status).toBe('ok');
    expect(world().writes('pdu-a').log.map((w) => [w.outlet, w.action])).toEqual([[1, 'on']]);
    expect(done.steps.map((s) => s.op)).toEqual(expect.arrayContaining(['already', 'switch', 'confirm']));
    expect(done.steps.find((s) => s.op === 'already')!.detail).toMatch(/outlet 2 already reads on/);
    expect(st.devices.get('pdu-a')!.power.slice(0, 2)).toEqual(['on', 'on']);
  });

  it('spaces switch-ons on one device by its stagger, on the injected clock', async () => {
    const a = device('pdu-a', { initial: 'off', switch_latency: 0 }, { staggerMs: 2000 });
    const st = lab([a], [server('x', [['pdu-a', 1]]), server('y', [['pdu-a', 2]]), server('z', [['pdu-a', 3]])]);
    await settle(st.adopt());
    const acts = actions(st);
    const ids = ['x', 'y', 'z'].map((n) => forced(acts, 'on', [n]).id);
    await settle(Promise.all(ids.map((id) => acts.waitFor(id))));
    const at = world().writes('pdu-a').log.map((w) => Date.parse(w.at));
    expect(at).toHaveLength(3);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(2000);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(2000);
  });

  it('emulates a cycle on a device without one: off, confirmed, cycle_delay, on', async () => {
    const a = device('pdu-a', { initial: 'on', native_cycle: false, switch_latency: 0 }, { cycleDelayMs: 3000 });
    const st = lab([a], [server('app', [['pdu-a', 1]])]);
    await settle(st.adopt());
    const acts = actions(st);
    const done = await settle(acts.waitFor(forced(acts, 'cycle', ['app']).id));
    expect(done.status).toBe('ok');
    const log = world().writes('pdu-a').log;
    expect(log.map((w) => w.action)).toEqual(['off', 'on']);
    expect(Date.parse(log[1]!.at) - Date.parse(log[0]!.at)).toBeGreaterThanOrEqual(3000);
    expect(done.steps.map((s) => s.op)).toEqual(['switch', 'confirm', 'wait', 'switch', 'confirm']);
  });

  it('an outlet that does not follow fails after confirm_timeout with one write, never a blind second one', async () => {
    const a = device('pdu-a', { initial: 'off', switch_latency: 0 }, { confirmTimeoutMs: 2000 });
    const st = lab([a], [server('app', [['pdu-a', 1]])]);
    await settle(st.adopt());
    world().setDeviceFaults('pdu-a', ['stuck']);
    const acts = actions(st);
    const t0 = Date.now();
    const done = await settle(acts.waitFor(forced(acts, 'on', ['app']).id));
    expect(done.status).toBe('failed');
    expect(done.error!.message).toMatch(/still reads off 2000 ms after "on" was accepted/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
    expect(world().writes('pdu-a').count).toBe(1);
    // Every outlet reads off and the on failed: the table of op-state.ts says FAILED_TO_START.
    expect(st.servers.get('app')!.state).toBe('FAILED_TO_START');
    expect(done.steps.map((s) => s.op)).toEqual(['switch', 'error']);
  });
});

describe('reads of one device in one turn are one read', () => {
  it('merges the reads asked for in one turn under one signal: one read at the device, each caller gets its outlets', async () => {
    const a = device('pdu-a', { initial: 'off' });
    const st = lab([a], [server('x', [['pdu-a', 1]]), server('y', [['pdu-a', 2], ['pdu-a', 3]]), server('z', [['pdu-a', 3]])]);
    await settle(st.adopt());
    world().setPower('pdu-a', 2, true);
    const reads = vi.spyOn(a.device, 'read');
    const signal = new AbortController().signal;
    // 1. Three servers read in the same turn, as a wave of a sequence does.
    const got = await settle(Promise.all(['x', 'y', 'z'].map((n) => st.readServer(st.servers.get(n)!.s, signal))));
    // 2. One read went to the device, of every outlet asked for, each once.
    expect(reads).toHaveBeenCalledTimes(1);
    expect([...reads.mock.calls[0]![0]].sort()).toEqual([1, 2, 3]);
    expect(got.map((r) => [r.on, r.off, r.blocked])).toEqual([[0, 1, null], [1, 1, null], [0, 1, null]]);
    expect(world().writes('pdu-a').count).toBe(0);
  });

  it('does not merge reads under different signals: cancelling one caller leaves the other its read', async () => {
    const a = device('pdu-a', { initial: 'on' });
    const st = lab([a], [server('x', [['pdu-a', 1]]), server('y', [['pdu-a', 2]])]);
    await settle(st.adopt());
    const reads = vi.spyOn(a.device, 'read');
    const one = new AbortController();
    const two = new AbortController();
    const x = st.readServer(st.servers.get('x')!.s, one.signal);
    const y = st.readServer(st.servers.get('y')!.s, two.signal);
    one.abort();
    const [rx, ry] = await settle(Promise.allSettled([x, y]));
    expect(rx.status).toBe('rejected');
    expect((rx as PromiseRejectedResult).reason).toMatchObject({ code: 'OCKLE_OPERATION_ABORTED' });
    expect(ry).toMatchObject({ status: 'fulfilled', value: { on: 1, blocked: null } });
    expect(reads).toHaveBeenCalledTimes(1); // the cancelled one never reached the device
    expect(reads.mock.calls[0]![0]).toEqual([2]);
  });

  it('a merged read that fails fails every caller: the device is unreachable and each server is blocked by it', async () => {
    const a = device('pdu-a', { initial: 'on' });
    const st = lab([a], [server('x', [['pdu-a', 1]]), server('y', [['pdu-a', 2]])]);
    await settle(st.adopt());
    world().setDeviceFaults('pdu-a', ['unreachable']);
    const signal = new AbortController().signal;
    const got = await settle(Promise.all(['x', 'y'].map((n) => st.readServer(st.servers.get(n)!.s, signal))));
    expect(got.map((r) => r.blocked)).toEqual(['pdu-a unreachable', 'pdu-a unreachable']);
    expect(st.devices.get('pdu-a')!.reachable).toBe(false);
    const direct = await settle(Promise.allSettled([st.readDevice(st.devices.get('pdu-a')!, [1], signal), st.readDevice(st.devices.get('pdu-a')!, [2], signal)]));
    expect(direct.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(direct.map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['OCKLE_DEVICE_UNREACHABLE', 'OCKLE_DEVICE_UNREACHABLE']);
  });

  it('confirms of switches that land in one turn share one read-back, and every outlet is still written once', async () => {
    const a = device('pdu-a', { initial: 'off', switch_latency: 0 });
    const st = lab([a], [server('app', [['pdu-a', 1], ['pdu-a', 2], ['pdu-a', 3], ['pdu-a', 4]])]);
    await settle(st.adopt());
    const acts = new Actions({ state: st, journal, events, log: silentLogger(), confirmIntervalMs: 250 });
    const reads = vi.spyOn(a.device, 'read');
    const done = await settle(acts.waitFor(acts.request({ kind: 'on', targets: ['app'], force: true, origin: 'test', reason: 'unit test' }).id));
    expect(done.status).toBe('ok');
    expect(world().writes('pdu-a').log.map((w) => w.outlet).sort()).toEqual([1, 2, 3, 4]);
    // The read before switching, then one read-back of the four (the writes land in one turn).
    expect(reads.mock.calls.map((c) => [...c[0]].sort())).toEqual([[1, 2, 3, 4], [1, 2, 3, 4]]);
    expect(done.steps.filter((s) => s.op === 'confirm')).toHaveLength(4);
  });
});
