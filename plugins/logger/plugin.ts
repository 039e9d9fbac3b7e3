/**
 * logger, the worker side. Every `log_resolution` it reads the devices and the UPSes (a
 * `ctx.call` each) and writes each outlet's state and metering, and each UPS's power, charge,
 * runtime, load and input voltage; outlet, server, device and UPS changes and finished actions
 * are written as their events arrive (a UPS whose power or stage changes is also sampled at once,
 * so a cut shows when it began, not up to `log_resolution` later). Records older than
 * `retention` are pruned hourly. `logger.query` and `logger.ups` answer time-range questions
 * (the dashboard's charts); `logger.stats` tells what is stored.
 */
import { isAbsolute, join } from 'node:path';
import { parseDuration } from '../../src/config/types.js';
import type { UpsStatus } from '../../src/core/model.js';
import type { CommandParams, PluginContext } from '../../src/plugin-host/types.js';
import { LoggerStore, type Sample, type UpsSample } from './store.js';

let store: LoggerStore | null = null;
const timers: NodeJS.Timeout[] = [];
const HOUR = 3_600_000;
/** Buckets a series query may return per series, at most. */
const MAX_POINTS = 5000;
/** Buckets chosen when the caller gives no step. */
const DEFAULT_POINTS = 300;

class QueryError extends Error {
  readonly code = 'OCKLE_REQUEST_INVALID';
}

export function start(ctx: PluginContext): void {
  const file = String(ctx.config.database);
  const resolution = Number(ctx.config.log_resolution);
  const retention = Number(ctx.config.retention);
  const db = (store = new LoggerStore(isAbsolute(file) ? file : join(ctx.dataDir, file)));

  const sample = async (): Promise<void> => {
    const devices = await ctx.call('devices');
    const samples: Sample[] = [];
    for (const d of devices) {
      if (d.reachable !== true) continue;
      for (const o of d.outlets) samples.push({ device: d.id, outlet: o.outlet, power: o.power, ...(o.reading && { watts: o.reading.watts, amps: o.reading.amps, volts: o.reading.volts, energyWh: o.reading.energyWh }) });
    }
    db.addSamples(Date.now(), samples);
  };
  /** What a UPS status is sampled as: a silent source (power unknown) with no values. */
  const upsSample = (u: UpsStatus): UpsSample => {
    const known = u.power !== 'unknown';
    return { ups: u.name, power: u.power, stage: u.stage, chargePct: known ? u.chargePct : null, runtimeS: known ? u.runtimeS : null, loadPct: known ? u.loadPct : null, inputVolts: known ? u.inputVolts : null };
  };
  /** Each UPS's last power and stage seen, to tell a change from a reading that only drifted. */
  const seen = new Map<string, { power: string; stage: string }>();
  const sampleUps = async (): Promise<void> => {
    const all = await ctx.call('ups');
    for (const u of all) if (!seen.has(u.name)) seen.set(u.name, { power: u.power, stage: u.stage });
    db.addUpsSamples(Date.now(), all.map(upsSample));
  };
  const guarded = (what: string, fn: () => unknown) => (): void => {
    void (async () => {
      try {
        await fn();
      } catch (err) {
        ctx.log.warn(`could not ${what}`, { err: (err as Error).message });
      }
    })();
  };
  const prune = guarded('prune old records', () => {
    const n = db.prune(Date.now() - retention);
    if (n > 0) ctx.log.info('pruned old records', { rows: n, retention });
  });

  ctx.on('outlet.changed', (e) => {
    db.addChange(Date.now(), 'outlet', `${e.device}/${e.outlet}`, e.power, e.previous, null);
  });
  ctx.on('server.changed', (e) => {
    db.addChange(Date.now(), 'server', e.server, e.state, e.previous, e.reason);
  });
  ctx.on('device.unreachable', (e) => {
    db.addChange(Date.now(), 'device', e.device, 'unreachable', null, e.message);
  });
  ctx.on('device.reachable', (e) => db.addChange(Date.now(), 'device', e.device, 'reachable', null, null));
  ctx.on('ups.changed', ({ ups: u }) => {
    const before = seen.get(u.name);
    seen.set(u.name, { power: u.power, stage: u.stage });
    if (before && before.power === u.power && before.stage === u.stage) return;
    const now = Date.now();
    db.addUpsSamples(now, [upsSample(u)]);
    if (before?.power !== u.power) db.addChange(now, 'ups', u.name, u.power, before?.power ?? null, u.error ?? u.detail);
  });
  ctx.on('ups.stage', (e) => db.addChange(Date.now(), 'ups-stage', e.ups, `${e.stage} ${e.status}`, null, e.detail));
  ctx.on('action.finished', ({ action: a }) => {
    const finishedAt = a.finishedAt ? Date.parse(a.finishedAt) : Date.now();
    db.addAction({ id: a.id, kind: a.kind, origin: a.origin, reason: a.reason, targets: a.targets, status: a.status, startedAt: Date.parse(a.requestedAt), finishedAt, error: a.error ? `${a.error.code}: ${a.error.message}` : null });
  });

  ctx.command('query', { description: 'Recorded data for a time range: {"what":"series|changes|actions","last":"1h"} or from/to; series: per, device, outlet, step.', role: 'viewer' }, (params) =>
    query(db, params, resolution),
  );
  ctx.command('ups', { description: 'Each UPS’s readings over a time range, in buckets, for charts: {"last":"1h"} or from/to; ups, step.', role: 'viewer', params: UPS_PARAMS }, (params) =>
    upsQuery(db, params, resolution),
  );
  ctx.command('stats', { description: 'What the logger holds: row counts, oldest and newest sample, settings.', role: 'viewer' }, () => ({
    ...db.stats(),
    resolutionMs: resolution,
    retentionMs: retention,
  }));

  prune();
  guarded('sample the outlets', sample)();
  guarded('sample the UPSes', sampleUps)();
  timers.push(setInterval(guarded('sample the outlets', sample), resolution));
  timers.push(setInterval(guarded('sample the UPSes', sampleUps), resolution));
  timers.push(setInterval(prune, HOUR));
  ctx.log.info('recording', { file, resolution, retention });
}

export function stop(): void {
  for (const t of timers.splice(0)) clearInterval(t);
  store?.close();
  store = null;
}

const QUERY_KEYS = new Set(['what', 'last', 'from', 'to', 'per', 'device', 'outlet', 'step', 'limit', 'subject']);

/** Reads `last` or `from`/`to` (and `step`) of a query, naming every mistake. */
function timeRange(p: Readonly<Record<string, unknown>>, now: number): { from: number; to: number; step: number | undefined; range: { from: number; to: number; fromIso: string; toIso: string } } {
  const time = (k: 'from' | 'to'): number | undefined => {
    const v = p[k];
    if (v === undefined) return undefined;
    // ms since the epoch, as a number or (from a command's string argument) as digits.
    const t = typeof v === 'number' ? v : typeof v === 'string' ? (/^\d+$/.test(v) ? Number(v) : Date.parse(v)) : NaN;
    if (!Number.isFinite(t)) throw new QueryError(`${k} must be an ISO time or ms since the epoch, not ${JSON.stringify(v)}`);
    return t;
  };
  const span = (k: 'last' | 'step'): number | undefined => {
    const v = p[k];
    if (v === undefined) return undefined;
    const ms = typeof v === 'number' ? v : typeof v === 'string' ? parseDuration(v) : undefined;
    if (ms === undefined || !(ms > 0)) throw new QueryError(`${k} must be a duration such as "1h", "30m", "7d", not ${JSON.stringify(v)}`);
    return ms;
  };
  const last = span('last');
  let from = time('from');
  let to = time('to');
  if (last !== undefined && from !== undefined) throw new QueryError('give last or from, not both');
  to ??= now;
  from ??= to - (last ?? HOUR);
  if (from >= to) throw new QueryError('from must be before to');
  return { from, to, step: span('step'), range: { from, to, fromIso: new Date(from).toISOString(), toIso: new Date(to).toISOString() } };
}

/** The bucket size: the one asked, else about DEFAULT_POINTS buckets, never finer than the sampling itself. */
function bucketStep(from: number, to: number, asked: number | undefined, resolution: number): number {
  const step = asked ?? Math.max(resolution, Math.ceil((to - from) / DEFAULT_POINTS / 1000) * 1000);
  if ((to - from) / step > MAX_POINTS) throw new QueryError(`${Math.ceil((to - from) / step)} buckets asked; at most ${MAX_POINTS}: use a larger step or a shorter range`);
  return step;
}

/** Validates a query's params (every mistake is named) and runs it. */
export function query(db: LoggerStore, params: unknown, resolution: number, now = Date.now()): unknown {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new QueryError('params must be a JSON object');
  const p = params as Record<string, unknown>;
  for (const k of Object.keys(p)) if (!QUERY_KEYS.has(k)) throw new QueryError(`unknown parameter "${k}"; known: ${[...QUERY_KEYS].join(', ')}`);
  const what = p.what ?? 'series';
  if (what !== 'series' && what !== 'changes' && what !== 'actions') throw new QueryError(`what must be series, changes or actions, not ${JSON.stringify(what)}`);
  const { from, to, step: askedStep, range } = timeRange(p, now);
  const limit = p.limit === undefined ? 500 : Number(p.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 5000) throw new QueryError('limit must be an integer 1–5000');
  if (p.device !== undefined && typeof p.device !== 'string') throw new QueryError('device must be a device name');
  if (p.subject !== undefined && typeof p.subject !== 'string') throw new QueryError('subject must be a string such as "pdu-a/3" or "web-1"');
  if (p.outlet !== undefined && (!Number.isInteger(p.outlet) || (p.outlet as number) < 1)) throw new QueryError('outlet must be an outlet number (1, 2, …)');
  if (what === 'changes') return { ...range, changes: db.changes({ from, to, limit, subject: p.subject as string | undefined }) };
  if (what === 'actions') return { ...range, actions: db.actions({ from, to, limit }) };
  const per = p.per ?? 'outlet';
  if (per !== 'outlet' && per !== 'device') throw new QueryError(`per must be outlet or device, not ${JSON.stringify(per)}`);
  const step = bucketStep(from, to, askedStep, resolution);
  return { ...range, step, per, series: db.series({ from, to, step, per, device: p.device as string | undefined, outlet: p.outlet as number | undefined }) };
}

/** `logger.ups`'s arguments: the daemon refuses any other, or one of the wrong type, before the handler runs. */
export const UPS_PARAMS: CommandParams = {
  ups: { type: 'string', help: 'One UPS by name (default: every UPS recorded)' },
  last: { type: 'string', help: 'A duration back from now, e.g. 1h, 1d, 7d (default 1h)' },
  from: { type: 'string', help: 'Start: an ISO time or ms since the epoch (instead of last)' },
  to: { type: 'string', help: 'End: an ISO time or ms since the epoch (default now)' },
  step: { type: 'string', help: 'Bucket size, e.g. 1m (default: about 300 buckets, never finer than log_resolution)' },
};

/**
 * Each UPS's readings from `from` to `to`, bucketed: mean charge, runtime, load and input
 * voltage over the samples of an answering source, the fraction on battery, the fraction silent.
 */
export function upsQuery(db: LoggerStore, params: unknown, resolution: number, now = Date.now()): unknown {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new QueryError('params must be a JSON object');
  const p = params as Record<string, unknown>;
  for (const k of Object.keys(p)) if (!Object.hasOwn(UPS_PARAMS, k)) throw new QueryError(`unknown parameter "${k}"; known: ${Object.keys(UPS_PARAMS).join(', ')}`);
  if (p.ups !== undefined && (typeof p.ups !== 'string' || p.ups === '')) throw new QueryError('ups must be a UPS name');
  const { from, to, step: askedStep, range } = timeRange(p, now);
  const step = bucketStep(from, to, askedStep, resolution);
  return { ...range, step, ups: db.upsSeries({ from, to, step, ups: p.ups as string | undefined }) };
}
