/**
 * The logger plugin in process (testContext, fake time): samples written at log_resolution,
 * changes and actions recorded from events, queries by time range with buckets, validation of
 * every parameter, retention, a restart that keeps the data, and the file read back by an
 * independent SQLite (Python's sqlite3).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as logger from '../../plugins/logger/plugin.js';
import { LoggerStore } from '../../plugins/logger/store.js';
import type { DeviceStatus } from '../../src/core/model.js';
import { testContext } from '../../src/plugin-host/testing.js';
import { describePeer } from '../support/peers.js';

const T0 = Date.parse('2026-11-25T10:00:00Z');
let dir: string;
let watts = 100;
let reachable = true;

function device(id: string, outlets: number, metered: boolean): DeviceStatus {
  return {
    id,
    type: 'sim',
    description: '',
    reachable,
    error: null,
    readBack: 'real',
    outletCount: outlets,
    outlets: Array.from({ length: outlets }, (_, i) => ({
      outlet: i + 1,
      power: i === 0 ? 'off' : 'on',
      name: null,
      boundTo: null,
      reading: metered ? (i === 0 ? { watts: 0, amps: 0, volts: 230, energyWh: 10 } : { watts: watts * (i + 1), amps: (watts * (i + 1)) / 230, volts: 230, energyWh: 10 + i }) : null,
    })),
    model: null,
    firmware: null,
    details: {},
    lastPollAt: null,
    lastPollMs: 3,
  };
}

function start(config: Record<string, unknown> = {}) {
  const t = testContext({
    name: 'logger',
    dataDir: dir,
    config: { database: 'logger.sqlite', log_resolution: 60_000, retention: 7 * 86_400_000, ...config },
    call: async (m) => (m === 'devices' ? [device('pdu-a', 3, true), device('relay-1', 2, false)] : Promise.reject(new Error(m))),
  });
  logger.start(t.ctx);
  return t;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ockle-logger-'));
  watts = 100;
  reachable = true;
  vi.useFakeTimers({ now: T0 });
});
afterEach(async () => {
  logger.stop();
  vi.useRealTimers();
  await rm(dir, { recursive: true, force: true });
});

describe('logger plugin', () => {
  it('samples every outlet at log_resolution and answers series queries per outlet and per device', async () => {
    const t = start();
    await vi.advanceTimersByTimeAsync(0); // the first sample, at start
    watts = 200;
    await vi.advanceTimersByTimeAsync(60_000);
    watts = 300;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await t.invoke('stats')).toMatchObject({ samples: 15, oldest: T0, newest: T0 + 120_000, resolutionMs: 60_000 });

    const perOutlet = (await t.invoke('query', { last: '1h', device: 'pdu-a', outlet: 2, step: '1m' })) as { series: { device: string; outlet: number; points: { t: number; watts: number; on: number }[] }[] };
    expect(perOutlet.series).toHaveLength(1);
    expect(perOutlet.series[0]!.points.map((p) => [p.t - T0, p.watts, p.on])).toEqual([
      [0, 200, 1],
      [60_000, 400, 1],
      [120_000, 600, 1],
    ]);
    // Two-minute buckets average the samples in them.
    const coarse = (await t.invoke('query', { from: T0, to: T0 + 240_000, device: 'pdu-a', outlet: 2, step: '2m' })) as typeof perOutlet;
    expect(coarse.series[0]!.points.map((p) => p.watts)).toEqual([300, 600]);
    // Per device: outlets summed (1: 0 W, 2: 2w, 3: 3w).
    const perDevice = (await t.invoke('query', { last: '1h', per: 'device', step: '1m' })) as { series: { device: string; outlet: null; points: { watts: number | null; on: number }[] }[] };
    expect(perDevice.series.map((s) => [s.device, s.outlet, s.points.map((p) => p.watts)])).toEqual([
      ['pdu-a', null, [500, 1000, 1500]],
      ['relay-1', null, [null, null, null]],
    ]);
    expect(perDevice.series[1]!.points[0]!.on).toBe(0.5);
    // Without a step: about 300 buckets, never finer than the sampling.
    expect(((await t.invoke('query', { last: '7d' })) as { step: number }).step).toBe(Math.ceil((7 * 86_400_000) / 300 / 1000) * 1000);
    expect(((await t.invoke('query', { last: '1h' })) as { step: number }).step).toBe(60_000);
  });

  it('records changes and finished actions from events, newest first', async () => {
    const t = start();
    await vi.advanceTimersByTimeAsync(0);
    t.emit('outlet.changed', { device: 'pdu-a', outlet: 2, power: 'off', previous: 'on' });
    await vi.advanceTimersByTimeAsync(1000);
    t.emit('server.changed', { server: 'web-1', state: 'OFF', previous: 'OK', reason: 'all outlets off' });
    t.emit('device.unreachable', { device: 'pdu-b', message: 'timeout' });
    t.emit('action.finished', {
      action: { id: 'a1', kind: 'off', targets: ['web-1'], force: false, origin: 'api:alice', reason: 'maintenance', requestedAt: new Date(T0 - 3500).toISOString(), finishedAt: new Date(T0 + 1000).toISOString(), status: 'ok', steps: [] },
    });
    const changes = (await t.invoke('query', { what: 'changes', last: '1h' })) as { changes: { kind: string; subject: string; value: string; previous: string | null; detail: string | null }[] };
    expect(changes.changes.map((c) => [c.kind, c.subject, c.value, c.previous])).toEqual([
      ['device', 'pdu-b', 'unreachable', null],
      ['server', 'web-1', 'OFF', 'OK'],
      ['outlet', 'pdu-a/2', 'off', 'on'],
    ]);
    expect(((await t.invoke('query', { what: 'changes', last: '1h', subject: 'web-1' })) as typeof changes).changes).toHaveLength(1);
    const actions = (await t.invoke('query', { what: 'actions', last: '1h' })) as { actions: unknown[] };
    expect(actions.actions).toEqual([{ id: 'a1', kind: 'off', origin: 'api:alice', reason: 'maintenance', targets: ['web-1'], status: 'ok', startedAt: T0 - 3500, finishedAt: T0 + 1000, ms: 4500, error: null }]);
  });

  it('does not sample an unreachable device (its outlets are unknown, not off)', async () => {
    reachable = false;
    const t = start();
    await vi.advanceTimersByTimeAsync(0);
    expect(await t.invoke('stats')).toMatchObject({ samples: 0 });
  });

  it('names every bad query parameter and changes nothing', async () => {
    const t = start();
    await vi.advanceTimersByTimeAsync(0);
    const bad: [unknown, RegExp][] = [
      [{ lst: '1h' }, /unknown parameter "lst"; known: what, last/],
      [{ what: 'everything' }, /what must be series, changes or actions/],
      [{ last: 'yesterday' }, /last must be a duration such as "1h"/],
      [{ from: 'not a time' }, /from must be an ISO time/],
      [{ from: T0, to: T0 - 1 }, /from must be before to/],
      [{ last: '1h', from: T0 }, /give last or from, not both/],
      [{ last: '7d', step: '1s' }, /604800 buckets asked; at most 5000/],
      [{ outlet: 0 }, /outlet must be an outlet number/],
      [{ what: 'actions', limit: 10_000 }, /limit must be an integer 1–5000/],
      [{ per: 'rack' }, /per must be outlet or device/],
      [[1, 2], /params must be a JSON object/],
    ];
    for (const [params, message] of bad) await expect(t.invoke('query', params), JSON.stringify(params)).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID', message: expect.stringMatching(message) });
    expect(await t.invoke('stats')).toMatchObject({ samples: 5 });
  });

  it('prunes records older than retention at start and every hour', async () => {
    const store = new LoggerStore(join(dir, 'logger.sqlite'));
    store.addSamples(T0 - 3 * 86_400_000, [{ device: 'pdu-a', outlet: 1, power: 'on', watts: 1 }]);
    store.addChange(T0 - 3 * 86_400_000, 'server', 'web-1', 'OK', 'OFF', null);
    store.addSamples(T0 - 3_600_000, [{ device: 'pdu-a', outlet: 1, power: 'on', watts: 1 }]);
    store.close();
    const t = start({ retention: 2 * 86_400_000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(await t.invoke('stats')).toMatchObject({ samples: 1 + 5, changes: 0, oldest: T0 - 3_600_000 });
    expect(t.logs.find((l) => l.msg === 'pruned old records')).toMatchObject({ data: { rows: 2 } });
    await vi.advanceTimersByTimeAsync(3_600_000); // an hour later the hour-old sample is 2 h old: kept
    expect(await t.invoke('stats')).toMatchObject({ oldest: T0 - 3_600_000 });
  });

  it('keeps its data across a restart', async () => {
    let t = start();
    await vi.advanceTimersByTimeAsync(60_000);
    logger.stop();
    await vi.advanceTimersByTimeAsync(600_000);
    t = start();
    await vi.advanceTimersByTimeAsync(0);
    expect(await t.invoke('stats')).toMatchObject({ samples: 15, oldest: T0, newest: T0 + 660_000 });
  });
});

describePeer('logger database read by an independent SQLite', ['python3'], () => {
  it('is a plain SQLite file any tool can read', async () => {
    start();
    await vi.advanceTimersByTimeAsync(60_000);
    logger.stop();
    const out = execFileSync('python3', ['-c', 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("select count(*), sum(watts) from samples where device=\'pdu-a\'").fetchone()); print(c.execute("pragma integrity_check").fetchone()[0])', join(dir, 'logger.sqlite')], { encoding: 'utf8' });
    expect(out.trim().split('\n')).toEqual(['(6, 1000.0)', 'ok']);
  });
});
