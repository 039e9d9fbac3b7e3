/**
 * The logger's UPS history. In process (testContext, fake time): each UPS sampled at
 * log_resolution from `ctx.call('ups')`, a power or stage change sampled at once and kept as a
 * change, a silent source sampled as unknown with no values, `logger.ups` buckets and its
 * arguments, retention. Then for real: a daemon with a simulated UPS and the logger in its worker
 * thread, a drill through the daemon, the history read back with `logger.ups` (the contract's
 * `ups` method served by the daemon, not by the test).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as logger from '../../plugins/logger/plugin.js';
import { LoggerStore } from '../../plugins/logger/store.js';
import type { UpsStatus } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { testContext } from '../../src/plugin-host/testing.js';
import { makeLab, type Lab } from '../support/lab.js';
import { describePeer } from '../support/peers.js';

const T0 = Date.parse('2026-11-25T10:00:00Z');

function ups(name: string, o: Partial<UpsStatus> = {}): UpsStatus {
  return {
    name,
    type: 'sim',
    description: '',
    power: 'mains',
    lowBattery: false,
    forcedShutdown: false,
    chargePct: 100,
    runtimeS: 1200,
    loadPct: 40,
    inputVolts: 230,
    flags: ['OL'],
    alarms: [],
    error: null,
    lastReadAt: new Date(T0).toISOString(),
    powerSince: null,
    stage: 'normal',
    detail: 'on mains',
    event: null,
    actionId: null,
    servers: [],
    ...o,
  };
}

describe('logger: UPS readings in process', () => {
  let dir: string;
  /** What the daemon answers to ctx.call('ups'); the test changes it between samples. */
  let upses: UpsStatus[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ockle-logger-ups-'));
    upses = [ups('rack-ups'), ups('small-ups', { chargePct: 90, loadPct: 10 })];
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(async () => {
    logger.stop();
    vi.useRealTimers();
    await rm(dir, { recursive: true, force: true });
  });

  function start(config: Record<string, unknown> = {}) {
    const t = testContext({
      name: 'logger',
      role: 'viewer',
      dataDir: dir,
      config: { database: 'logger.sqlite', log_resolution: 60_000, retention: 7 * 86_400_000, ...config },
      call: async (m) => (m === 'devices' ? [] : m === 'ups' ? upses : Promise.reject(new Error(m))),
    });
    logger.start(t.ctx);
    return t;
  }
  type Answer = { step: number; ups: { ups: string; points: { t: number; chargePct: number | null; runtimeS: number | null; loadPct: number | null; inputVolts: number | null; onBattery: number | null; silent: number }[] }[] };

  it('samples every UPS at log_resolution; logger.ups answers its readings per bucket', async () => {
    const t = start();
    await vi.advanceTimersByTimeAsync(0); // the first sample, at start
    upses = [ups('rack-ups', { chargePct: 80, loadPct: 50 }), upses[1]!];
    await vi.advanceTimersByTimeAsync(60_000);
    upses = [ups('rack-ups', { chargePct: 60, runtimeS: 600, loadPct: 60, power: 'battery', inputVolts: 0 }), upses[1]!];
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await t.invoke('stats')).toMatchObject({ upsSamples: 6 });
    const one = (await t.invoke('ups', { last: '1h', ups: 'rack-ups', step: '1m' })) as Answer;
    expect(one.ups.map((u) => u.ups)).toEqual(['rack-ups']);
    expect(one.ups[0]!.points.map((p) => [p.t - T0, p.chargePct, p.runtimeS, p.loadPct, p.inputVolts, p.onBattery, p.silent])).toEqual([
      [0, 100, 1200, 40, 230, 0, 0],
      [60_000, 80, 1200, 50, 230, 0, 0],
      [120_000, 60, 600, 60, 0, 1, 0],
    ]);
    // Two-minute buckets average what is in them; every UPS without `ups`.
    const coarse = (await t.invoke('ups', { from: String(T0), to: new Date(T0 + 240_000).toISOString(), step: '2m' })) as Answer;
    expect(coarse.ups.map((u) => [u.ups, u.points.map((p) => [p.chargePct, p.onBattery])])).toEqual([
      ['rack-ups', [[90, 0], [60, 1]]],
      ['small-ups', [[90, 0], [90, 0]]],
    ]);
    expect(((await t.invoke('ups', { last: '7d' })) as Answer).step).toBe(Math.ceil((7 * 86_400_000) / 300 / 1000) * 1000);
  });

  it('samples a power or stage change at once and keeps it as a change; a drifting reading waits for the next sample', async () => {
    const t = start();
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(10_000);
    t.emit('ups.changed', { ups: ups('rack-ups', { chargePct: 99 }) }); // same power and stage
    expect(await t.invoke('stats')).toMatchObject({ upsSamples: 2 });
    t.emit('ups.changed', { ups: ups('rack-ups', { power: 'battery', stage: 'on-battery', chargePct: 98, detail: 'on battery for 0 s' }) });
    expect(await t.invoke('stats')).toMatchObject({ upsSamples: 3 });
    await vi.advanceTimersByTimeAsync(5_000);
    t.emit('ups.changed', { ups: ups('rack-ups', { power: 'battery', stage: 'shedding', chargePct: 97 }) }); // the stage moved
    t.emit('ups.stage', { ups: 'rack-ups', event: 'e1', stage: 'tier-1', status: 'started', detail: 'on battery for 30 s, 97 % charge', actionId: 'a1' });
    expect(await t.invoke('stats')).toMatchObject({ upsSamples: 4 });
    const s = (await t.invoke('ups', { last: '1h', ups: 'rack-ups', step: '5s' })) as Answer;
    expect(s.ups[0]!.points.map((p) => [p.t - T0, p.chargePct, p.onBattery])).toEqual([
      [0, 100, 0],
      [10_000, 98, 1],
      [15_000, 97, 1],
    ]);
    const changes = (await t.invoke('query', { what: 'changes', last: '1h', subject: 'rack-ups' })) as { changes: { kind: string; value: string; previous: string | null; detail: string | null }[] };
    expect(changes.changes.map((c) => [c.kind, c.value, c.previous, c.detail])).toEqual([
      ['ups-stage', 'tier-1 started', null, 'on battery for 30 s, 97 % charge'],
      ['ups', 'battery', 'mains', 'on battery for 0 s'],
    ]);
  });

  it('samples a silent source as unknown with no values, never its last charge', async () => {
    upses = [ups('rack-ups', { power: 'unknown', stage: 'unknown', chargePct: 71, loadPct: 30, error: 'timeout', alarms: ['source silent: timeout'] })];
    const t = start();
    await vi.advanceTimersByTimeAsync(0);
    upses = [ups('rack-ups', { chargePct: 70 })];
    await vi.advanceTimersByTimeAsync(60_000);
    const s = (await t.invoke('ups', { last: '1h', step: '1m' })) as Answer;
    expect(s.ups[0]!.points.map((p) => [p.chargePct, p.loadPct, p.onBattery, p.silent])).toEqual([
      [null, null, null, 1],
      [70, 40, 0, 0],
    ]);
  });

  it('refuses a bad logger.ups argument, naming it, and records nothing for it', async () => {
    const t = start();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.commands.get('ups')).toMatchObject({ role: 'viewer', params: { ups: { type: 'string' }, last: { type: 'string' }, step: { type: 'string' } } });
    const bad: [unknown, RegExp][] = [
      [{ lst: '1h' }, /has no argument "lst"/],
      [{ last: 60 }, /argument "last" must be a string/],
      [{ last: 'yesterday' }, /last must be a duration such as "1h"/],
      [{ from: 'not a time' }, /from must be an ISO time/],
      [{ last: '1h', from: String(T0 - 1000) }, /give last or from, not both/],
      [{ from: String(T0), to: String(T0 - 1) }, /from must be before to/],
      [{ last: '7d', step: '1s' }, /604800 buckets asked; at most 5000/],
      [{ ups: '' }, /ups must be a UPS name/],
    ];
    for (const [params, message] of bad) await expect(t.invoke('ups', params), JSON.stringify(params)).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID', message: expect.stringMatching(message) });
    // Called directly (as a plugin without the host's check would be), the handler says the same.
    const other = new LoggerStore(join(dir, 'other.sqlite'));
    expect(() => logger.upsQuery(other, [1], 60_000)).toThrow(/params must be a JSON object/);
    other.close();
    expect(await t.invoke('stats')).toMatchObject({ upsSamples: 2 });
  });

  describePeer('read by an independent SQLite', ['python3'], () => {
    it('keeps the UPS table a plain one any SQLite tool reads', async () => {
      start();
      await vi.advanceTimersByTimeAsync(60_000);
      logger.stop();
      const out = execFileSync(
        'python3',
        ['-c', 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("select count(*), avg(charge_pct), min(power) from ups_samples where ups=\'small-ups\'").fetchone()); print(c.execute("pragma integrity_check").fetchone()[0])', join(dir, 'logger.sqlite')],
        { encoding: 'utf8' },
      );
      expect(out.trim().split('\n')).toEqual(["(2, 90.0, 'mains')", 'ok']);
    });
  });

  it('prunes UPS samples older than retention', async () => {
    const store = new LoggerStore(join(dir, 'logger.sqlite'));
    store.addUpsSamples(T0 - 3 * 86_400_000, [{ ups: 'rack-ups', power: 'battery', stage: 'shedding', chargePct: 50, runtimeS: 300, loadPct: 30, inputVolts: 0 }]);
    store.addUpsSamples(T0 - 3_600_000, [{ ups: 'rack-ups', power: 'mains', stage: 'normal', chargePct: 100, runtimeS: 1200, loadPct: 30, inputVolts: 230 }]);
    store.close();
    const t = start({ retention: 2 * 86_400_000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(await t.invoke('stats')).toMatchObject({ upsSamples: 1 + 2 });
    expect(t.logs.find((l) => l.msg === 'pruned old records')).toMatchObject({ data: { rows: 1 } });
  });
});

describe('logger: UPS readings under a real daemon', () => {
  let lab: Lab | undefined;
  let daemon: Daemon | undefined;
  afterEach(async () => {
    await daemon?.stop();
    await lab?.cleanup();
    daemon = lab = undefined;
  });

  it('records what the daemon’s simulated UPS reports, a drill included, from the worker thread', async () => {
    lab = await makeLab({ switch: { noControls: true } });
    const ini = join(lab.configDir, 'ockle.ini');
    await writeFile(ini, (await readFile(ini, 'utf8')).replace('enabled = auto-control', 'enabled = auto-control, logger') + '\n[plugins.logger]\nlog_resolution = 1s\n');
    await mkdir(join(lab.configDir, 'ups'));
    // on_battery_delay 1h: the drill changes the readings, no stage runs.
    await writeFile(join(lab.configDir, 'ups', 'ups-1.ini'), '[ups]\ntype = sim\npoll_interval = 50ms\nbattery_runtime = 1h\nread_latency = 0ms\n\n[policy]\non_battery_delay = 1h\n');
    daemon = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: true });
    const d = daemon;
    const token = (await readFile(join(lab.stateDir, 'api-token'), 'utf8')).trim();
    // Through the API, as `ockle cmd` and the dashboard run it.
    const run = async (name: string, params: unknown): Promise<unknown> => {
      const res = await fetch(`${d.url}/api/commands/${name}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(params) });
      if (!res.ok) throw new Error(`${name}: HTTP ${res.status}`);
      return ((await res.json()) as { result: unknown }).result;
    };
    /** Asks until the answer is as wanted; gives up after 15 s with the last answer or error. */
    const until = async <T>(what: () => Promise<T>, ok: (v: T) => boolean): Promise<T> => {
      let last: unknown;
      for (let i = 0; i < 150; i++) {
        const v = await what().catch((err: unknown) => void (last = err));
        if (v !== undefined && ok(v)) return v;
        if (v !== undefined) last = v;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`not as wanted: ${JSON.stringify(last instanceof Error ? last.message : last)}`);
    };
    type Answer = { ups: { ups: string; points: { chargePct: number | null; onBattery: number | null }[] }[] };
    const history = () => run('logger.ups', { last: '1h', step: '1s' }) as Promise<Answer>;
    // 1. Sampled on mains from the plugin's start (the method `ups`, served by the daemon).
    const before = await until(history, (a) => a.ups[0]?.points.some((p) => p.onBattery === 0) === true);
    expect(before.ups.map((u) => u.ups)).toEqual(['ups-1']);
    // 2. The drill: on battery at 55 %, seen at once through ups.changed.
    await d.ups.simulate('ups-1', { power: 'battery', chargePct: 55 });
    const after = await until(history, (a) => a.ups[0]!.points.some((p) => p.onBattery === 1));
    expect(after.ups[0]!.points.find((p) => p.onBattery === 1)!.chargePct).toBeCloseTo(55, 0);
    const changes = (await run('logger.query', { what: 'changes', last: '1h', subject: 'ups-1' })) as { changes: { kind: string; value: string }[] };
    expect(changes.changes.find((c) => c.kind === 'ups')).toMatchObject({ value: 'battery' });
  }, 30_000);
});
