/**
 * Smart plugs for tests, written from their vendors' public API documentation (docs/smart-plugs.md
 * names the pages and versions), on 127.0.0.1 with a free port:
 *
 * - Tasmota: `GET /cm?[user=…&password=…&]cmnd=…`: `Power<N> [ON|OFF|TOGGLE|0|1|2]`,
 *   `Status 0|8|10|11`, `{"Command":"Unknown"}` for anything else; a wrong or missing web
 *   password gets 401 and `{"WARNING":"Need user=<username>&password=<password>"}` (or, with
 *   `legacyAuth`, 200 and the same warning, as firmware before 9.x did).
 * - Shelly Gen2+: JSON-RPC frames on `POST /rpc`: Shelly.GetDeviceInfo (never protected),
 *   Shelly.GetStatus, Shelly.GetConfig, Switch.GetStatus, Switch.Set; with a password, every
 *   other call needs RFC 7616 Digest auth with SHA-256 and qop=auth (user admin, realm = the
 *   device id), checked here against nonces this server issued.
 *
 * Faults: `timeout` (accept the request, never answer), `malformed` (a truncated JSON body),
 * `http500`. Every accepted switch is counted in `writes`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type PlugFault = null | 'timeout' | 'malformed' | 'http500';

interface Listening {
  readonly host: string;
  readonly port: number;
  fault: PlugFault;
  /** Switch commands the plug carried out, in order (`2 ON`, `0 off`). */
  readonly writes: string[];
  /** Requests answered with 401. */
  unauthorized: number;
  /** Every request's path with its query, as received (to check what crossed the wire). */
  readonly seen: string[];
  close(): Promise<void>;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void, fault: () => PlugFault, seen: string[]): Promise<{ server: Server; port: number; hung: Set<ServerResponse> }> {
  const hung = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push(req.url ?? '');
      const f = fault();
      if (f === 'timeout') {
        hung.add(res);
        return;
      }
      if (f === 'http500') {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('Internal Server Error');
        return;
      }
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port, hung };
}

async function stop(server: Server, hung: Set<ServerResponse>): Promise<void> {
  for (const res of hung) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

function send(res: ServerResponse, status: number, body: unknown, malformed: boolean, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(malformed ? text.slice(0, Math.max(1, Math.floor(text.length / 2))) : text);
}

// ── Tasmota ──────────────────────────────────────────────────────────────────

export interface TasmotaRelay {
  power: boolean;
  name: string;
}
export interface TasmotaPlugPeer extends Listening {
  readonly relays: TasmotaRelay[];
  /** StatusSNS.ENERGY as the plug reports it (arrays on multi-channel meters). */
  energy: Record<string, unknown> | null;
  readonly password: string | undefined;
}

export async function startTasmota(o: { relays?: number; password?: string; legacyAuth?: boolean; energy?: Record<string, unknown> | null } = {}): Promise<TasmotaPlugPeer> {
  const n = o.relays ?? 1;
  const seen: string[] = [];
  const peer = {
    fault: null as PlugFault,
    writes: [] as string[],
    unauthorized: 0,
    seen,
    relays: Array.from({ length: n }, (_, i) => ({ power: i === 0, name: n === 1 ? 'Lab plug' : `Relay ${i + 1}` })),
    energy:
      o.energy === undefined
        ? { TotalStartTime: '2026-01-01T00:00:00', Total: 12.345, Yesterday: 0.5, Today: 0.25, Power: 42, ApparentPower: 50, ReactivePower: 27, Factor: 0.84, Voltage: 231, Current: 0.217 }
        : o.energy,
    password: o.password,
  };
  const key = (i: number): string => (n === 1 ? 'POWER' : `POWER${i}`);
  const sts = (): Record<string, string> => Object.fromEntries(peer.relays.map((r, i) => [key(i + 1), r.power ? 'ON' : 'OFF']));
  const { server, port, hung } = await listen(
    (req, res, _body) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const malformed = peer.fault === 'malformed';
      if (url.pathname !== '/cm') return send(res, 404, { error: 'not found' }, false);
      if (peer.password !== undefined && !(url.searchParams.get('user') === 'admin' && url.searchParams.get('password') === peer.password)) {
        peer.unauthorized++;
        return send(res, o.legacyAuth ? 200 : 401, { WARNING: 'Need user=<username>&password=<password>' }, false);
      }
      const cmnd = (url.searchParams.get('cmnd') ?? '').trim();
      const status = /^status\s*(\d+)?$/i.exec(cmnd);
      if (status) {
        const which = Number(status[1] ?? 0);
        const sns = { StatusSNS: { Time: '2026-12-01T05:00:00', ...(peer.energy && { ENERGY: peer.energy }) } };
        const all = {
          Status: { Module: 0, DeviceName: 'Tasmota test plug', FriendlyName: peer.relays.map((r) => r.name), Topic: 'tasmota_test', Power: peer.relays.map((r) => (r.power ? '1' : '0')).join('') },
          StatusFWR: { Version: '14.3.0(release-tasmota)', BuildDateTime: '2024-10-08T09:00:00', Hardware: 'ESP8266EX' },
          StatusSNS: sns.StatusSNS,
          StatusSTS: { Time: '2026-12-01T05:00:00', Uptime: '0T01:00:00', ...sts() },
        };
        const body = which === 0 ? all : which === 11 ? { StatusSTS: all.StatusSTS } : which === 8 || which === 10 ? sns : which === 2 ? { StatusFWR: all.StatusFWR } : { Command: 'Unknown' };
        return send(res, 200, body, malformed);
      }
      const power = /^power(\d*)(?:\s+(\S+))?$/i.exec(cmnd);
      if (power) {
        const idx = power[1] ? Number(power[1]) : 1;
        const relay = peer.relays[idx - 1];
        if (!relay || idx === 0) return send(res, 200, { Command: 'Unknown' }, malformed);
        const arg = power[2]?.toUpperCase();
        if (arg !== undefined) {
          const next = arg === 'ON' || arg === '1' ? true : arg === 'OFF' || arg === '0' ? false : arg === 'TOGGLE' || arg === '2' ? !relay.power : null;
          if (next === null) return send(res, 200, { Command: 'Error' }, malformed);
          relay.power = next;
          peer.writes.push(`${idx} ${next ? 'ON' : 'OFF'}`);
        }
        return send(res, 200, { [key(idx)]: relay.power ? 'ON' : 'OFF' }, malformed);
      }
      return send(res, 200, { Command: 'Unknown' }, malformed);
    },
    () => peer.fault,
    seen,
  );
  return Object.assign(peer, { host: '127.0.0.1', port, close: () => stop(server, hung) });
}

// ── Shelly Gen2+ ─────────────────────────────────────────────────────────────

export interface ShellySwitch {
  output: boolean;
  name: string | null;
  apower: number;
  voltage: number;
  current: number;
  /** aenergy.total, Wh. */
  energyWh: number;
}
export interface ShellyPeer extends Listening {
  readonly switches: ShellySwitch[];
  readonly deviceId: string;
  readonly password: string | undefined;
  /** RPC methods carried out (after auth), in order. */
  readonly calls: string[];
  /** Forget every nonce issued, as a device does after a while: the next request gets a new challenge. */
  expireNonces(): void;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** The fields of an `Authorization: Digest …` header. */
function digestFields(h: string | undefined): Map<string, string> | null {
  if (!h || !/^Digest\s/i.test(h)) return null;
  const m = new Map<string, string>();
  for (const x of h.slice(7).matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) m.set(x[1]!.toLowerCase(), x[2] !== undefined ? x[2].replace(/\\(.)/g, '$1') : x[3]!);
  return m;
}

export async function startShelly(o: { switches?: number; password?: string } = {}): Promise<ShellyPeer> {
  const n = o.switches ?? 1;
  const deviceId = n === 1 ? 'shellyplusplugs-aabbccddeeff' : 'shellypro4pm-aabbccddeeff';
  const seen: string[] = [];
  const nonces = new Set<string>();
  const ha1 = o.password === undefined ? undefined : sha256(`admin:${deviceId}:${o.password}`);
  const peer = {
    fault: null as PlugFault,
    writes: [] as string[],
    unauthorized: 0,
    seen,
    calls: [] as string[],
    deviceId,
    password: o.password,
    switches: Array.from({ length: n }, (_, i) => ({ output: i === 0, name: i === 0 ? 'rack fan' : null, apower: i === 0 ? 8.9 : 0, voltage: 237.5, current: i === 0 ? 0.068 : 0, energyWh: 6532.25 + i })),
    expireNonces: () => nonces.clear(),
  };
  const switchStatus = (id: number): Record<string, unknown> => {
    const s = peer.switches[id]!;
    return { id, source: 'HTTP_in', output: s.output, apower: s.apower, voltage: s.voltage, freq: 50, current: s.current, aenergy: { total: s.energyWh, by_minute: [0, 0, 0], minute_ts: 1764565200 }, temperature: { tC: 41.2, tF: 106.2 } };
  };
  /** Whether the request carries a valid digest for a nonce this server issued (RFC 7616 §3.4.1). */
  const authorized = (req: IncomingMessage): boolean => {
    const f = digestFields(req.headers.authorization);
    if (!f || !ha1) return false;
    const nonce = f.get('nonce') ?? '';
    if (f.get('username') !== 'admin' || f.get('realm') !== deviceId || !nonces.has(nonce) || f.get('uri') !== req.url) return false;
    if ((f.get('algorithm') ?? 'MD5').toUpperCase() !== 'SHA-256' || f.get('qop') !== 'auth') return false;
    const ha2 = sha256(`${req.method}:${f.get('uri')}`);
    return f.get('response') === sha256(`${ha1}:${nonce}:${f.get('nc')}:${f.get('cnonce')}:auth:${ha2}`);
  };
  const { server, port, hung } = await listen(
    (req, res, body) => {
      const malformed = peer.fault === 'malformed';
      if (req.method !== 'POST' || (req.url ?? '') !== '/rpc') return send(res, 404, { code: 404, message: 'No handler for ' + (req.url ?? '') }, false);
      let frame: { id?: unknown; method?: unknown; params?: Record<string, unknown> } | null;
      try {
        frame = JSON.parse(body) as typeof frame;
      } catch {
        frame = null;
      }
      const method = String(frame?.method ?? '');
      // Auth first: a client such as curl sends its first, unauthenticated request without the body.
      if (ha1 && method !== 'Shelly.GetDeviceInfo' && !authorized(req)) {
        peer.unauthorized++;
        const nonce = randomBytes(8).toString('hex');
        nonces.add(nonce);
        return send(res, 401, { code: 401, message: 'Unauthorized' }, false, { 'www-authenticate': `Digest qop="auth", realm="${deviceId}", nonce="${nonce}", algorithm=SHA-256` });
      }
      if (!frame || typeof frame !== 'object') return send(res, 400, { code: -32700, message: 'Parse error' }, false);
      const reply = (result: unknown): void => send(res, 200, { id: frame!.id, src: deviceId, result }, malformed);
      const error = (code: number, message: string): void => send(res, 200, { id: frame!.id, src: deviceId, error: { code, message } }, malformed);
      peer.calls.push(method);
      const id = Number(frame.params?.id ?? NaN);
      const known = Number.isInteger(id) && id >= 0 && id < peer.switches.length;
      switch (method) {
        case 'Shelly.GetDeviceInfo':
          return reply({ name: null, id: deviceId, mac: 'AABBCCDDEEFF', slot: 0, model: n === 1 ? 'SNPL-00112EU' : 'SPSW-104PE16EU', gen: 2, fw_id: '20241011-114455/1.4.4-g6d2a586', ver: '1.4.4', app: n === 1 ? 'PlusPlugS' : 'Pro4PM', auth_en: ha1 !== undefined, auth_domain: ha1 ? deviceId : null });
        case 'Shelly.GetStatus':
          return reply({ sys: { mac: 'AABBCCDDEEFF', uptime: 3600 }, wifi: { sta_ip: '127.0.0.1', status: 'got ip' }, ...Object.fromEntries(peer.switches.map((_, i) => [`switch:${i}`, switchStatus(i)])) });
        case 'Shelly.GetConfig':
          return reply({ sys: { device: { name: null } }, ...Object.fromEntries(peer.switches.map((s, i) => [`switch:${i}`, { id: i, name: s.name, in_mode: 'follow', initial_state: 'restore_last' }])) });
        case 'Switch.GetStatus':
          return known ? reply(switchStatus(id)) : error(-105, `Argument 'id', value ${String(frame.params?.id)} not found!`);
        case 'Switch.Set': {
          if (!known) return error(-105, `Argument 'id', value ${String(frame.params?.id)} not found!`);
          const on = frame.params?.on;
          if (typeof on !== 'boolean') return error(-103, "Missing required argument 'on'!");
          const s = peer.switches[id]!;
          const was = s.output;
          s.output = on;
          if (!on) s.apower = s.current = 0;
          peer.writes.push(`${id} ${on ? 'on' : 'off'}`);
          return reply({ was_on: was });
        }
        default:
          return error(-114, `Method ${method} failed: No handler!`);
      }
    },
    () => peer.fault,
    seen,
  );
  return Object.assign(peer, { host: '127.0.0.1', port, close: () => stop(server, hung) });
}
