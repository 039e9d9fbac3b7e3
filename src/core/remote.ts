/**
 * Servers of other gateways (federation, docs/mqtt.md). A server may depend on `GATEWAY:SERVER`;
 * the mqtt plugin carries what the broker says of those servers (their retained states, their
 * gateway's availability, which of them depend on servers here) into this store, and the
 * requests the sequencer sends them out. The broker is the distributed engine: nothing here
 * talks to another gateway, and nothing is guessed:
 * - a remote server is UNKNOWN while the plugin is not running, the broker is unreachable, its
 *   gateway is not online, or it never published a state; a sequence waits on UNKNOWN, it never
 *   starts a dependent or stops a dependency on it;
 * - its state is the one its own gateway published (retained), never derived here.
 */
import { RequestValidationError } from '../errors.js';
import { findCycle, parseRemoteRef } from '../graph.js';
import type { EventBus } from './event-bus.js';
import type { OckleEvents, RemoteServerStatus } from './model.js';

/** One server of another gateway, as the plugin reports it from its retained state topic. */
export interface RemoteServerReport {
  readonly gateway: string;
  readonly name: string;
  readonly state: string;
  readonly serving: boolean;
  /** on, off, mixed, unknown (its outlets as its gateway reads them). */
  readonly power: string;
  readonly reason: string;
  /** The action holding it on its gateway, if any. */
  readonly actionId: string | null;
  /** What it depends on, its gateway's words: `storage-1`, or `gw-a:storage-1` for a server here. */
  readonly dependencies: readonly string[];
}

/**
 * What the plugin knows, after every change: whole the first time (and after a reconnect), then
 * `partial`: only the servers that changed, and those gone. The connection and the gateways'
 * availability are always whole (a few values).
 */
export interface RemoteReport {
  /** Connected to the broker with every subscription in place. */
  readonly connected: boolean;
  /** Why not, when not. */
  readonly error: string | null;
  /** Gateway → its availability (`online`, `offline`), null before it was heard from. */
  readonly gateways: Readonly<Record<string, string | null>>;
  readonly servers: readonly RemoteServerReport[];
  /** `servers` are the changed ones only; the others stay as last told. */
  readonly partial?: boolean;
  /** With `partial`: servers no longer published (`GATEWAY:SERVER`). */
  readonly removed?: readonly string[];
}

/** A remote gateway's answer to a request (its mqtt reply), as the plugin forwards it. */
export interface RemoteReply {
  readonly requestId: string;
  /** accepted (running there), ok, failed, cancelled, interrupted, refused, duplicate. */
  readonly status: string;
  readonly actionId: string | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

/** What the sequencer works through (plugins/auto-control/sequencer.ts). */
export interface RemotePort {
  /** Remote servers `server` depends on (`GATEWAY:SERVER`), from its configuration. */
  dependencies(server: string): readonly string[];
  /** Remote servers that depend on `server`, as their gateways published it. */
  dependents(server: string): readonly string[];
  view(ref: string): RemoteServerStatus;
  /** How long `server` waits on another gateway before it fails ([servers] remote_timeout). */
  timeoutMs(server: string): number;
  /** Resolves at the next change of any remote state or reply, or when `signal` aborts (rejects then). */
  changed(signal: AbortSignal): Promise<void>;
  /** Asks `ref`'s gateway to switch it (through the mqtt plugin); answers the request id, whose replies `reply()` gives. */
  ask(ref: string, action: 'on' | 'off', why: { readonly actionId: string; readonly server: string; readonly reason: string }): string;
  /** The last reply to a request, null before the first. */
  reply(requestId: string): RemoteReply | null;
  /**
   * A dependency cycle across gateways through `server`, as far as the published dependencies
   * show it (`gw-a:x → gw-b:y → gw-a:x`), or null. No gateway's configuration check can see one:
   * each sees only its own part.
   */
  cycle(server: string): readonly string[] | null;
  /** What `server` waits on there, in words, shown with its state (null: no longer). */
  waiting(server: string, ref: string, why: string | null): void;
}

interface Known {
  readonly connected: boolean;
  readonly error: string | null;
  readonly gateways: ReadonlyMap<string, string | null>;
  /** Kept across partial reports (owned here: never handed out). */
  readonly servers: Map<string, RemoteServerReport>;
}

const nothing = (): Known => ({ connected: false, error: null, gateways: new Map(), servers: new Map() });

/** The remote servers the configuration names, and those the broker says depend on ours. */
export class RemoteLab implements RemotePort {
  readonly #events: EventBus<OckleEvents>;
  /** Local server → its remote dependencies. */
  #deps = new Map<string, readonly string[]>();
  /** Local server → its local dependencies (for cycles across gateways). */
  #localDeps = new Map<string, readonly string[]>();
  #timeouts = new Map<string, number>();
  /** This gateway's name on the broker ([plugins.mqtt] gateway); null without the plugin. */
  #gateway: string | null = null;
  #known: Known = nothing();
  /** Known servers that depend on one here (kept with #known, so a change costs O(1), not a scan). */
  #onUs = new Set<string>();
  /** Why nothing is known: the plugin is not running (null once it reports). */
  #silent: string | null = 'the mqtt plugin has not reported yet';
  #views = new Map<string, RemoteServerStatus>();
  readonly #replies = new Map<string, RemoteReply>();
  #waiters: (() => void)[] = [];
  #seq = 0;

  constructor(events: EventBus<OckleEvents>) {
    this.#events = events;
  }

  /** Takes a configuration's remote dependencies (at start and on every reload). */
  configure(
    servers: readonly { readonly name: string; readonly dependencies?: readonly string[]; readonly remoteDependencies: readonly string[]; readonly settings: { readonly remote_timeout: number } }[],
    gateway: string | null,
  ): void {
    this.#deps = new Map(servers.filter((s) => s.remoteDependencies.length > 0).map((s) => [s.name, s.remoteDependencies]));
    this.#localDeps = new Map(servers.map((s) => [s.name, s.dependencies ?? []]));
    this.#timeouts = new Map(servers.map((s) => [s.name, s.settings.remote_timeout]));
    this.#gateway = gateway;
    this.#onUs = new Set([...this.#known.servers.values()].filter((s) => this.#dependsOnUs(s)).map((s) => `${s.gateway}:${s.name}`));
    this.#refresh();
  }

  /** Whether any server here depends on another gateway. */
  get used(): boolean {
    return this.#deps.size > 0;
  }

  /** The plugin's view after each change: whole, or the servers that changed (`partial`). */
  update(r: RemoteReport): void {
    // Changes apply to a whole report only: after lost() (the plugin stopped, hung or was
    // restarted) one that came late would leave every server it does not name "not published".
    // Refused, the plugin sends the whole again.
    if (r.partial && this.#silent !== null) throw new RequestValidationError('remote-state: a partial report needs a whole one first (the mqtt plugin was not running since)');
    this.#silent = null;
    const servers = r.partial ? this.#known.servers : new Map<string, RemoteServerReport>();
    if (!r.partial) this.#onUs.clear();
    for (const ref of r.partial ? (r.removed ?? []) : []) {
      servers.delete(ref);
      this.#onUs.delete(ref);
    }
    for (const s of r.servers) {
      const ref = `${s.gateway}:${s.name}`;
      servers.set(ref, s);
      if (this.#dependsOnUs(s)) this.#onUs.add(ref);
      else this.#onUs.delete(ref);
    }
    this.#known = { connected: r.connected, error: r.error, gateways: new Map(Object.entries(r.gateways)), servers };
    this.#refresh();
  }

  /** The plugin stopped (or crashed, or was never started): every remote server is UNKNOWN. */
  lost(why: string): void {
    this.#silent = why;
    this.#known = nothing();
    this.#onUs.clear();
    this.#refresh();
  }

  #dependsOnUs(s: RemoteServerReport): boolean {
    return this.#gateway !== null && s.dependencies.some((d) => d.startsWith(`${this.#gateway}:`));
  }

  replied(r: RemoteReply): void {
    if (!this.#pending.has(r.requestId)) return;
    this.#replies.set(r.requestId, r);
    this.#wake();
  }

  readonly #pending = new Set<string>();
  /** Server here → remote server → why it waits on it. */
  readonly #waits = new Map<string, Map<string, string>>();

  waiting(server: string, ref: string, why: string | null): void {
    const m = this.#waits.get(server) ?? new Map<string, string>();
    if (why === null) m.delete(ref);
    else m.set(ref, why);
    if (m.size === 0) this.#waits.delete(server);
    else this.#waits.set(server, m);
  }

  /** What `server` waits on at other gateways, in words; null when nothing. */
  waitingOf(server: string): string | null {
    const m = this.#waits.get(server);
    return m ? [...m.values()].join('; ') : null;
  }

  dependencies(server: string): readonly string[] {
    return this.#deps.get(server) ?? [];
  }

  dependents(server: string): readonly string[] {
    if (this.#gateway === null) return [];
    const mine = `${this.#gateway}:${server}`;
    return [...this.#onUs].filter((ref) => this.#known.servers.get(ref)!.dependencies.includes(mine)).sort();
  }

  cycle(server: string): readonly string[] | null {
    if (this.#gateway === null || !this.#deps.size) return null;
    const me = this.#gateway;
    const q = (gw: string, d: string): string => (d.includes(':') ? d : `${gw}:${d}`);
    const nodes = [
      ...[...this.#localDeps].map(([name, deps]) => ({ name: `${me}:${name}`, dependencies: [...deps.map((d) => `${me}:${d}`), ...(this.#deps.get(name) ?? [])] })),
      ...[...this.#known.servers.values()].map((s) => ({ name: `${s.gateway}:${s.name}`, dependencies: s.dependencies.map((d) => q(s.gateway, d)) })),
    ];
    // Only what `server` needs, directly or not: a cycle elsewhere is not its problem.
    const deps = new Map(nodes.map((n) => [n.name, n.dependencies]));
    const reach = new Set<string>();
    const todo = [`${me}:${server}`];
    while (todo.length > 0) {
      const n = todo.pop()!;
      if (reach.has(n)) continue;
      reach.add(n);
      todo.push(...(deps.get(n) ?? []));
    }
    return findCycle(nodes.filter((n) => reach.has(n.name))) ?? null;
  }

  timeoutMs(server: string): number {
    return this.#timeouts.get(server) ?? 1_800_000;
  }

  view(ref: string): RemoteServerStatus {
    return this.#views.get(ref) ?? this.#derive(ref);
  }

  /** Every remote server that matters here: those named as dependencies, and remote dependents of ours. */
  list(): RemoteServerStatus[] {
    return [...this.#views.values()].sort((a, b) => a.ref.localeCompare(b.ref));
  }

  changed(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason as Error);
      const onAbort = (): void => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  ask(ref: string, action: 'on' | 'off', why: { readonly actionId: string; readonly server: string; readonly reason: string }): string {
    const r = parseRemoteRef(ref);
    if (!r) throw new Error(`"${ref}" is not GATEWAY:SERVER`);
    const requestId = `${why.actionId}-${++this.#seq}`;
    this.#pending.add(requestId);
    // Bounded: a request older than the last thousand is no longer waited on.
    if (this.#pending.size > 1000) {
      const oldest = this.#pending.values().next().value!;
      this.#pending.delete(oldest);
      this.#replies.delete(oldest);
    }
    this.#events.emit('remote.request', { requestId, gateway: r.gateway, server: r.server, action, reason: why.reason, actionId: why.actionId, for: why.server });
    return requestId;
  }

  reply(requestId: string): RemoteReply | null {
    return this.#replies.get(requestId) ?? null;
  }

  #derive(ref: string): RemoteServerStatus {
    const r = parseRemoteRef(ref)!;
    const base = { ref, gateway: r.gateway, server: r.server, neededBy: [...this.#deps].filter(([, d]) => d.includes(ref)).map(([n]) => n), dependsOnHere: this.#dependsOnHere(ref) };
    const unknown = (reason: string): RemoteServerStatus => ({ ...base, state: 'UNKNOWN', serving: false, power: 'unknown', reason, actionId: null });
    if (this.#silent !== null) return unknown(this.#silent);
    const k = this.#known;
    if (!k.connected) return unknown(`the MQTT broker is unreachable${k.error ? ` (${k.error})` : ''}`);
    const avail = k.gateways.get(r.gateway);
    if (avail !== 'online') return unknown(`gateway ${r.gateway} is ${avail ?? 'not heard from'}`);
    const s = k.servers.get(ref);
    if (!s) return unknown(`gateway ${r.gateway} publishes no server ${r.server}`);
    return { ...base, state: s.state, serving: s.serving, power: s.power, reason: s.reason, actionId: s.actionId };
  }

  #dependsOnHere(ref: string): readonly string[] {
    const s = this.#known.servers.get(ref);
    if (!s || this.#gateway === null) return [];
    const prefix = `${this.#gateway}:`;
    return s.dependencies.filter((d) => d.startsWith(prefix)).map((d) => d.slice(prefix.length));
  }

  /** Derives every view again, tells what changed (`remote.changed`), and wakes the waiters. */
  #refresh(): void {
    const refs = new Set<string>([...this.#deps.values()].flat());
    for (const ref of this.#onUs) refs.add(ref);
    const next = new Map<string, RemoteServerStatus>();
    for (const ref of [...refs].sort()) {
      const v = this.#derive(ref);
      next.set(ref, v);
      const before = this.#views.get(ref);
      if (!before || before.state !== v.state || before.reason !== v.reason || before.serving !== v.serving || before.power !== v.power)
        this.#events.emit('remote.changed', { server: v, previous: before?.state ?? null });
    }
    this.#views = next;
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}
