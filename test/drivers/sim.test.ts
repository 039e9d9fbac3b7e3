import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { simControllerDriver, simOutletDriver, simTesterDriver, type SimWorld } from '../../drivers/sim/index.js';
import type { ServerBinding, SpecOf } from '../../drivers/types.js';
import { makeDriverContext } from '../support/driver-context.js';
import { describeOutletDevice } from './outlet-contract.js';

type Spec = SpecOf<typeof simOutletDriver>;
const spec = (over: Partial<Record<keyof Spec, unknown>> = {}): Spec => {
  const d: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(simOutletDriver.template)) d[k] = v.default;
  return { ...d, switch_latency: 5, read_latency: 1, ...over } as Spec;
};

describeOutletDevice('sim', async () => {
  const shared = new Map<string, unknown>();
  const ctx = makeDriverContext({ id: 'pdu-c', shared });
  const device = simOutletDriver.create(spec({ initial: 'on' }), ctx);
  const world = shared.get('sim-world') as SimWorld;
  return { device, peer: { power: (n) => world.outlet('pdu-c', n), writes: () => world.writes('pdu-c').count }, close: async () => {} };
});

describe('sim lab', () => {
  let stateDir: string;
  let shared: Map<string, unknown>;
  const bind: ServerBinding = { name: 'db-1', host: undefined, outlets: [{ device: 'pdu-1', outlet: 3 }] };
  const sig = (): AbortSignal => new AbortController().signal;
  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'ockle-sim-'));
    shared = new Map();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await rm(stateDir, { recursive: true, force: true });
  });
  const device = (over: Parameters<typeof spec>[0] = {}, id = 'pdu-1') =>
    simOutletDriver.create(spec(over), makeDriverContext({ id, stateDir, shared }));
  const world = (): SimWorld => shared.get('sim-world') as SimWorld;

  it('keeps outlet states and the write count across a re-created world (a daemon restart)', async () => {
    const d = device();
    await d.switch(2, 'on', sig());
    await d.close(); // a daemon stop closes its devices, which flushes the sim hardware state
    shared = new Map();
    const d2 = device({ initial: 'on' });
    const m = await d2.read([1, 2], sig());
    expect(m.get(1)).toBe('off'); // persisted state wins over `initial`
    expect(m.get(2)).toBe('on');
    expect(world().writes('pdu-1').count).toBe(1);
    expect(world().writes('pdu-1').log[0]).toMatchObject({ outlet: 2, action: 'on' });
  });

  it('writes its state once a burst of switches pauses, and a close leaves the last state on disk', async () => {
    const file = join(stateDir, 'sim', 'pdu-1.json');
    const onDisk = async (): Promise<{ writes: number; outlets: { on: boolean }[] }> => JSON.parse(await readFile(file, 'utf8').catch(() => '{}'));
    const d = device({ switch_latency: 0, outlets: 8 });
    // 1. A burst of switches reaches the file without a close (coalesced: one write at its end).
    for (let n = 1; n <= 4; n++) await d.switch(n, 'on', sig());
    for (let i = 0; i < 500 && (await onDisk()).writes !== 4; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await onDisk()).writes).toBe(4);
    // 2. More switches, and a close at once (before the pause): the file holds the last state.
    for (let n = 5; n <= 8; n++) await d.switch(n, 'on', sig());
    await d.close();
    const last = await onDisk();
    expect(last.writes).toBe(8);
    expect(last.outlets.map((o) => o.on)).toEqual(Array(8).fill(true));
    // 3. Nothing written later replaces it with an older one.
    await new Promise((r) => setTimeout(r, 100));
    expect((await onDisk()).writes).toBe(8);
  });

  it('writes its state off the event loop: a close right after a burst waits for it, and leaves only the newest state, no temporary file', async () => {
    const dir = join(stateDir, 'sim');
    const file = join(dir, 'pdu-1.json');
    const d = device({ switch_latency: 0, outlets: 8 });
    // A burst, its write started (the pause passed), then more changes and a close while that
    // write may still be under way in the thread pool: the close's own write must win.
    for (let n = 1; n <= 4; n++) await d.switch(n, 'on', sig());
    await new Promise((r) => setTimeout(r, 60));
    for (let n = 5; n <= 8; n++) await d.switch(n, 'on', sig());
    await d.close();
    const check = async (): Promise<void> => {
      const last = JSON.parse(await readFile(file, 'utf8')) as { writes: number; outlets: { on: boolean }[] };
      expect(last.writes).toBe(8);
      expect(last.outlets.map((o) => o.on)).toEqual(Array(8).fill(true));
      expect((await readdir(dir)).sort()).toEqual(['pdu-1.json']);
    };
    await check();
    await new Promise((r) => setTimeout(r, 100));
    await check();
  });

  it('boots a machine boot_time after power-on, and halts it on shutdown', async () => {
    vi.useFakeTimers({ now: new Date('2026-11-24T10:00:00Z') });
    const d = device({ switch_latency: 0 });
    const t = simTesterDriver.create({ boot_time: 4000, probe_latency: 0, fault: [] }, makeDriverContext({ id: 'db-1/ping', stateDir, shared, server: bind }));
    const c = simControllerDriver.create({ shutdown_time: 3000 }, makeDriverContext({ id: 'db-1/os', stateDir, shared, server: bind }));
    const probe = async () => {
      const p = t.probe(sig());
      await vi.advanceTimersByTimeAsync(0);
      return p;
    };
    expect(await probe()).toMatchObject({ passed: false, detail: 'sim db-1 has no power' });
    const sw = d.switch(3, 'on', sig());
    await vi.advanceTimersByTimeAsync(0);
    await sw;
    await vi.advanceTimersByTimeAsync(2000);
    expect(await probe()).toMatchObject({ passed: false, detail: 'sim db-1 booting (2.0 s of 4.0 s)' });
    await vi.advanceTimersByTimeAsync(2000);
    expect((await probe()).passed).toBe(true);
    const sd = c.shutdown(sig());
    await vi.advanceTimersByTimeAsync(10);
    await sd;
    expect((await probe()).passed).toBe(true);
    await vi.advanceTimersByTimeAsync(3000);
    expect(await probe()).toMatchObject({ passed: false, detail: 'sim db-1 is halted' });
    expect(world().outlet('pdu-1', 3)).toBe('on'); // the OS halted; the power is still on
  });

  it('injects faults: unreachable, refuse_switch, stuck, slow, never_boots', async () => {
    const d = device();
    world().setDeviceFaults('pdu-1', ['unreachable']);
    await expect(d.read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE' });
    world().setDeviceFaults('pdu-1', ['refuse_switch']);
    await expect(d.switch(1, 'on', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED' });
    world().setDeviceFaults('pdu-1', ['stuck']);
    await d.switch(1, 'on', sig());
    expect(world().outlet('pdu-1', 1)).toBe('off');
    expect(world().writes('pdu-1').count).toBe(1);
    world().setDeviceFaults('pdu-1', []);
    const t = simTesterDriver.create({ boot_time: 0, probe_latency: 0, fault: ['never_boots'] }, makeDriverContext({ id: 'db-1/ping', stateDir, shared, server: bind }));
    await d.switch(3, 'on', sig());
    expect((await t.probe(sig())).detail).toMatch(/booting/);
  });

  it('takes config faults at creation', async () => {
    const d = device({ fault: ['unreachable'] });
    await expect(d.open(sig())).rejects.toThrow('sim "pdu-1": no answer (fault "unreachable" injected)');
  });

  it('cycles natively: off at once, on after cycle_time', async () => {
    vi.useFakeTimers();
    const d = device({ switch_latency: 0, cycle_time: 1000, initial: 'on' });
    const p = d.switch(5, 'cycle', sig());
    await vi.advanceTimersByTimeAsync(0);
    await p;
    expect(world().outlet('pdu-1', 5)).toBe('off');
    await vi.advanceTimersByTimeAsync(1000);
    expect(world().outlet('pdu-1', 5)).toBe('on');
  });

  it('meters watts while on and integrates energy over time', async () => {
    vi.useFakeTimers({ now: new Date('2026-11-24T10:00:00Z') });
    const d = device({ read_latency: 0, load_watts: 230, initial: 'on' });
    const m0 = d.meter!([1], sig());
    await vi.advanceTimersByTimeAsync(0);
    expect((await m0).get(1)).toMatchObject({ watts: 230, amps: 1, volts: 230 });
    await vi.advanceTimersByTimeAsync(3_600_000);
    const m1 = d.meter!([1], sig());
    await vi.advanceTimersByTimeAsync(0);
    expect((await m1).get(1)!.energyWh).toBeCloseTo(230, 1);
  });

  it('reports assumed read-back and no meter when configured so', () => {
    const d = device({ read_back: 'assumed', metering: false, native_cycle: false, max_concurrency: 1 });
    expect(d.caps).toEqual({ cycle: false, metering: false, bulkRead: true, readBack: 'assumed', maxConcurrency: 1 });
    expect(d.meter).toBeUndefined();
  });
});
