/**
 * The mqtt plugin's topics and payloads, pure (the tests and the benchmark use them directly):
 * the retained state a lab publishes, and the parsing of a command. Layout, under
 * PREFIX/GATEWAY (docs/mqtt.md):
 *
 *   availability                          online | offline (retained; offline is the will)
 *   server/NAME/state                     {state, reason, serving, power, outlets, …} (retained)
 *   outlet/DEVICE/N/state                 {power, server, watts, amps, volts, energy_wh} (retained)
 *   device/DEVICE/state                   {reachable, error, watts} (retained)
 *   ups/NAME/state                        {power, on_battery, charge_pct, runtime_s, …} (retained)
 *   needs                                 {GATEWAY: [SERVER, …]}: other gateways' servers this one depends on (retained)
 *   server/NAME/set, outlet/DEVICE/N/set  commands acting as shared_topic_user
 *   user/USER/server/NAME/set, user/USER/outlet/DEVICE/N/set   commands of USER
 *   …/reply                               replies when the command gave no response topic
 */
import type { DeviceStatus, ServerStatus, UpsStatus } from '../../src/core/model.js';

export interface Names {
  readonly prefix: string;
  readonly gateway: string;
}

export const base = (n: Names): string => `${n.prefix}/${n.gateway}`;
export const availabilityTopic = (n: Names): string => `${base(n)}/availability`;
export const serverTopic = (n: Names, server: string): string => `${base(n)}/server/${server}/state`;
export const outletTopic = (n: Names, device: string, outlet: number): string => `${base(n)}/outlet/${device}/${outlet}/state`;
export const deviceTopic = (n: Names, device: string): string => `${base(n)}/device/${device}/state`;
export const upsTopic = (n: Names, ups: string): string => `${base(n)}/ups/${ups}/state`;
export const needsTopic = (n: Names): string => `${base(n)}/needs`;
export const serverSetTopic = (n: Names, server: string): string => `${base(n)}/server/${server}/set`;
export const outletSetTopic = (n: Names, device: string, outlet: number): string => `${base(n)}/outlet/${device}/${outlet}/set`;

/** The subscriptions that carry commands (QoS 1, kept by the broker while the gateway is away). */
export const commandFilters = (n: Names): string[] => [
  `${base(n)}/server/+/set`,
  `${base(n)}/outlet/+/+/set`,
  `${base(n)}/user/+/server/+/set`,
  `${base(n)}/user/+/outlet/+/+/set`,
];

/** Whether `topic` is one of the retained state topics this gateway owns (for removal of stale ones). */
export function isStateTopic(n: Names, topic: string): boolean {
  const rest = topic.startsWith(`${base(n)}/`) ? topic.slice(base(n).length + 1).split('/') : [];
  return (rest.length === 1 && rest[0] === 'needs') || (rest.length === 3 && (rest[0] === 'server' || rest[0] === 'device' || rest[0] === 'ups') && rest[2] === 'state') || (rest.length === 4 && rest[0] === 'outlet' && rest[3] === 'state');
}

/** Whether a server is serving: its tests pass (OK), the state dependents wait for. */
export const serving = (s: ServerStatus): boolean => s.state === 'OK';

/** One word for a server's outlets: on, off (all alike), mixed, or unknown (one unread). */
export function serverPower(s: ServerStatus): 'on' | 'off' | 'mixed' | 'unknown' {
  if (s.outlets.length === 0 || s.outlets.some((o) => o.power === 'unknown' || o.power === 'switching')) return 'unknown';
  if (s.outlets.every((o) => o.power === 'on')) return 'on';
  return s.outlets.every((o) => o.power === 'off') ? 'off' : 'mixed';
}

/** A server's retained state (server/NAME/state). */
export function serverPayload(s: ServerStatus): string {
  return JSON.stringify({
    state: s.state,
    reason: s.reason,
    serving: serving(s),
    power: serverPower(s),
    outlets: s.outlets.map((o) => ({ device: o.device, outlet: o.outlet, power: o.power })),
    tests: s.tests.map((t) => ({ name: t.name, result: t.result })),
    dependencies: [...s.dependencies, ...s.remoteDependencies],
    action_id: s.actionId,
    paused: s.paused !== null,
  });
}

/** An outlet's retained state (outlet/DEVICE/N/state): its power, the server it feeds, its readings. */
export function outletPayload(o: DeviceStatus['outlets'][number], server: string | null): string {
  const r = o.reading;
  return JSON.stringify({
    power: o.power,
    server,
    ...(typeof r?.watts === 'number' && { watts: r.watts }),
    ...(typeof r?.amps === 'number' && { amps: r.amps }),
    ...(typeof r?.volts === 'number' && { volts: r.volts }),
    ...(typeof r?.energyWh === 'number' && { energy_wh: r.energyWh }),
  });
}

/** A device's retained state (device/DEVICE/state): reachable, and the sum of its outlets' watts. */
export function devicePayload(d: DeviceStatus): string {
  let watts: number | undefined;
  for (const o of d.outlets) if (typeof o.reading?.watts === 'number') watts = (watts ?? 0) + o.reading.watts;
  return JSON.stringify({ reachable: d.reachable, error: d.error, read_back: d.readBack, ...(watts !== undefined && { watts: Math.round(watts * 1000) / 1000 }) });
}

/** DEVICE/N → the servers it feeds, in the lab's order. */
export function outletFeeds(servers: Iterable<ServerStatus>): Map<string, string[]> {
  const feeds = new Map<string, string[]>();
  for (const s of servers)
    for (const o of s.outlets) {
      const key = `${o.device}/${o.outlet}`;
      const list = feeds.get(key);
      if (list) list.push(s.name);
      else feeds.set(key, [s.name]);
    }
  return feeds;
}

/** The server an outlet's state names: the last of those it feeds. */
export const outletOwner = (feeds: ReadonlyMap<string, readonly string[]>, device: string, outlet: number): string | null => feeds.get(`${device}/${outlet}`)?.at(-1) ?? null;

/**
 * Every retained state message of the lab: topic → payload. Readings are JSON numbers. No
 * timestamp in a payload: the same state is the same bytes, so an unchanged state is never
 * published again. The plugin makes the same payloads one entity at a time for an event.
 */
export function stateMessages(n: Names, servers: readonly ServerStatus[], devices: readonly DeviceStatus[]): Map<string, string> {
  const out = new Map<string, string>();
  const feeds = outletFeeds(servers);
  for (const s of servers) out.set(serverTopic(n, s.name), serverPayload(s));
  out.set(needsTopic(n), JSON.stringify(needs(servers)));
  for (const d of devices) {
    for (const o of d.outlets) out.set(outletTopic(n, d.id, o.outlet), outletPayload(o, outletOwner(feeds, d.id, o.outlet)));
    out.set(deviceTopic(n, d.id), devicePayload(d));
  }
  return out;
}

/** Which servers of other gateways this lab depends on, by gateway (sorted): what `needs` publishes. */
export function needs(servers: readonly ServerStatus[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const s of servers)
    for (const ref of s.remoteDependencies) {
      const i = ref.indexOf(':');
      const list = (out[ref.slice(0, i)] ??= []);
      if (!list.includes(ref.slice(i + 1))) list.push(ref.slice(i + 1));
    }
  for (const list of Object.values(out)) list.sort();
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * The retained state of each UPS (from `ups.changed`): readings as JSON numbers, null where the
 * UPS does not report them.
 */
export function upsMessages(n: Names, ups: readonly UpsStatus[]): Map<string, string> {
  return new Map(
    ups.map((u) => [
      upsTopic(n, u.name),
      JSON.stringify({
        power: u.power,
        on_battery: u.power === 'battery',
        low_battery: u.lowBattery,
        charge_pct: u.chargePct,
        runtime_s: u.runtimeS,
        load_pct: u.loadPct,
        input_volts: u.inputVolts,
        stage: u.stage,
        detail: u.detail,
        alarms: u.alarms,
        error: u.error,
        servers: u.servers,
      }),
    ]),
  );
}

/** A command as the topic and payload say it; who sent it is decided by the caller (roles). */
export interface Command {
  readonly action: 'on' | 'off' | 'cycle';
  /** The user the topic names (user/USER/…), or null for the plain topics. */
  readonly user: string | null;
  readonly target: { readonly server: string } | { readonly device: string; readonly outlet: number };
  readonly reason: string | null;
  readonly requestId: string | null;
}

export type Parsed = { readonly ok: true; readonly command: Command } | { readonly ok: false; readonly code: string; readonly message: string; readonly requestId: string | null };

const ACTIONS = new Set(['on', 'off', 'cycle']);
const refuse = (message: string, requestId: string | null = null, code = 'OCKLE_REQUEST_INVALID'): Parsed => ({ ok: false, code, message, requestId });

/**
 * Parses one command: its topic (one of `commandFilters`) and payload, which is `on`, `off`,
 * `cycle` (any case: Home Assistant sends ON and OFF) or JSON
 * `{"action": "on", "reason": "…", "request_id": "…"}`. A payload over `maxBytes` is refused
 * unread.
 */
export function parseCommand(n: Names, topic: string, payload: Buffer, maxBytes: number): Parsed {
  const levels = topic.startsWith(`${base(n)}/`) ? topic.slice(base(n).length + 1).split('/') : [];
  let user: string | null = null;
  if (levels[0] === 'user') {
    user = levels[1] ?? null;
    levels.splice(0, 2);
  }
  let target: Command['target'];
  if (levels.length === 3 && levels[0] === 'server' && levels[2] === 'set') target = { server: levels[1]! };
  else if (levels.length === 4 && levels[0] === 'outlet' && levels[3] === 'set' && /^[1-9]\d{0,3}$/.test(levels[2]!)) target = { device: levels[1]!, outlet: Number(levels[2]) };
  else return refuse(`topic ${topic} is not a command topic of gateway ${n.gateway}`);
  if (payload.length > maxBytes) return refuse(`the command is ${payload.length} bytes; at most ${maxBytes} are read (max_payload)`);
  const text = payload.toString('utf8').trim();
  let action: string;
  let reason: string | null = null;
  let requestId: string | null = null;
  if (text.startsWith('{')) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      return refuse(`the command is not valid JSON (${(err as Error).message}); send on, off, cycle or {"action":"on","reason":"…","request_id":"…"}`);
    }
    const b = body as Record<string, unknown>;
    if (typeof b.request_id === 'string' && b.request_id.length <= 128) requestId = b.request_id;
    else if (b.request_id !== undefined) return refuse('request_id must be a string of at most 128 characters');
    if (typeof b.action !== 'string') return refuse('the JSON command needs "action": "on", "off" or "cycle"', requestId);
    action = b.action.toLowerCase();
    if (b.reason !== undefined) {
      if (typeof b.reason !== 'string' || b.reason.length > 500) return refuse('reason must be a string of at most 500 characters', requestId);
      reason = b.reason;
    }
    const extra = Object.keys(b).filter((k) => !['action', 'reason', 'request_id'].includes(k));
    if (extra.length > 0) return refuse(`unknown field "${extra[0]}" (action, reason and request_id are known)`, requestId);
  } else action = text.toLowerCase();
  if (!ACTIONS.has(action)) return refuse(`"${action.slice(0, 40)}" is not a command: on, off or cycle`, requestId);
  return { ok: true, command: { action: action as Command['action'], user, target, reason, requestId } };
}

/** The reply topic of a command that gave no (acceptable) response topic: …/set → …/reply. */
export const fallbackReplyTopic = (commandTopic: string): string => commandTopic.replace(/\/set$/, '/reply');

/**
 * Whether a v5 response topic may be published to: no wildcard, and nothing this gateway owns
 * but replies, nor Home Assistant's discovery tree (a command must not make the gateway
 * overwrite its own state or an entity's config).
 */
export function responseTopicAllowed(n: Names, haPrefix: string, topic: string): boolean {
  if (topic === '' || topic.includes('+') || topic.includes('#') || topic.includes('\0')) return false;
  if (topic.startsWith(`${haPrefix}/`)) return false;
  if (topic.startsWith(`${n.prefix}/`)) return topic.endsWith('/reply');
  return true;
}

/** One server of another gateway, as this gateway sees it. */
export interface RemoteServer {
  readonly gateway: string;
  readonly name: string;
  /** Its state, or UNKNOWN while its gateway or the broker is offline (never a guess). */
  readonly state: string;
  readonly serving: boolean;
  readonly reason: string;
}

/** A followed server's last retained state, as far as federation reads it. */
export interface FollowedServer {
  readonly state: string;
  readonly serving: boolean;
  readonly reason: string;
  readonly power: string;
  readonly actionId: string | null;
  readonly dependencies: readonly string[];
}

/** What is known of a followed gateway: its availability and its servers' last retained states. */
export interface Followed {
  /** online, offline, or null before its availability arrived. */
  availability: string | null;
  readonly servers: Map<string, FollowedServer>;
}

/** A followed server's retained state payload, read defensively (another gateway wrote it). */
export function parseFollowedState(payload: Buffer): FollowedServer {
  try {
    const st = JSON.parse(payload.toString()) as Record<string, unknown>;
    const deps = Array.isArray(st.dependencies) ? st.dependencies.filter((d): d is string => typeof d === 'string' && d.length <= 200).slice(0, 1000) : [];
    const text = (v: unknown, fallback: string, max = 500): string => (typeof v === 'string' ? v.slice(0, max) : fallback);
    return {
      state: text(st.state, 'UNKNOWN', 64),
      serving: st.serving === true,
      reason: text(st.reason, ''),
      power: text(st.power, 'unknown', 16),
      actionId: typeof st.action_id === 'string' ? st.action_id.slice(0, 200) : null,
      dependencies: deps,
    };
  } catch {
    return { state: 'UNKNOWN', serving: false, reason: 'its state is not JSON', power: 'unknown', actionId: null, dependencies: [] };
  }
}

/**
 * The followed gateways' servers as dependents may see them: the retained state while the
 * broker is connected and the gateway online; otherwise UNKNOWN with why.
 */
export function remoteView(followed: ReadonlyMap<string, Followed>, broker: { readonly connected: boolean; readonly lastError: string | null }): RemoteServer[] {
  const out: RemoteServer[] = [];
  for (const [gateway, f] of followed)
    for (const [name, st] of f.servers) {
      const why = !broker.connected ? `the broker is unreachable${broker.lastError ? ` (${broker.lastError})` : ''}` : f.availability !== 'online' ? `gateway ${gateway} is ${f.availability ?? 'not heard from'}` : null;
      out.push(why ? { gateway, name, state: 'UNKNOWN', serving: false, reason: why } : { gateway, name, state: st.state, serving: st.serving, reason: st.reason });
    }
  return out.sort((a, b) => a.gateway.localeCompare(b.gateway) || a.name.localeCompare(b.name));
}

/**
 * `PREFIX/GATEWAY/server/NAME/state` or `PREFIX/GATEWAY/availability` of a followed gateway:
 * [gateway, name|null], or null. (`PREFIX/GATEWAY/needs` is `needsOf`.)
 */
export function followedTopic(prefix: string, topic: string): [string, string | null] | null {
  const p = topic.split('/');
  if (p[0] !== prefix) return null;
  if (p.length === 3 && p[2] === 'availability') return [p[1]!, null];
  if (p.length === 5 && p[2] === 'server' && p[4] === 'state') return [p[1]!, p[3]!];
  return null;
}

/** `PREFIX/GATEWAY/needs` → GATEWAY, else null. */
export function needsOf(prefix: string, topic: string): string | null {
  const p = topic.split('/');
  return p.length === 3 && p[0] === prefix && p[2] === 'needs' ? p[1]! : null;
}

/** Whether gateway `g`'s `needs` payload names a server of `me`. */
export function needsMe(payload: Buffer, me: string): boolean {
  try {
    const v = (JSON.parse(payload.toString()) as Record<string, unknown>)[me];
    return Array.isArray(v) && v.length > 0;
  } catch {
    return false;
  }
}

/** The topic a command of this gateway's `user` to a server of gateway `gateway` goes to (its reply comes back on …/reply). */
export const remoteSetTopic = (prefix: string, gateway: string, user: string, server: string): string => `${prefix}/${gateway}/user/${user}/server/${server}/set`;
/** Replies to this gateway's remote commands, from every gateway. */
export const remoteReplyFilter = (prefix: string, user: string): string => `${prefix}/+/user/${user}/server/+/reply`;
