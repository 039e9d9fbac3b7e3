/**
 * logger, the worker side. Every `log_resolution` it reads the devices (one `ctx.call`) and
 * writes each outlet's state and metering in one transaction; outlet, server and device changes
 * and finished actions are written as their events arrive. Records older than `retention` are
 * pruned hourly. `logger.query` answers time-range questions (the dashboard's charts);
 * `logger.stats` tells what is stored.
 */
import { isAbsolute, join } from 'node:path';
import { parseDuration } from '../../src/config/types.js';
import type { PluginContext } from '../../src/plugin-host/types.js';
import { LoggerStore, type Sample } from './store.js';

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
  ctx.on('action.finished', ({ action: a }) => {
    const finishedAt = a.finishedAt ? Date.parse(a.finishedAt) : Date.now();
    db.addAction({ id: a.id, kind: a.kind, origin: a.origin, reason: a.reason, targets: a.targets, status: a.status, startedAt: Date.parse(a.requestedAt), finishedAt, error: a.error ? `${a.error.code}: ${a.error.message}` : null });
  });

  ctx.command('query', { description: 'Recorded data for a time range: {"what":"series|changes|actions","last":"1h"} or from/to; series: per, device, outlet, step.', role: 'viewer' }, (params) =>
    query(db, params, resolution),
  );
  ctx.command('stats', { description: 'What the logger holds: row counts, oldest and newest sample, settings.', role: 'viewer' }, () => ({
    ...db.stats(),
    resolutionMs: resolution,
    retentionMs: retention,
  }));

  prune();
  guarded('sample the outlets', sample)();
  timers.push(setInterval(guarded('sample the outlets', sample), resolution));
  timers.push(setInterval(prune, HOUR));
  ctx.log.info('recording', { file, resolution, retention });
}

export function stop(): void {
  for (const t of timers.splice(0)) clearInterval(t);
  store?.close();
  store = null;
}

const QUERY_KEYS = new Set(['what', 'last', 'from', 'to', 'per', 'device', 'outlet', 'step', 'limit', 'subject']);

/** Validates a query's params (every mistake is named) and runs it. */
export function query(db: LoggerStore, params: unknown, resolution: number, now = Date.now()): unknown {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new QueryError('params must be a JSON object');
  const p = params as Record<string, unknown>;
  for (const k of Object.keys(p)) if (!QUERY_KEYS.has(k)) throw new QueryError(`unknown parameter "${k}"; known: ${[...QUERY_KEYS].join(', ')}`);
  const what = p.what ?? 'series';
  if (what !== 'series' && what !== 'changes' && what !== 'actions') throw new QueryError(`what must be series, changes or actions, not ${JSON.stringify(what)}`);
  const time = (k: 'from' | 'to'): number | undefined => {
    const v = p[k];
    if (v === undefined) return undefined;
    const t = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
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
  const limit = p.limit === undefined ? 500 : Number(p.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 5000) throw new QueryError('limit must be an integer 1–5000');
  if (p.device !== undefined && typeof p.device !== 'string') throw new QueryError('device must be a device name');
  if (p.subject !== undefined && typeof p.subject !== 'string') throw new QueryError('subject must be a string such as "pdu-a/3" or "web-1"');
  if (p.outlet !== undefined && (!Number.isInteger(p.outlet) || (p.outlet as number) < 1)) throw new QueryError('outlet must be an outlet number (1, 2, …)');
  const range = { from, to, fromIso: new Date(from).toISOString(), toIso: new Date(to).toISOString() };
  if (what === 'changes') return { ...range, changes: db.changes({ from, to, limit, subject: p.subject as string | undefined }) };
  if (what === 'actions') return { ...range, actions: db.actions({ from, to, limit }) };
  const per = p.per ?? 'outlet';
  if (per !== 'outlet' && per !== 'device') throw new QueryError(`per must be outlet or device, not ${JSON.stringify(per)}`);
  // Default step: about DEFAULT_POINTS buckets, never finer than the sampling itself.
  const step = span('step') ?? Math.max(resolution, Math.ceil((to - from) / DEFAULT_POINTS / 1000) * 1000);
  if ((to - from) / step > MAX_POINTS) throw new QueryError(`${Math.ceil((to - from) / step)} buckets asked; at most ${MAX_POINTS}: use a larger step or a shorter range`);
  return { ...range, step, per, series: db.series({ from, to, step, per, device: p.device as string | undefined, outlet: p.outlet as number | undefined }) };
}
