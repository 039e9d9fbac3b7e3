/**
 * `ockle watch`: the daemon's events as they happen, one line each: the local time, what it is
 * about, and the gist (`12:03:04 server web-1 OK → OFF (tests fail)`, `outlet pdu-a/3 on → off`,
 * `action 12 started: on storage-1 (api:ada, "why")`). `--json` prints the events as JSON lines
 * instead. device.metered (a metering poll, every few seconds per device) is left out by the
 * daemon unless asked for: `--metered`, or its name in `--types`.
 */
import type { ActionRecord, ActionStep, OckleEvents } from '../core/model.js';
import { EVENT_NAMES } from '../plugin-host/contract.js';

/** What to ask the event stream for: `--types` as given, plus device.metered with `--metered`. */
export function watchTypes(types: string | undefined, metered: boolean): string | undefined {
  if (!metered) return types;
  const named = types?.split(',').map((t) => t.trim()).filter(Boolean) ?? [];
  // Without --types the stream's default is every event but device.metered: name them all.
  if (named.length === 0) return EVENT_NAMES.join(',');
  return named.includes('device.metered') ? named.join(',') : [...named, 'device.metered'].join(',');
}

export interface Paint {
  /** ANSI SGR code and text (the text as is when colour is off). */
  (code: string | undefined, s: string): string;
}

const two = (n: number): string => String(n).padStart(2, '0');
const clock = (d: Date): string => `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
const seconds = (ms: number): string => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

/** `on storage-1`, `forced off web-1, web-2`, `off pdu-a/3` (an outlet action). */
function what(a: ActionRecord): string {
  const outlets = (a as { outlets?: readonly { device: string; outlet: number }[] }).outlets;
  const on = outlets?.length ? outlets.map((o) => `${o.device}/${o.outlet}`).join(', ') : a.targets.join(', ') || 'nothing';
  return `${a.force && !outlets?.length ? 'forced ' : ''}${a.kind} ${on}`;
}

function step(s: ActionStep): string {
  const where = s.server ?? (s.device ? `${s.device}${s.outlet !== undefined ? `/${s.outlet}` : ''}` : '');
  return `${s.op}${where ? ` ${where}` : ''}${s.detail ? `: ${s.detail}` : ''}${s.ms !== undefined ? ` (${seconds(s.ms)})` : ''}`;
}

type Line = { [E in keyof OckleEvents]: (d: OckleEvents[E], paint: Paint, state: (s: string) => string) => string };
const LINES: Line = {
  'server.changed': (d, _p, state) => `server ${d.server} ${state(d.previous)} → ${state(d.state)}${d.reason ? ` (${d.reason})` : ''}`,
  'outlet.changed': (d) => `outlet ${d.device}/${d.outlet} ${d.previous} → ${d.power}`,
  'test.changed': (d, p) => `test ${d.server}/${d.test} ${d.previous} → ${p(d.result === 'PASSED' ? '32' : d.result === 'FAILED' ? '31' : undefined, d.result)}${d.detail ? ` (${d.detail})` : ''}`,
  'device.unreachable': (d, p) => `device ${d.device} ${p('31', 'unreachable')}: ${d.message}`,
  'device.reachable': (d, p) => `device ${d.device} ${p('32', 'reachable')} again`,
  'device.metered': (d) => {
    const r = Object.values(d.readings);
    const watts = r.filter((x) => x.watts !== undefined);
    return `metered ${d.device}: ${r.length} outlet${r.length === 1 ? '' : 's'}${watts.length ? `, ${Math.round(watts.reduce((sum, x) => sum + x.watts!, 0))} W` : ''}`;
  },
  'action.started': (d) => `action ${d.action.id} started: ${what(d.action)} (${d.action.origin}${d.action.reason ? `, ${JSON.stringify(d.action.reason)}` : ''})`,
  'action.progressed': (d, p) => `action ${d.actionId} ${d.step.ok ? '' : `${p('31', 'failed')} `}${step(d.step)}`,
  'action.progress': (d) => `action ${d.actionId} ${d.server} ${d.event}: wave ${d.wave}/${d.waves}, ${d.done}/${d.total} servers done (${Math.round(d.percent)}%)`,
  'action.finished': (d, p) => {
    const a = d.action;
    const took = a.finishedAt ? ` in ${seconds(Date.parse(a.finishedAt) - Date.parse(a.requestedAt))}` : '';
    return `action ${a.id} ${p(a.status === 'ok' ? '32' : a.status === 'cancelled' ? '33' : '31', a.status)}: ${what(a)}${took}${a.error ? ` (${a.error.code}: ${a.error.message})` : ''}`;
  },
  'config.reloaded': (d, p) => (d.ok ? `config reloaded${d.message ? `: ${d.message}` : ''}` : `config ${p('31', 'reload failed')}: ${d.message}`),
  'plugin.changed': (d, p) => `plugin ${d.plugin} ${p(d.state === 'running' ? '32' : d.state === 'failed' || d.state === 'backoff' ? '31' : undefined, d.state)}${d.detail ? ` (${d.detail})` : ''}`,
  'remote.changed': (d, _p, state) => `remote ${d.server.ref} ${d.previous === null ? '' : `${state(d.previous)} → `}${state(d.server.state)}${d.server.reason ? ` (${d.server.reason})` : ''}`,
  'remote.request': (d) => `remote request ${d.requestId}: ${d.action} ${d.gateway}:${d.server} for ${d.for} (action ${d.actionId})`,
  'ups.changed': (d, p) => {
    const u = d.ups;
    const facts = [u.chargePct !== null && `${u.chargePct} %`, u.runtimeS !== null && `${Math.round(u.runtimeS / 60)} min`, u.loadPct !== null && `load ${u.loadPct} %`].filter(Boolean).join(', ');
    const power = p(u.power === 'mains' ? '32' : u.power === 'unknown' ? '33' : '31', u.power === 'battery' ? 'on battery' : u.power);
    return `ups ${u.name} ${power}${u.lowBattery ? ` ${p('31', 'LOW BATTERY')}` : ''}${facts ? ` (${facts})` : ''}${u.error ? `: ${u.error}` : ''}`;
  },
  'ups.stage': (d, p) => `ups ${d.ups} ${d.stage} ${p(d.status === 'ok' ? '32' : d.status === 'failed' ? '31' : d.status === 'cancelled' ? '33' : undefined, d.status)}${d.detail ? `: ${d.detail}` : ''}${d.actionId ? ` (action ${d.actionId})` : ''}`,
};

/**
 * One event as a line (without the newline): `HH:MM:SS` local time, then its gist. An event this
 * ockle does not know, or one whose payload is not what it expects, is printed with its JSON.
 */
export function formatEvent(e: { event: string; data: unknown }, now: Date, paint: Paint = (_c, s) => s, state: (s: string) => string = (s) => s): string {
  const line = Object.hasOwn(LINES, e.event) ? (LINES[e.event as keyof Line] as (d: unknown, p: Paint, s: (x: string) => string) => string) : undefined;
  let gist: string | undefined;
  try {
    gist = line?.(e.data, paint, state);
  } catch {
    gist = undefined;
  }
  return `${paint('90', clock(now))} ${gist ?? `${e.event} ${JSON.stringify(e.data)}`}`;
}
