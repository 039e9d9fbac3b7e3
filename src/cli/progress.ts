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
