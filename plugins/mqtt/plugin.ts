/**
 * mqtt, the worker side. One MQTT client (mqtt.js) per gateway:
 * - connects with a will (availability offline, retained), a persistent session (clean off
 *   after the first connection of the process) and QoS 1 command subscriptions, so commands sent
 *   during a broker or network blip are kept by the broker, and those from before a restart
 *   are dropped;
 *   reconnects with a doubling wait (reconnect_min … reconnect_max);
 * - publishes the lab's state retained, on change only: an event makes again its own topics
 *   (an outlet, the servers it feeds, its device) and only payloads that changed are sent; the
 *   lab is re-read whole once a burst is over (REFRESH_MS); on every (re)connect it first
 *   learns what the broker holds retained for this gateway (at QoS 0: see resync), clears what
 *   the lab no longer has (states and Home Assistant configs: removal messages), and publishes
 *   everything (resync);
 * - accepts commands from users its `roles` name operator, journaled as `mqtt:USER`, and
 *   answers each on its v5 response topic (with the correlation data) or on …/reply. A retained
 *   command is never run: it would switch again on every reconnect.
 * What it is doing shows in `GET /api/plugins` (ctx.status) and `ockle mqtt status`.
 */
import { readFileSync } from 'node:fs';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { ActionRecord, DeviceStatus, ServerStatus, UpsStatus } from '../../src/core/model.js';
import type { PluginContext } from '../../src/plugin-host/types.js';
import { packageVersion } from '../../src/version.js';
import { discoveryFromShape, discoveryShape, isDiscoveryTopic } from './discovery.js';
import {
  availabilityTopic,
  base,
  commandFilters,
  fallbackReplyTopic,
  followedTopic,
  isStateTopic,
  needsMe,
  needsOf,
  parseCommand,
  parseFollowedState,
  remoteReplyFilter,
  remoteSetTopic,
  remoteView,
  responseTopicAllowed,
  deviceTopic,
  devicePayload,
  outletFeeds,
  outletOwner,
  outletPayload,
  outletTopic,
  serverPayload,
  serverTopic,
  stateMessages,
  upsMessages,
  type Command,
  type Followed,
  type FollowedServer,
  type Names,
} from './topics.js';

interface Settings {
  readonly names: Names;
  readonly broker: string;
  readonly haPrefix: string;
  readonly homeassistant: boolean;
  readonly outletSwitches: boolean;
  readonly maxPayload: number;
  readonly roles: ReadonlyMap<string, string>;
  readonly sharedUser: string;
  readonly reconnectMin: number;
  readonly reconnectMax: number;
}

/** `alice=operator, bob=viewer` → user → role. @throws Error naming a bad entry */
export function parseRoles(entries: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of entries) {
    const m = /^([A-Za-z0-9._@-]{1,64})=(viewer|operator|admin)$/.exec(e);
    if (!m) throw new Error(`[plugins.mqtt] roles: "${e}" is not USER=viewer|operator|admin (a user is 1 to 64 letters, digits and . _ @ -)`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

/** The plugin's copy of the lab, kept current by events between full re-reads. */
interface Lab {
  /** By name, in the daemon's order. */
  readonly servers: Map<string, ServerStatus>;
  readonly devices: Map<string, DeviceStatus>;
  /** DEVICE/N → the servers it feeds. */
  readonly feeds: Map<string, string[]>;
}

/** What an event changed: only these topics are made again and compared. */
interface Changed {
  readonly servers?: Iterable<string>;
  /** A device's own state; with `outlets: true`, every outlet of it as well. */
  readonly device?: { readonly id: string; readonly outlets: boolean };
  readonly outlet?: { readonly device: string; readonly outlet: number };
  readonly ups?: true;
}

/** How soon after an event the lab is read whole again (at most once per this, whatever the burst). */
const REFRESH_MS = 250;

interface Pending {
  readonly topic: string;
  readonly correlation?: Buffer;
  readonly requestId: string | null;
}

let client: MqttClient | null = null;
let stopped = false;

export async function start(ctx: PluginContext): Promise<void> {
  stopped = false;
  const c = ctx.config;
  const s: Settings = {
    names: { prefix: String(c.prefix), gateway: String(c.gateway) },
    broker: String(c.broker),
    haPrefix: String(c.homeassistant_prefix),
    homeassistant: c.homeassistant === true,
    outletSwitches: c.outlet_switches === true,
    maxPayload: Number(c.max_payload),
    roles: parseRoles(c.roles as readonly string[]),
    sharedUser: String(c.shared_topic_user),
    reconnectMin: Number(c.reconnect_min),
    reconnectMax: Number(c.reconnect_max),
  };
  if (s.sharedUser && !s.roles.has(s.sharedUser)) ctx.log.warn('shared_topic_user is not in roles: commands on the plain topics will be refused', { user: s.sharedUser });
  const version = packageVersion();

  // What the dashboard and `ockle mqtt status` show; never a secret.
  const stats = { connection: 'connecting', lastError: null as string | null, connectedAt: null as string | null, connects: 0, published: 0, commands: 0, refused: 0, lastResyncMs: null as number | null };
  const report = (): void =>
    ctx.status({ broker: s.broker, gateway: s.names.gateway, connection: stats.connection, lastError: stats.lastError, connectedAt: stats.connectedAt, connects: stats.connects, published: stats.published, commands: stats.commands, refused: stats.refused, lastResyncMs: stats.lastResyncMs });
  report();

  const tls: Partial<IClientOptions> = {};
  for (const [key, opt] of [['ca_file', 'ca'], ['cert_file', 'cert'], ['key_file', 'key']] as const) {
    const file = String(c[key] ?? '');
    if (!file) continue;
    try {
      tls[opt] = readFileSync(file);
    } catch (err) {
      throw new Error(`[plugins.mqtt] ${key} = ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; give a readable PEM file`);
    }
  }
  const v5 = c.protocol === '5';
  const will = availabilityTopic(s.names);
  const mq = connect(s.broker, {
    clientId: String(c.client_id) || `ockle-${s.names.gateway}`,
    ...(c.username ? { username: String(c.username) } : {}),
    ...(typeof c.password === 'string' && { password: c.password }),
    protocolVersion: v5 ? 5 : 4,
    // A new session at start: commands queued for this gateway before the daemon started
    // (while it was stopped) are dropped, never run at start. From the first connection on,
    // the session is kept (clean off): commands sent during a broker or network blip wait
    // for the gateway. (With 3.1.1 a clean session ends with its connection, so the first
    // blip's commands are lost; every later one is kept.)
    clean: true,
    ...(v5 && { properties: { sessionExpiryInterval: 86_400 } }),
    keepalive: Math.round(Number(c.keepalive) / 1000),
    reconnectPeriod: s.reconnectMin,
    connectTimeout: 10_000,
    will: { topic: will, payload: Buffer.from('offline'), qos: 1, retain: true },
    ...tls,
  });
  client = mq;

  // ---- other gateways (follow, and federation: docs/mqtt.md) -----------------------------
  const GATEWAY = /^[A-Za-z0-9_-]{1,64}$/;
  const follow = (c.follow as readonly string[] | undefined ?? []).filter((g) => g !== s.names.gateway);
  for (const g of follow) if (!GATEWAY.test(g)) throw new Error(`[plugins.mqtt] follow: "${g}" is not a gateway name (1 to 64 letters, digits, _ and -)`);
  /** Who this gateway is in the topics of its requests to other gateways (their roles name it). */
  const me = String(c.username ?? '') || s.names.gateway;
  if (/[/+#\s]/.test(me)) throw new Error(`[plugins.mqtt] username: "${me}" cannot be a topic level (no /, +, # or spaces); requests to other gateways name it`);
  const followed = new Map<string, Followed>(follow.map((g) => [g, { availability: null, servers: new Map() }]));
  /** Gateways whose `needs` names a server of ours (their servers may depend on ours), and those ours depend on. */
  const needing = new Set<string>();
  let dependedOn = new Set<string>();
  /** Gateways whose states are subscribed on this connection. */
  const subscribed = new Set<string>();
  /** Requests sent to other gateways and not finally answered yet. */
  const asked = new Set<string>();

  /** Follows every gateway that matters now: subscribes to its availability and server states. */
  const followMore = (): void => {
    for (const g of [...follow, ...dependedOn, ...needing]) if (g !== s.names.gateway && !followed.has(g)) followed.set(g, { availability: null, servers: new Map() });
    if (!online) return;
    const fresh = [...followed.keys()].filter((g) => !subscribed.has(g));
    if (fresh.length === 0) return;
    for (const g of fresh) subscribed.add(g);
    // QoS 0, as the resync's inventory (below): a gateway of over ~1000 servers sends more
    // retained states at once than Mosquitto queues for a QoS 1 subscriber, and the rest would be
    // dropped. Retained states need no queue: a reconnect forgets them and subscribes again.
    mq.subscribeAsync(fresh.flatMap((g) => [`${s.names.prefix}/${g}/availability`, `${s.names.prefix}/${g}/server/+/state`]), { qos: 0 }).catch((err: unknown) => {
      for (const g of fresh) subscribed.delete(g);
      stats.lastError = `subscribing to gateways ${fresh.join(', ')}: ${(err as Error).message}`;
      report();
    });
  };

  /**
   * Tells the daemon what the broker says of other gateways after every change: the first change
   * of a turn at once (that is the latency a waiting sequence sees), the rest of a burst (the
   * retained states after a connect) once, at the end of the turn.
   */
  let federationQueued = false;
  let federationSentThisTurn = false;
  const federation = (): void => {
    if (federationQueued || stopped) return;
    if (federationSentThisTurn) {
      federationQueued = true;
      setImmediate(() => {
        federationQueued = false;
        federationSentThisTurn = false;
        sendFederation();
      });
      return;
    }
    federationSentThisTurn = true;
    setImmediate(() => {
      if (!federationQueued) federationSentThisTurn = false;
    });
    sendFederation();
  };
  /**
   * Followed servers (GATEWAY:SERVER) changed or gone since the daemon was last told. The daemon
   * is told everything once (after a start, a reconnect, or a call that failed), then only
   * these: a followed gateway of 1500 servers made every one of its state changes a message of
   * 1500 servers to the daemon, and a diff of them there.
   */
  const changedRefs = new Set<string>();
  let toldWhole = false;
  let retryTell: NodeJS.Timeout | null = null;
  const sendFederation = (): void => {
    if (stopped) return;
    const connected = mq.connected && online;
    const whole = !toldWhole;
    const entry = (gateway: string, name: string, st: FollowedServer) => ({ gateway, name, ...st, dependencies: [...st.dependencies] });
    const servers = whole ? [...followed].flatMap(([gateway, f]) => [...f.servers].map(([name, st]) => entry(gateway, name, st))) : [];
    const removed: string[] = [];
    if (!whole)
      for (const ref of changedRefs) {
        const at = ref.indexOf(':');
        const st = followed.get(ref.slice(0, at))?.servers.get(ref.slice(at + 1));
        if (st) servers.push(entry(ref.slice(0, at), ref.slice(at + 1), st));
        else removed.push(ref);
      }
    changedRefs.clear();
    toldWhole = true;
    ctx
      .call('remote-state', {
        connected,
        error: connected ? null : stats.lastError,
        gateways: Object.fromEntries([...followed].map(([g, f]) => [g, f.availability])),
        servers,
        ...(!whole && { partial: true, removed }),
      })
      .catch((err: unknown) => {
        if (stopped) return;
        // What the daemon holds is unsure now: it is told everything again, shortly.
        toldWhole = false;
        retryTell ??= setTimeout(() => {
          retryTell = null;
          federation();
        }, 1000).unref();
        stats.lastError = `telling the daemon of other gateways: ${(err as Error).message}`;
        report();
      });
  };
  const answer = (requestId: string, status: string, actionId: string | null, error: { code: string; message: string } | null): void => {
    if (!['accepted', 'duplicate'].includes(status)) asked.delete(requestId);
    ctx.call('remote-reply', { requestId, status, actionId, error }).catch((err: unknown) => ctx.log.warn('a remote reply could not be handed to the daemon', { requestId, err: (err as Error).message }));
  };
  // A sequence here asks another gateway to switch one of its servers: a command as this
  // gateway's user, which that gateway's roles must allow; the reply comes back on …/reply.
  ctx.on('remote.request', (e) => {
    if (!mq.connected || !online) return answer(e.requestId, 'refused', null, { code: 'OCKLE_REMOTE_UNREACHABLE', message: `not connected to the broker${stats.lastError ? ` (${stats.lastError})` : ''}` });
    asked.add(e.requestId);
    if (asked.size > 1000) asked.delete(asked.values().next().value!);
    const topic = remoteSetTopic(s.names.prefix, e.gateway, me, e.server);
    ctx.log.info('asking another gateway', { topic, action: e.action, requestId: e.requestId, for: e.for });
    mq.publishAsync(topic, JSON.stringify({ action: e.action, reason: e.reason.slice(0, 500), request_id: e.requestId }), { qos: 1 }).catch((err: unknown) =>
      answer(e.requestId, 'refused', null, { code: 'OCKLE_REMOTE_UNREACHABLE', message: `the request could not be published: ${(err as Error).message}` }),
    );
  });

  // ---- state out ------------------------------------------------------------------------
  /** What the broker holds from us, as far as we know: topic → payload. */
  const published = new Map<string, string>();
  let lab: Lab | null = null;
  let refreshing: Promise<void> | null = null;
  let again = false;
  let online = false;

  /** Sends one retained message; a failure forgets the topic (sent again at the next change or resync) and is told in the status. */
  const publish = (topic: string, payload: string): Promise<void> =>
    mq.publishAsync(topic, payload, { qos: 1, retain: true }).then(
      () => void stats.published++,
      (err: unknown) => {
        if (payload !== '') published.delete(topic);
        if (!stopped) {
          stats.lastError = `publishing ${topic}: ${(err as Error).message}`;
          report();
        }
      },
    );

  /** Every UPS (docs/ups.md): read whole with the lab, kept current by `ups.changed` between. */
  const ups = new Map<string, UpsStatus>();
  /** Which readings a UPS reports decides its Home Assistant sensors. */
  const upsShape = (u: UpsStatus | undefined): string => (u ? [u.chargePct, u.runtimeS, u.loadPct, u.inputVolts].map((x) => (x === null ? 0 : 1)).join('') : '');
  ctx.on('ups.changed', (e) => {
    const reshaped = upsShape(ups.get(e.ups.name)) !== upsShape(e.ups);
    ups.set(e.ups.name, e.ups);
    upsSinceRead?.push(e.ups);
    if (reshaped) sync();
    else syncChanged({ ups: true });
  });

  let statusTimer: NodeJS.Timeout | null = null;
  /** Home Assistant configs depend on the lab's shape only: made again by a full re-read, not per event. */
  let discovery = new Map<string, string>();
  /** The lab's shape the configs in `discovery` were made for (discoveryShape, as JSON). */
  let discoveryOf = '';
  /** Acknowledgements of the last sync's messages (a resync waits for them). */
  let acked: Promise<unknown> = Promise.resolve();

  /** Sends what differs from `published`; with `clear`, also empties what `want` lacks. */
  const send = (want: ReadonlyMap<string, string>, clear: boolean): void => {
    const sends: Promise<void>[] = [];
    for (const [topic, payload] of want)
      if (published.get(topic) !== payload) {
        published.set(topic, payload);
        sends.push(publish(topic, payload));
      }
    if (clear)
      for (const topic of [...published.keys()])
        if (!want.has(topic)) {
          published.delete(topic);
          sends.push(publish(topic, ''));
        }
    if (sends.length > 0) {
      acked = Promise.all(sends);
      // The published count in the status: told at most once a second, not per message.
      statusTimer ??= setTimeout(() => {
        statusTimer = null;
        if (!stopped) report();
      }, 1000).unref();
    }
  };

  /**
   * The whole lab: publishes what differs between it and `published`, and clears (empty
   * retained message: the state, or the HA entity) what the lab no longer has. Synchronous up
   * to the sends: mqtt.js keeps their order on the connection, and nothing waits for the
   * broker's acknowledgements before the next change goes out.
   */
  const sync = (): void => {
    if (!lab || !online) return;
    const servers = [...lab.servers.values()];
    const devices = [...lab.devices.values()];
    if (s.homeassistant) {
      const shape = discoveryShape(servers, devices, [...ups.values()]);
      const key = JSON.stringify(shape);
      if (key !== discoveryOf) {
        discoveryOf = key;
        discovery = discoveryFromShape(s.names, { haPrefix: s.haPrefix, outletSwitches: s.outletSwitches, version }, shape);
      }
    }
    const want = stateMessages(s.names, servers, devices);
    for (const [t, p] of upsMessages(s.names, [...ups.values()])) want.set(t, p);
    for (const [t, p] of discovery) want.set(t, p);
    send(want, true);
  };

  /**
   * What one event changed: only its topics are made again (an outlet, the servers it feeds,
   * its device), so an event costs the same on a lab of 5 servers or 1000. Home Assistant
   * configs change with the lab's shape only, and are left to the full re-read.
   */
  const syncChanged = (c: Changed): void => {
    if (!lab || !online) return;
    const want = new Map<string, string>();
    for (const name of c.servers ?? []) {
      const sv = lab.servers.get(name);
      if (sv) want.set(serverTopic(s.names, name), serverPayload(sv));
    }
    const owner = (device: string, outlet: number): string | null => outletOwner(lab!.feeds, device, outlet);
    if (c.outlet) {
      const o = lab.devices.get(c.outlet.device)?.outlets.find((x) => x.outlet === c.outlet!.outlet);
      if (o) want.set(outletTopic(s.names, c.outlet.device, o.outlet), outletPayload(o, owner(c.outlet.device, o.outlet)));
    }
    if (c.device) {
      const d = lab.devices.get(c.device.id);
      if (d) {
        if (c.device.outlets) for (const o of d.outlets) want.set(outletTopic(s.names, d.id, o.outlet), outletPayload(o, owner(d.id, o.outlet)));
        want.set(deviceTopic(s.names, d.id), devicePayload(d));
      }
    }
    if (c.ups) for (const [t, p] of upsMessages(s.names, [...ups.values()])) want.set(t, p);
    send(want, false);
  };

  /**
   * An event changes the cached lab at once and what changed goes out (no round trip to the
   * daemon first: that is the latency other gateways wait on); a full re-read follows.
   */
  const patch = (fn: (l: Lab) => Changed): void => {
    if (lab) syncChanged(fn(lab));
    // Applied again to the snapshot a re-read under way brings back (see refresh).
    sinceRead?.push(fn);
    refreshSoon();
  };
  const setServer = (l: Lab, name: string, fn: (sv: ServerStatus) => ServerStatus): Changed => {
    const sv = l.servers.get(name);
    if (sv) l.servers.set(name, fn(sv));
    return { servers: [name] };
  };
  const setDevice = (l: Lab, id: string, outlets: boolean, fn: (d: DeviceStatus) => DeviceStatus): Changed => {
    const d = l.devices.get(id);
    if (d) l.devices.set(id, fn(d));
    return { device: { id, outlets } };
  };
  ctx.on('outlet.changed', (e) =>
    patch((l) => {
      const fed = l.feeds.get(`${e.device}/${e.outlet}`) ?? [];
      for (const name of fed) setServer(l, name, (sv) => ({ ...sv, outlets: sv.outlets.map((o) => (o.device === e.device && o.outlet === e.outlet ? { ...o, power: e.power } : o)) }));
      setDevice(l, e.device, false, (d) => ({ ...d, outlets: d.outlets.map((o) => (o.outlet === e.outlet ? { ...o, power: e.power } : o)) }));
      return { servers: fed, outlet: { device: e.device, outlet: e.outlet } };
    }),
  );
  ctx.on('server.changed', (e) => patch((l) => setServer(l, e.server, (sv) => ({ ...sv, state: e.state, reason: e.reason }))));
  ctx.on('test.changed', (e) => patch((l) => setServer(l, e.server, (sv) => ({ ...sv, tests: sv.tests.map((t) => (t.name === e.test ? { ...t, result: e.result } : t)) }))));
  ctx.on('device.metered', (e) => patch((l) => setDevice(l, e.device, true, (d) => ({ ...d, outlets: d.outlets.map((o) => (e.readings[o.outlet] ? { ...o, reading: e.readings[o.outlet]! } : o)) }))));
  ctx.on('device.reachable', (e) => patch((l) => setDevice(l, e.device, false, (d) => ({ ...d, reachable: true, error: null }))));
  ctx.on('device.unreachable', (e) => patch((l) => setDevice(l, e.device, false, (d) => ({ ...d, reachable: false, error: e.message }))));
  // A reload may change the lab's shape: read it whole now. An action's start and end change
  // nothing the events above do not carry (its switches and states come as outlet, server and
  // test events): the throttled re-read is enough. Read at once, they made the daemon build its
  // whole status twice per action, and the worker compare every topic, right when the action's
  // changes were on their way to other gateways.
  ctx.on('config.reloaded', () => void refresh());
  for (const e of ['action.started', 'action.finished'] as const) ctx.on(e, () => refreshSoon());

  /**
   * After events, a full re-read (for what no event carries) follows within REFRESH_MS, once
   * for a whole burst: a lab-wide `on` of 1000 servers is thousands of events, and a re-read
   * per event would make the daemon build its whole status for each.
   */
  let refreshTimer: NodeJS.Timeout | null = null;
  const refreshSoon = (): void => {
    refreshTimer ??= setTimeout(() => {
      refreshTimer = null;
      if (!stopped) void refresh();
    }, REFRESH_MS).unref();
  };
  /** The events' changes since the re-read under way was asked for; null when none is. */
  let sinceRead: ((l: Lab) => Changed)[] | null = null;
  let upsSinceRead: UpsStatus[] | null = null;
  /**
   * Re-reads the lab and syncs it whole; a call during a run makes one more run, never a pile.
   *
   * An event that arrives while the lab is read may be newer than the snapshot, or already in
   * it: its change is applied again to the snapshot before anything is published. Each event
   * sets what it changed to its new value, so one already in the snapshot changes nothing, and
   * a newer one is never undone by an older snapshot (no flap back). Dropping such a snapshot
   * and reading again instead, as before, was a loop of whole-lab reads for as long as events
   * kept coming: a reconnect in the middle of a lab-wide sequence did not resynchronise (nor
   * say it was online) before the sequence ended, and asked the daemon for its whole status
   * back to back meanwhile.
   */
  const refresh = (): Promise<void> => {
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        again = false;
        try {
          sinceRead = [];
          upsSinceRead = [];
          const [servers, devices, upses] = await Promise.all([ctx.call('servers'), ctx.call('devices'), ctx.call('ups')]);
          const fresh: Lab = { servers: new Map(servers.map((sv) => [sv.name, sv])), devices: new Map(devices.map((d) => [d.id, d])), feeds: outletFeeds(servers) };
          for (const fn of sinceRead) fn(fresh);
          lab = fresh;
          dependedOn = new Set(servers.flatMap((sv) => sv.remoteDependencies.map((r) => r.slice(0, r.indexOf(':')))));
          followMore();
          ups.clear();
          for (const u of upses) ups.set(u.name, u);
          for (const u of upsSinceRead) ups.set(u.name, u);
          sync();
        } catch (err) {
          if (!stopped) {
            stats.lastError = `reading the lab: ${(err as Error).message}`;
            report();
          }
        } finally {
          sinceRead = null;
          upsSinceRead = null;
        }
      } while (again && !stopped);
      refreshing = null;
    })();
    return refreshing;
  };

  /**
   * On every connect: learn what the broker holds retained for this gateway (states, HA
   * configs), so that those the lab no longer has are cleared; then publish everything.
   * Retained messages are delivered right after the subscription, before a message published
   * after it, so a marker of our own ends the inventory.
   */
  const resync = async (): Promise<void> => {
    const t0 = performance.now();
    const filters = [`${base(s.names)}/+/+/state`, `${base(s.names)}/outlet/+/+/state`, ...(s.homeassistant ? [`${s.haPrefix}/+/ockle_${s.names.gateway.replace(/[^A-Za-z0-9_-]/g, '_')}/+/config`] : [])];
    const marker = `${base(s.names)}/resync`;
    const token = `${process.pid}-${Date.now()}-${Math.random()}`;
    const found = new Map<string, string>();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error('the broker did not return the resync marker within 10 s')), 10_000);
      const onMessage = (topic: string, payload: Buffer, packet: IPublishPacket): void => {
        if (topic === marker && payload.toString() === token) return done();
        if (packet.retain && payload.length > 0 && (isStateTopic(s.names, topic) || isDiscoveryTopic(s.names, s.haPrefix, topic))) found.set(topic, payload.toString());
      };
      const done = (err?: Error): void => {
        clearTimeout(timer);
        mq.off('message', onMessage);
        if (err) reject(err);
        else resolve();
      };
      mq.on('message', onMessage);
      // QoS 0: Mosquitto queues at most max_queued_messages (1000) QoS 1 messages for a client
      // beyond its in-flight window and silently drops the rest, so a lab of a few hundred
      // servers would lose part of its inventory (and never clear what it no longer has). At
      // QoS 0 the retained messages go straight to the socket; a connection lost meanwhile
      // fails the resync, and the next connect does it again.
      mq.subscribeAsync([...filters, marker], { qos: 0 })
        .then(() => mq.publishAsync(marker, token, { qos: 1 }))
        .catch((err: unknown) => done(err as Error));
    });
    await mq.unsubscribeAsync([...filters, marker]);
    // Everything is published again (the lab may have changed while we were away); what the
    // broker holds and the lab does not is cleared by the diff.
    published.clear();
    for (const t of found.keys()) published.set(t, '\u0000stale');
    await refresh();
    await acked;
    stats.lastResyncMs = Math.round(performance.now() - t0);
  };

  let wait = s.reconnectMin;
  mq.on('connect', () => {
    // A state change is a few small publishes in a row: with Nagle's algorithm on (mqtt.js
    // leaves it on) the second waits for the first's acknowledgement, up to a delayed ACK
    // (tens of ms). Send each at once.
    (mq.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    mq.options.clean = false;
    wait = s.reconnectMin;
    mq.options.reconnectPeriod = wait;
    stats.connection = 'connected';
    stats.connectedAt = new Date().toISOString();
    stats.connects++;
    report();
    ctx.log.info('connected to the MQTT broker', { broker: s.broker, gateway: s.names.gateway });
    void (async () => {
      try {
        online = false;
        // What was known of other gateways may have changed while away (a server removed there
        // leaves no message to say so): forget it; their retained states arrive again below.
        for (const f of followed.values()) {
          f.availability = null;
          f.servers.clear();
        }
        changedRefs.clear();
        toldWhole = false;
        subscribed.clear();
        await mq.subscribeAsync([...commandFilters(s.names), remoteReplyFilter(s.names.prefix, me)], { qos: 1 });
        // Every gateway's needs is retained: at QoS 0, so that a broker of over 1000 gateways
        // does not drop the rest of them (see followMore).
        await mq.subscribeAsync(`${s.names.prefix}/+/needs`, { qos: 0 });
        online = true;
        followMore();
        federation();
        await resync();
        // Online only once every state is current: a reader that sees online can trust them.
        await mq.publishAsync(will, 'online', { qos: 1, retain: true });
        report();
      } catch (err) {
        if (stopped) return;
        stats.lastError = `after connecting: ${(err as Error).message}`;
        report();
      }
    })();
  });
  mq.on('close', () => {
    online = false;
    if (stopped) return;
    federation();
    if (stats.connection === 'connected') ctx.log.warn('lost the MQTT broker; reconnecting', { broker: s.broker });
    stats.connection = 'reconnecting';
    // mqtt.js waits a fixed reconnectPeriod; doubling it here makes the backoff.
    mq.options.reconnectPeriod = wait;
    wait = Math.min(s.reconnectMax, wait * 2);
    report();
  });
  mq.on('error', (err) => {
    // Connection refused, bad credentials, TLS: mqtt.js keeps reconnecting; say why.
    stats.lastError = err.message;
    report();
    ctx.log.warn('MQTT error', { broker: s.broker, err: err.message });
  });

  // ---- commands in ----------------------------------------------------------------------
  const pending = new Map<string, Pending>();
  /** Request ids seen lately (QoS 1 may deliver twice): user + id → action id. */
  const seen = new Map<string, string>();

  const reply = (to: Pending, body: Record<string, unknown>): void => {
    const payload = JSON.stringify({ request_id: to.requestId, ...body });
    mq.publishAsync(to.topic, payload, { qos: 1, ...(to.correlation && { properties: { correlationData: to.correlation } }) }).catch((err: unknown) => ctx.log.warn('a reply could not be published', { topic: to.topic, err: (err as Error).message }));
  };

  const run = async (topic: string, cmd: Command, to: Pending): Promise<void> => {
    const user = cmd.user ?? s.sharedUser;
    const refused = (code: string, message: string): void => {
      stats.refused++;
      report();
      ctx.log.warn('MQTT command refused', { topic, user: user || null, code, message });
      reply(to, { ok: false, status: 'refused', error: { code, message } });
    };
    if (!user) return refused('OCKLE_AUTH_FORBIDDEN', `commands on ${topic} are not accepted: set [plugins.mqtt] shared_topic_user, or send on ${base(s.names)}/user/USER/…/set`);
    const role = s.roles.get(user);
    if (role !== 'operator' && role !== 'admin') return refused('OCKLE_AUTH_FORBIDDEN', `MQTT user ${user} ${role ? `has role ${role}` : 'has no role'}; switching needs operator ([plugins.mqtt] roles)`);
    const key = cmd.requestId ? `${user}\u0000${cmd.requestId}` : null;
    if (key && seen.has(key)) return reply(to, { ok: true, status: 'duplicate', action_id: seen.get(key) });
    const reason = cmd.reason ?? `MQTT ${topic}`;
    try {
      const rec: ActionRecord = await ctx.call('request-action', 'server' in cmd.target ? { kind: cmd.action, targets: [cmd.target.server], reason, by: user } : { kind: cmd.action, targets: [], outlets: [cmd.target], reason, by: user });
      stats.commands++;
      report();
      if (key) {
        seen.set(key, rec.id);
        if (seen.size > 1000) seen.delete(seen.keys().next().value!);
      }
      if (rec.status === 'running') pending.set(rec.id, to);
      reply(to, { ok: true, status: rec.status === 'running' ? 'accepted' : rec.status, action_id: rec.id });
    } catch (err) {
      const e = err as { code?: string; message: string };
      refused(e.code ?? 'OCKLE_COMMAND_FAILED', e.message);
    }
  };

  ctx.on('action.finished', ({ action }) => {
    const to = pending.get(action.id);
    if (!to) return;
    pending.delete(action.id);
    reply(to, { ok: action.status === 'ok', status: action.status, action_id: action.id, ...(action.error && { error: action.error }) });
  });

  mq.on('message', (topic, payload, packet) => {
    const f = followedTopic(s.names.prefix, topic);
    // A server name longer than the daemon takes (64) would make it refuse the whole report.
    if (f && followed.has(f[0]) && (f[1] === null || (f[1].length > 0 && f[1].length <= 64))) {
      const g = followed.get(f[0])!;
      if (f[1] === null) g.availability = payload.toString().slice(0, 32) || null;
      else {
        if (payload.length === 0) g.servers.delete(f[1]);
        else g.servers.set(f[1], parseFollowedState(payload));
        changedRefs.add(`${f[0]}:${f[1]}`);
      }
      return federation();
    }
    const needy = needsOf(s.names.prefix, topic);
    if (needy !== null) {
      if (needy === s.names.gateway || !GATEWAY.test(needy)) return;
      if (needsMe(payload, s.names.gateway)) needing.add(needy);
      else needing.delete(needy);
      followMore();
      return federation();
    }
    if (topic.endsWith('/reply')) {
      // A reply of another gateway to a request of ours; anything else on …/reply is not ours to read.
      try {
        const r = JSON.parse(payload.toString()) as { request_id?: unknown; status?: unknown; action_id?: unknown; error?: { code?: unknown; message?: unknown } | null };
        if (typeof r.request_id !== 'string' || !asked.has(r.request_id) || typeof r.status !== 'string') return;
        const e = r.error && typeof r.error === 'object' ? { code: String(r.error.code ?? 'OCKLE_REMOTE_FAILED'), message: String(r.error.message ?? '') } : null;
        answer(r.request_id, r.status, typeof r.action_id === 'string' ? r.action_id : null, e);
      } catch {
        // not JSON: not a reply of ockle's
      }
      return;
    }
    if (!topic.endsWith('/set')) return;
    const props = packet.properties;
    const rt = props?.responseTopic;
    const to: Pending = {
      topic: rt && responseTopicAllowed(s.names, s.haPrefix, rt) ? rt : fallbackReplyTopic(topic),
      ...(props?.correlationData && { correlation: Buffer.from(props.correlationData) }),
      requestId: null,
    };
    if (packet.retain) {
      // Delivered because it is retained (at subscribe time): a command someone left on the
      // broker, not one sent now. Running it would switch again on every reconnect.
      stats.refused++;
      report();
      return reply(to, { ok: false, status: 'refused', error: { code: 'OCKLE_REQUEST_INVALID', message: `a retained command on ${topic} is never run; publish commands without the retain flag` } });
    }
    const parsed = parseCommand(s.names, topic, payload, s.maxPayload);
    if (!parsed.ok) {
      stats.refused++;
      report();
      ctx.log.warn('MQTT command refused', { topic, code: parsed.code, message: parsed.message });
      return reply({ ...to, requestId: parsed.requestId }, { ok: false, status: 'refused', error: { code: parsed.code, message: parsed.message } });
    }
    void run(topic, parsed.command, { ...to, requestId: parsed.command.requestId });
  });

  ctx.command('remote', { description: 'The servers of the gateways this one follows ([plugins.mqtt] follow): state, serving, why; UNKNOWN while the gateway or the broker is offline.', role: 'viewer' }, () => ({
    servers: remoteView(followed, { connected: mq.connected && online, lastError: stats.lastError }),
    gateways: Object.fromEntries([...followed].map(([g, f]) => [g, f.availability])),
  }));
  ctx.command('status', { description: 'The MQTT connection: broker, state, last error, counters.', role: 'viewer' }, () => ({
    broker: s.broker,
    gateway: s.names.gateway,
    topics: base(s.names),
    ...stats,
    retainedTopics: published.size,
    pendingReplies: pending.size,
  }));
}

export async function stop(): Promise<void> {
  stopped = true;
  const mq = client;
  client = null;
  if (!mq) return;
  // A clean goodbye: the gateway says offline itself (the will is for a crash), then leaves.
  if (mq.connected) {
    const topic = (mq.options.will as { topic?: string } | undefined)?.topic;
    if (topic) await Promise.race([mq.publishAsync(topic, 'offline', { qos: 1, retain: true }).catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
  }
  await mq.endAsync(!mq.connected);
}
