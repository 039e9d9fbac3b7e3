/**
 * The plugin contract: the one table of the events a plugin (and an SSE client) may subscribe to,
 * and of the gateway methods a plugin may call with `ctx.call`, with their parameters, results
 * and the role each needs. Everything else derives from it: the worker's `ctx` typing
 * (types.ts), the test context (testing.ts), the daemon's dispatch and subscribe (bridge.ts),
 * the API's `?types=` filter and OpenAPI text, and the lists in docs/plugins.md (a test keeps
 * them in step).
 *
 * To add an event: add it to `OckleEvents` (core/model.ts) and here; one without the other does
 * not compile. To add a method: add an entry to `METHODS`; its parameter and result types follow.
 */
import type { Gateway } from '../core/gateway.js';
import type { ActionKind, ActionRecord, DeviceStatus, EventName, OckleEvents, OutletRef, ServerStatus, TreeView, UpsStatus } from '../core/model.js';
import type { RemoteLab, RemoteReply, RemoteReport, RemoteServerReport } from '../core/remote.js';
import { OckleError, RequestValidationError } from '../errors.js';
import type { CommandRole } from './protocol.js';

// ---------------------------------------------------------------------------------------------
// Events

/** A daemon event a plugin or an SSE client may subscribe to. */
export type PluginEventName = EventName;
/** What an event carries (structured-cloned across the thread boundary, JSON in the SSE stream). */
export type PluginEventPayload<E extends PluginEventName> = OckleEvents[E];

/**
 * Every event, with one line of what it says. `satisfies` makes a key of `OckleEvents` missing
 * here, or a name here that is not one, a compile error.
 */
export const EVENTS = {
  'server.changed': 'a server’s derived state changed (server, state, previous, reason)',
  'outlet.changed': 'an outlet’s power changed (device, outlet, power, previous)',
  'test.changed': 'a server test’s result changed (server, test, result, previous, detail)',
  'device.unreachable': 'a device stopped answering (device, message)',
  'device.reachable': 'a device answers again (device)',
  'device.metered': 'a metering poll finished: per-outlet amps, volts, watts, Wh (device, at, readings)',
  'action.started': 'an action was accepted (action: its record)',
  'action.progressed': 'an action’s journal gained a step (actionId, step)',
  'action.progress': 'a sequenced action’s server started or ended: wave, done/total, percent',
  'action.finished': 'an action ended (action: its final record)',
  'config.reloaded': 'a configuration reload ended (ok, message)',
  'plugin.changed': 'a worker plugin changed state (plugin, state, detail)',
  'ups.changed': 'a UPS reading changed: power, charge, runtime, load, stage (ups: its status)',
  'ups.stage': 'a UPS policy moved: event began, stage started or ended, mains back (ups, event, stage, status, detail, actionId)',
  'remote.changed': 'a server of another gateway changed as the broker tells it (server: ref, state or UNKNOWN, reason; previous)',
  'remote.request': 'a sequence asks another gateway to switch one of its servers (requestId, gateway, server, action, reason, actionId, for)',
} as const satisfies { readonly [E in PluginEventName]: string };

/** Every event name, in the table's order. (Sound: `satisfies` above admits no other key.) */
export const EVENT_NAMES = Object.keys(EVENTS) as readonly PluginEventName[];

export function isEventName(name: string): name is PluginEventName {
  return Object.hasOwn(EVENTS, name);
}

/** Subscribes `fn` to one event; returns the unsubscribe function (the shape of `EventBus.on`). */
export type Subscribe = <E extends PluginEventName>(event: E, fn: (payload: PluginEventPayload<E>) => void) => () => void;

// ---------------------------------------------------------------------------------------------
// Methods

const RANK: Readonly<Record<CommandRole, number>> = { viewer: 0, operator: 1, admin: 2 };

/** Whether `has` is at least `needs` (viewer < operator < admin). */
export function roleAllows(has: CommandRole, needs: CommandRole): boolean {
  return RANK[has] >= RANK[needs];
}

interface MethodSpec<P, R> {
  /** The least role of the plugin (its manifest's `role`) that may call it. */
  readonly role: CommandRole;
  /** For docs/plugins.md: the parameters and the result, in words. */
  readonly params: string;
  readonly result: string;
  /** Checks what arrived over the wire (`{}` when the plugin passed nothing). @throws RequestValidationError */
  readonly parse: (params: Readonly<Record<string, unknown>>, method: string) => P;
  readonly run: (gateway: Gateway, params: P, plugin: string, views: DaemonViews) => R;
}

/**
 * What the daemon serves beside the gateway: the gateway does not know UPSes (the daemon's
 * UpsService does). A caller that passes none (a test's bare gateway) serves an empty list.
 */
export interface DaemonViews {
  /** Every configured UPS's status, as `GET /api/ups` gives it. */
  readonly ups: () => readonly UpsStatus[];
  /** The API's failed-authentication counters (src/api/throttle.ts), for the metrics plugin. */
  readonly apiAuth?: () => ApiAuthCounts;
  /** Servers of other gateways (federation): what the mqtt plugin learns from the broker goes here. */
  readonly remote?: Pick<RemoteLab, 'update' | 'replied'>;
}
/** Requests refused for their bearer token, by reason; those answered 429; addresses throttled now. */
export interface ApiAuthCounts {
  readonly failures: Readonly<Record<string, number>>;
  readonly throttledTotal: number;
  readonly throttledAddresses: number;
}
const NO_VIEWS: DaemonViews = { ups: () => [] };

/** A method: its spec, and `invoke`, which parses then runs (one signature for every method, so the table dispatches without a switch). */
export interface PluginMethod<P, R> extends MethodSpec<P, R> {
  invoke(gateway: Gateway, call: WireCall, views?: DaemonViews): R;
  /** Parses the parameters only. @throws RequestValidationError */
  check(call: WireCall): void;
}

interface WireCall {
  readonly method: string;
  readonly params: unknown;
  readonly plugin: string;
}

function method<P, R>(spec: MethodSpec<P, R>): PluginMethod<P, R> {
  return {
    ...spec,
    invoke: (gateway, { method, params, plugin }, views = NO_VIEWS) => spec.run(gateway, spec.parse(paramsObject(method, params), method), plugin, views),
    check: ({ method, params }) => void spec.parse(paramsObject(method, params), method),
  };
}

/** The parameters as an object: `{}` for none; anything but a plain object is refused. */
function paramsObject(method: string, params: unknown): Readonly<Record<string, unknown>> {
  if (params === undefined || params === null) return {};
  if (typeof params !== 'object' || Array.isArray(params)) throw new RequestValidationError(`${method}: the parameters must be an object`);
  return params as Readonly<Record<string, unknown>>;
}

type NoParams = Readonly<Record<string, never>>;
const none = (): NoParams => ({});
function text(p: Readonly<Record<string, unknown>>, key: string, method: string): string {
  const v = p[key];
  if (typeof v !== 'string' || v === '') throw new RequestValidationError(`${method}: ${key} must be a non-empty string`);
  return v;
}

const KINDS: readonly ActionKind[] = ['on', 'off', 'cycle', 'reset', 'shutdown'];
/** A user a plugin acts for (`by`): the origin becomes `PLUGIN:BY`, e.g. `mqtt:alice`. */
const BY = /^[A-Za-z0-9._@-]{1,64}$/;
/** Origins the daemon's faces write; no plugin may act for a user under one of these names. */
const RESERVED_ORIGINS: ReadonlySet<string> = new Set(['api', 'cli', 'web', 'daemon', 'plugin', 'config', 'ups', 'schedule']);

interface RequestActionParams {
  readonly kind: ActionKind;
  readonly targets: readonly string[];
  readonly force?: boolean;
  readonly reason?: string;
  /** Switch exactly these outlets (targets empty; always forced), as `ockle outlet` does. */
  readonly outlets?: readonly OutletRef[];
  /** The user the plugin authenticated and acts for: journaled as `PLUGIN:BY` instead of `plugin:PLUGIN`. */
  readonly by?: string;
}

/** The plugin that carries federation: the only one whose word on other gateways is taken. */
const FEDERATION_PLUGIN = 'mqtt';
function federationOnly(plugin: string, m: string): void {
  if (plugin !== FEDERATION_PLUGIN) throw new OckleError('OCKLE_AUTH_FORBIDDEN', `${m} is served to the ${FEDERATION_PLUGIN} plugin only: it carries what other gateways say`, { hint: 'Another plugin cannot report other gateways’ servers.' });
}
const str = (v: unknown, max = 500): string | null => (typeof v === 'string' && v.length <= max ? v : null);
const strOrNull = (v: unknown): v is string | null => v === null || (typeof v === 'string' && v.length <= 500);

function parseRemoteReport(p: Readonly<Record<string, unknown>>, m: string): RemoteReport {
  const bad = (what: string): never => {
    throw new RequestValidationError(`${m}: ${what}`);
  };
  if (typeof p.connected !== 'boolean') bad('connected must be true or false');
  if (!strOrNull(p.error)) bad('error must be a string or null');
  const gw = p.gateways;
  if (typeof gw !== 'object' || gw === null || Array.isArray(gw) || !Object.values(gw).every(strOrNull)) bad('gateways must map a gateway to its availability (a string or null)');
  const list = p.servers;
  if (!Array.isArray(list) || list.length > 100_000) bad('servers must be a list');
  const servers = (list as unknown[]).map((x): RemoteServerReport => {
    const o = (typeof x === 'object' && x !== null ? x : {}) as Record<string, unknown>;
    const gateway = str(o.gateway, 64);
    const name = str(o.name, 64);
    const state = str(o.state, 64);
    const power = str(o.power, 16);
    const reason = str(o.reason);
    const deps = o.dependencies;
    if (!gateway || !name || !state || power === null || reason === null || typeof o.serving !== 'boolean' || !strOrNull(o.actionId) || !Array.isArray(deps) || !deps.every((d) => str(d, 200)))
      return bad('each server needs gateway, name, state, serving, power, reason, actionId and dependencies');
    return { gateway, name, state, serving: o.serving, power, reason, actionId: o.actionId, dependencies: deps as string[] };
  });
  if (p.partial !== undefined && typeof p.partial !== 'boolean') bad('partial must be true or false');
  const removed = p.removed ?? [];
  // The same names a server of the list may have: a gateway's, and a server's of up to 64 characters.
  const ref = (r: unknown): boolean => typeof r === 'string' && /^[A-Za-z0-9_-]{1,64}:.{1,64}$/s.test(r);
  if (!Array.isArray(removed) || removed.length > 100_000 || !removed.every(ref)) bad('removed must be a list of GATEWAY:SERVER');
  if (!p.partial && (removed as unknown[]).length > 0) bad('removed goes with partial: a whole report has no servers to remove');
  return {
    connected: p.connected as boolean,
    error: p.error as string | null,
    gateways: gw as Record<string, string | null>,
    servers,
    ...(p.partial === true && { partial: true, removed: removed as string[] }),
  };
}

function parseRemoteReply(p: Readonly<Record<string, unknown>>, m: string): RemoteReply {
  const requestId = str(p.requestId, 200);
  const status = str(p.status, 32);
  const e = p.error as { code?: unknown; message?: unknown } | null | undefined;
  if (!requestId || !status || !strOrNull(p.actionId ?? null)) throw new RequestValidationError(`${m}: requestId, status and actionId are needed`);
  const error = e && typeof e === 'object' ? { code: String(e.code ?? 'OCKLE_REMOTE_FAILED').slice(0, 64), message: String(e.message ?? '').slice(0, 2000) } : null;
  return { requestId, status, actionId: (p.actionId as string | null | undefined) ?? null, error };
}

/** Every method `ctx.call` serves. */
export const METHODS = {
  servers: method({ role: 'viewer', params: '', result: 'every server’s status (`GET /api/servers`)', parse: none, run: (g): readonly ServerStatus[] => g.servers() }),
  server: method({
    role: 'viewer',
    params: '`{name}`',
    result: 'one server',
    parse: (p, m): { readonly name: string } => ({ name: text(p, 'name', m) }),
    run: (g, p): ServerStatus => g.server(p.name),
  }),
  tree: method({ role: 'viewer', params: '', result: 'nodes, edges, topological order', parse: none, run: (g): TreeView => g.tree() }),
  devices: method({ role: 'viewer', params: '', result: 'every device with outlets, readings, reachability, last poll', parse: none, run: (g): readonly DeviceStatus[] => g.devices() }),
  actions: method({
    role: 'viewer',
    params: '`{limit?}`',
    result: 'recent actions, newest first (20 unless `limit`)',
    parse: (p): { readonly limit?: number } => (typeof p.limit === 'number' ? { limit: p.limit } : {}),
    run: (g, p): readonly ActionRecord[] => g.actions({ limit: p.limit ?? 20 }),
  }),
  action: method({
    role: 'viewer',
    params: '`{id}`',
    result: 'one action with its steps',
    parse: (p, m): { readonly id: string } => ({ id: text(p, 'id', m) }),
    run: (g, p): ActionRecord => g.action(p.id),
  }),
  // A plugin started after the UPS monitors (or restarted) needs the current readings, not only
  // the next `ups.changed`: the logger samples them, the metrics plugin exports them.
  ups: method({ role: 'viewer', params: '', result: 'every UPS’s reading and policy stage (`GET /api/ups`)', parse: none, run: (_g, _p, _plugin, v): readonly UpsStatus[] => v.ups() }),
  'api-auth': method({
    role: 'viewer',
    params: '',
    result: 'the API’s failed authentications by reason, those throttled (429), addresses throttled now',
    parse: none,
    run: (_g, _p, _plugin, v): ApiAuthCounts => v.apiAuth?.() ?? { failures: {}, throttledTotal: 0, throttledAddresses: 0 },
  }),
  'remote-state': method({
    role: 'operator',
    params: '`{connected, error, gateways: {GATEWAY: availability}, servers: [{gateway, name, state, serving, power, reason, actionId, dependencies}], partial?, removed?: [GATEWAY:SERVER]}`',
    result: 'nothing; the mqtt plugin only: what the broker says of other gateways’ servers after every change, whole or (`partial`) the servers that changed (federation, docs/mqtt.md)',
    parse: parseRemoteReport,
    run: (_g, p, plugin, v): null => {
      federationOnly(plugin, 'remote-state');
      v.remote?.update(p);
      return null;
    },
  }),
  'remote-reply': method({
    role: 'operator',
    params: '`{requestId, status, actionId, error}`',
    result: 'nothing; the mqtt plugin only: another gateway’s reply to a `remote.request`',
    parse: parseRemoteReply,
    run: (_g, p, plugin, v): null => {
      federationOnly(plugin, 'remote-reply');
      v.remote?.replied(p);
      return null;
    },
  }),
  'request-action': method({
    role: 'operator',
    params: '`{kind: on/off/cycle/reset, targets: [...], force?, reason?, outlets?: [{device, outlet}], by?}`',
    result: 'the action record (journaled with origin `plugin:NAME`, or `NAME:BY` when the plugin acts for a user it authenticated, as mqtt does)',
    parse: (p, m): RequestActionParams => {
      const kind = KINDS.find((k) => k === p.kind);
      if (!kind) throw new RequestValidationError(`${m}: kind must be on, off, cycle or reset`);
      const targets = p.targets;
      if (!Array.isArray(targets) || !targets.every((t): t is string => typeof t === 'string')) throw new RequestValidationError(`${m}: targets must be a list of server names`);
      const outlets = p.outlets;
      if (outlets !== undefined && !(Array.isArray(outlets) && outlets.every((o) => typeof o === 'object' && o !== null && typeof (o as OutletRef).device === 'string' && Number.isSafeInteger((o as OutletRef).outlet))))
        throw new RequestValidationError(`${m}: outlets must be a list of {device, outlet}`);
      const by = p.by;
      if (by !== undefined && !(typeof by === 'string' && BY.test(by))) throw new RequestValidationError(`${m}: by must be a user name of 1 to 64 letters, digits and . _ @ -`);
      return {
        kind,
        targets,
        force: p.force === true,
        ...(typeof p.reason === 'string' && { reason: p.reason }),
        ...(outlets !== undefined && { outlets: (outlets as OutletRef[]).map((o) => ({ device: o.device, outlet: o.outlet })) }),
        ...(by !== undefined && { by }),
      };
    },
    run: (g, p, plugin): ActionRecord => {
      // `by` lets a plugin that authenticates users (mqtt) journal who asked; a plugin named like
      // a face could otherwise write `api:admin` into the journal.
      if (p.by !== undefined && RESERVED_ORIGINS.has(plugin))
        throw new OckleError('OCKLE_AUTH_FORBIDDEN', `plugin ${plugin} may not act for a user: "${plugin}:" is an origin of ockle's own`, { hint: 'Rename the plugin, or leave out by.' });
      return g.request({ kind: p.kind, targets: p.targets, force: p.force === true, origin: p.by ? `${plugin}:${p.by}` : `plugin:${plugin}`, reason: p.reason ?? '', ...(p.outlets && { outlets: p.outlets }) });
    },
  }),
} as const;

export type PluginMethods = typeof METHODS;
export type PluginMethodName = keyof PluginMethods;
/** What a plugin passes to `ctx.call(M, …)`. */
export type PluginMethodParams<M extends PluginMethodName> = Parameters<PluginMethods[M]['run']>[1];
/** What `ctx.call(M, …)` resolves with (a structured clone of it). */
export type PluginMethodResult<M extends PluginMethodName> = ReturnType<PluginMethods[M]['run']>;
/** The parameters after the method name: optional when the method takes none or only optional ones. */
export type PluginCallArgs<M extends PluginMethodName> = Record<never, never> extends PluginMethodParams<M> ? [params?: PluginMethodParams<M>] : [params: PluginMethodParams<M>];

/** Every method name, in the table's order. */
export const METHOD_NAMES = Object.keys(METHODS) as readonly PluginMethodName[];

export function isMethodName(name: string): name is PluginMethodName {
  return Object.hasOwn(METHODS, name);
}

/**
 * The method `name`, if plugin `plugin` holding role `role` may call it.
 * @throws RequestValidationError (OCKLE_REQUEST_INVALID) for an unknown method; OckleError OCKLE_AUTH_FORBIDDEN for one above the role
 */
function lookup(plugin: string, role: CommandRole, name: string): { readonly name: PluginMethodName; readonly spec: PluginMethods[PluginMethodName] } {
  if (!isMethodName(name)) throw new RequestValidationError(`unknown method "${name}"`, { hint: `Methods: ${METHOD_NAMES.join(', ')}.` });
  const spec = METHODS[name];
  if (!roleAllows(role, spec.role))
    throw new OckleError('OCKLE_AUTH_FORBIDDEN', `plugin ${plugin} has role ${role}; ${name} needs ${spec.role}`, {
      hint: `Give the plugin role '${spec.role}' in its manifest (plugins/${plugin}/index.ts: export const role = '${spec.role}').`,
    });
  return { name, spec };
}

/**
 * Whether the daemon would serve this `ctx.call` (the method, the role, the parameters), without
 * running it: for the in-process test context. @throws as `callMethod` does before it runs
 */
export function admitCall(plugin: string, role: CommandRole, name: string, params: unknown): PluginMethodName {
  const m = lookup(plugin, role, name);
  m.spec.check({ method: name, params, plugin });
  return m.name;
}

/**
 * Serves one `ctx.call` of plugin `plugin` holding role `role`: refuses an unknown method
 * (OCKLE_REQUEST_INVALID) or one above the role (OCKLE_AUTH_FORBIDDEN), checks the parameters
 * (OCKLE_REQUEST_INVALID), and runs it against the gateway.
 */
export function callMethod(gateway: Gateway, plugin: string, role: CommandRole, name: string, params: unknown, views?: DaemonViews): PluginMethodResult<PluginMethodName> {
  return lookup(plugin, role, name).spec.invoke(gateway, { method: name, params, plugin }, views);
}
