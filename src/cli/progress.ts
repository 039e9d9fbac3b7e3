/** The live progress line of a sequenced action in a terminal. Pure: tested without a TTY. */
import type { ActionRecord } from '../core/model.js';

export interface Progress {
  readonly total: number;
  readonly done: number;
  readonly active: readonly string[];
  readonly line: string;
}

/** The servers the sequence works on, from its `plan` step (`on: a, b, c`). */
export function plannedServers(a: ActionRecord): string[] {
  const plan = a.steps.find((s) => s.op === 'plan');
  const list = plan?.detail.split(': ')[1];
  return plan && list && !plan.detail.startsWith('every server') ? list.split(', ') : [];
}

export function progress(a: ActionRecord, elapsedMs: number, width = 20): Progress {
  const servers = plannedServers(a);
  const finished = new Set<string>();
  const touched = new Set<string>();
  for (const s of a.steps) {
    if (!s.server) continue;
    touched.add(s.server);
    if (s.op === 'up' || s.op === 'blocked' || (s.op === 'failed' && /attempt (\d+) of \1|power left on/.test(s.detail))) finished.add(s.server);
  }
  if (a.kind === 'off')
    for (const n of touched) {
      const steps = a.steps.filter((s) => s.server === n);
      if (steps.some((s) => s.op === 'confirm') && !steps.some((s, i) => s.op === 'switch' && i === steps.length - 1)) finished.add(n);
    }
  const done = servers.filter((n) => finished.has(n)).length;
  const active = servers.filter((n) => touched.has(n) && !finished.has(n));
  const filled = servers.length === 0 ? width : Math.round((done / servers.length) * width);
  const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
  const line = `${bar} ${done}/${servers.length} ${a.kind === 'off' ? 'off' : 'up'}${active.length ? ` · ${a.kind === 'off' ? 'stopping' : 'starting'}: ${active.slice(0, 4).join(', ')}${active.length > 4 ? ` +${active.length - 4}` : ''}` : ''} · ${(elapsedMs / 1000).toFixed(1)} s`;
  return { total: servers.length, done, active, line };
}

/**
 * What an action did, counted by server: "on: 7 switched, 3 already on, 1 blocked". A server
 * counts as switched when a write reached one of its outlets, as "already" when nothing had to
 * be written (its outlets read the wanted state, or it already served), and as blocked or
 * failed when the journal says so; servers only touched by a read are not counted.
 */
export function summary(a: ActionRecord): string {
  const switched = new Set<string>();
  const already = new Set<string>();
  const blocked = new Set<string>();
  const failed = new Set<string>();
  for (const s of a.steps) {
    if (!s.server) continue;
    if (s.op === 'switch' && s.ok) switched.add(s.server);
    else if (s.op === 'already' || (s.op === 'up' && /already serves/.test(s.detail))) already.add(s.server);
    else if (s.op === 'blocked') blocked.add(s.server);
    else if ((s.op === 'failed' && (/attempt (\d+) of \1|power left on/.test(s.detail) || !/^attempt/.test(s.detail))) || (a.force && s.op === 'error')) failed.add(s.server);
  }
  for (const n of switched) already.delete(n);
  const word = a.kind === 'off' ? 'off' : 'on';
  const parts = [`${switched.size} switched`];
  if (already.size > 0) parts.push(`${already.size} already ${word}`);
  if (blocked.size > 0) parts.push(`${blocked.size} blocked`);
  if (failed.size > 0) parts.push(`${failed.size} failed`);
  return `${a.kind}: ${parts.join(', ')}`;
}
