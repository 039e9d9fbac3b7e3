/**
 * metrics, the worker side: an HTTP server of its own serving the Prometheus text exposition
 * format (version 0.0.4) at /metrics. Each scrape reads the servers, devices and UPSes (three
 * `ctx` calls) so the numbers are never staler than the daemon's own (a plugin started after the
 * UPS monitors has their state at its first scrape, not only after the next `ups.changed`); action counts and durations are
 * accumulated from `action.finished` events since the plugin started (a restart is a counter
 * reset, which Prometheus handles).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OP_STATES, type ActionRecord, type DeviceStatus, type ServerStatus, type UpsStage, type UpsStatus } from '../../src/core/model.js';
import type { PluginContext } from '../../src/plugin-host/types.js';
import type { ApiAuthCounts } from '../../src/plugin-host/contract.js';

let server: Server | null = null;

/** Upper bounds (seconds) of the action-duration histogram: a forced switch to a slow tree's boot. */
export const DURATION_BUCKETS = [0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800] as const;
const POWERS = ['on', 'off', 'switching', 'unknown'] as const;
/** Every UPS policy stage; `satisfies` makes a stage added to UpsStage and missing here a compile error. */
const UPS_STAGE_SET = { normal: true, unknown: true, 'on-battery': true, shedding: true, 'low-battery': true, 'waiting-for-mains': true, restoring: true } as const satisfies Record<UpsStage, true>;
export const UPS_STAGES = Object.keys(UPS_STAGE_SET) as readonly UpsStage[];

/** Counters fed by events. */
export class ActionStats {
  readonly counts = new Map<string, number>();
  readonly durations = new Map<string, { buckets: number[]; sum: number; count: number }>();
  running = 0;

  started(): void {
    this.running++;
  }
  finished(a: ActionRecord): void {
    this.running = Math.max(0, this.running - 1);
    const key = `${a.kind}\u0000${a.status}\u0000${a.origin.split(':')[0]}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    const s = (Date.parse(a.finishedAt ?? new Date().toISOString()) - Date.parse(a.requestedAt)) / 1000;
    let h = this.durations.get(a.kind);
    if (!h) this.durations.set(a.kind, (h = { buckets: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 }));
    DURATION_BUCKETS.forEach((le, i) => s <= le && h.buckets[i]!++);
    h.sum += s;
    h.count++;
  }
}

/** Label value escaping of the text format: backslash, double quote, newline. */
const esc = (v: string | number): string => String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (l: Record<string, string | number>): string => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};
const num = (x: number): string => (Number.isFinite(x) ? String(x) : x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN');

/** Renders the exposition text. Pure: the tests parse what it returns. */
export function render(servers: readonly ServerStatus[], devices: readonly DeviceStatus[], stats: ActionStats, upses: readonly UpsStatus[] = [], auth?: ApiAuthCounts): string {
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter' | 'histogram', help: string, samples: [string, Record<string, string | number>, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [suffix, l, v] of samples) out.push(`${name}${suffix}${labels(l)} ${num(v)}`);
  };
  family('ockle_server_state', 'gauge', 'Operation state of each server (1 for the current state, 0 for the others).', servers.flatMap((s) => OP_STATES.map((st) => ['', { server: s.name, state: st }, s.state === st ? 1 : 0] as [string, Record<string, string>, number])));
  const bound = new Map<string, string>();
  for (const s of servers) for (const o of s.outlets) bound.set(`${o.device}/${o.outlet}`, s.name);
  const outlets = devices.flatMap((d) => d.outlets.map((o) => ({ d, o, l: { device: d.id, outlet: o.outlet, server: bound.get(`${d.id}/${o.outlet}`) ?? '' } })));
  family('ockle_outlet_state', 'gauge', 'Power state of each device outlet as last read (1 for the current state).', outlets.flatMap(({ o, l }) => POWERS.map((p) => ['', { ...l, state: p }, o.power === p ? 1 : 0] as [string, Record<string, string | number>, number])));
  const metered = (k: 'watts' | 'amps' | 'volts' | 'energyWh') => outlets.filter(({ o }) => typeof o.reading?.[k] === 'number').map(({ o, l }) => ['', l, o.reading![k]!] as [string, Record<string, string | number>, number]);
  family('ockle_outlet_power_watts', 'gauge', 'Active power drawn by the outlet (metering devices).', metered('watts'));
  family('ockle_outlet_current_amperes', 'gauge', 'Current drawn by the outlet (metering devices).', metered('amps'));
  family('ockle_outlet_voltage_volts', 'gauge', 'Voltage at the outlet (metering devices).', metered('volts'));
  family('ockle_outlet_energy_watthours_total', 'counter', 'Energy counter of the outlet (metering devices).', metered('energyWh'));
  family('ockle_device_up', 'gauge', 'Whether the device answered its last poll (1), did not (0); absent before the first contact.', devices.filter((d) => d.reachable !== null).map((d) => ['', { device: d.id, type: d.type }, d.reachable ? 1 : 0]));
  family('ockle_device_poll_duration_seconds', 'gauge', 'How long the last poll of the device took.', devices.filter((d) => d.lastPollMs !== null).map((d) => ['', { device: d.id }, d.lastPollMs! / 1000]));
  family('ockle_device_read_back_assumed', 'gauge', '1 when the device cannot report its outlets and ockle shows the last state it wrote.', devices.map((d) => ['', { device: d.id }, d.readBack === 'assumed' ? 1 : 0]));
  const tests = servers.flatMap((s) => s.tests.filter((t) => t.result !== 'NOT_RUN').map((t) => ({ s, t })));
  family('ockle_test_passed', 'gauge', 'Whether the server test passed on its last run.', tests.map(({ s, t }) => ['', { server: s.name, test: t.name, type: t.type }, t.result === 'PASSED' ? 1 : 0]));
  family('ockle_test_latency_seconds', 'gauge', 'Latency the last run of the test measured.', tests.filter(({ t }) => t.latencyMs !== null).map(({ s, t }) => ['', { server: s.name, test: t.name }, t.latencyMs! / 1000]));
  // A silent UPS source (power unknown) has only `up` 0 and its stage: its last charge is not
  // exported as if it were current, and neither is "on battery", which nobody knows.
  const answering = upses.filter((u) => u.power !== 'unknown');
  const reading = (k: 'chargePct' | 'runtimeS' | 'loadPct' | 'inputVolts') => answering.filter((u) => u[k] !== null).map((u) => ['', { ups: u.name }, u[k]!] as [string, Record<string, string | number>, number]);
  family('ockle_ups_up', 'gauge', 'Whether the UPS source answered its last read (1), or is silent (0): a silence is never taken for a power cut.', upses.map((u) => ['', { ups: u.name, type: u.type }, u.power === 'unknown' ? 0 : 1]));
  family('ockle_ups_on_battery', 'gauge', 'Whether the UPS runs on battery (1) or not (0); absent while its source is silent.', answering.map((u) => ['', { ups: u.name }, u.power === 'battery' ? 1 : 0]));
  family('ockle_ups_low_battery', 'gauge', 'Whether the UPS reports a low battery (1) or not (0); absent while its source is silent.', answering.map((u) => ['', { ups: u.name }, u.lowBattery ? 1 : 0]));
  family('ockle_ups_charge_percent', 'gauge', 'Battery charge the UPS reports (percent).', reading('chargePct'));
  family('ockle_ups_runtime_seconds', 'gauge', 'Runtime on battery the UPS estimates.', reading('runtimeS'));
  family('ockle_ups_load_percent', 'gauge', 'Output load the UPS reports (percent of its capacity).', reading('loadPct'));
  family('ockle_ups_input_volts', 'gauge', 'Input (mains) voltage the UPS reports.', reading('inputVolts'));
  family('ockle_ups_stage', 'gauge', 'Power-cut policy stage of each UPS (1 for the current stage, 0 for the others).', upses.flatMap((u) => UPS_STAGES.map((st) => ['', { ups: u.name, stage: st }, u.stage === st ? 1 : 0] as [string, Record<string, string>, number])));
  // The API's refused logins (docs/security.md): counted per reason, and those throttled with 429.
  if (auth) {
    family('ockle_api_auth_failures_total', 'counter', 'Requests to the API refused for a missing, invalid or malformed bearer token, by reason.', Object.entries(auth.failures).map(([reason, n]) => ['', { reason }, n]));
    family('ockle_api_auth_throttled_total', 'counter', 'Failed authentications answered 429 because their address was over [api] auth_failures.', [['', {}, auth.throttledTotal]]);
    family('ockle_api_auth_throttled_addresses', 'gauge', 'Client addresses throttled now.', [['', {}, auth.throttledAddresses]]);
  }
  family('ockle_actions_running', 'gauge', 'Power actions running now (counted since the plugin started).', [['', {}, stats.running]]);
  family('ockle_actions_total', 'counter', 'Finished power actions by kind, result and origin (api, cli, web, plugin, daemon).', [...stats.counts].map(([k, n]) => {
    const [kind, status, origin] = k.split('\u0000') as [string, string, string];
    return ['', { kind, status, origin }, n];
  }));
  family('ockle_action_duration_seconds', 'histogram', 'Time from request to end of finished power actions, by kind.', [...stats.durations].flatMap(([kind, h]) => [
    ...DURATION_BUCKETS.map((le, i) => ['_bucket', { kind, le }, h.buckets[i]!] as [string, Record<string, string | number>, number]),
    ['_bucket', { kind, le: '+Inf' }, h.count] as [string, Record<string, string | number>, number],
    ['_sum', { kind }, h.sum] as [string, Record<string, string | number>, number],
    ['_count', { kind }, h.count] as [string, Record<string, string | number>, number],
  ]));
  return out.join('\n') + '\n';
}

export async function start(ctx: PluginContext): Promise<void> {
  const stats = new ActionStats();
  ctx.on('action.started', () => stats.started());
  ctx.on('action.finished', (p) => stats.finished(p.action));
  const srv = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    if (path === '/') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<a href="/metrics">ockle metrics</a>\n');
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
    Promise.all([ctx.call('servers'), ctx.call('devices'), ctx.call('ups'), ctx.call('api-auth')]).then(
      ([servers, devices, upses, auth]) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(render(servers, devices, stats, upses, auth)),
      (err: unknown) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`the daemon did not answer: ${(err as Error).message}\n`),
    );
  });
  const listen = String(ctx.config.listen);
  await new Promise<void>((resolve, reject) => {
    srv.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${listen}:${ctx.config.port}: ${err.code ?? err.message}; choose another [plugins.metrics] port`)));
    srv.listen(Number(ctx.config.port), listen, () => resolve());
  });
  server = srv;
  const { port } = srv.address() as AddressInfo;
  const url = `http://${listen.includes(':') ? `[${listen}]` : listen}:${port}/metrics`;
  ctx.command('endpoint', { description: 'The URL Prometheus should scrape.', role: 'viewer' }, () => ({ url }));
  ctx.log.info('serving metrics', { url });
}

export async function stop(): Promise<void> {
  const srv = server;
  server = null;
  if (!srv) return;
  srv.closeAllConnections();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
}
