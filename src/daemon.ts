/**
 * Composition root: the only place that news up the world.
 *
 * Start: load and validate config → open the journal → create drivers → read every outlet
 * (never write) → start monitoring → start the API → tell systemd READY.
 * SIGTERM/SIGINT stop cleanly without switching anything; SIGHUP reloads only a config that
 * validates, otherwise the daemon keeps running on the old one and logs why.
 */
import { randomBytes, createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import { defaultRegistry, type DriverRegistry } from '../drivers/registry.js';
import { sequencerFrom } from '../plugins/auto-control/index.js';
import { builtinPluginTemplates, mainThreadPlugins, workerPlugins } from '../plugins/registry.js';
import type { Template } from './config/types.js';
import { pluginHandler } from './plugin-host/bridge.js';
import { PluginHost } from './plugin-host/host.js';
import type { DriverContext, OutletDevice, Power, ServerBinding, SwitchAction } from '../drivers/types.js';
import { Auth } from './api/auth.js';
import { createApi, type PluginStatus } from './api/server.js';
import { checkConfig, type Config, type DeviceConfig, type ServerConfig } from './config/load.js';
import { API_INFO_FILE, LOCAL_TOKEN_FILE, type ApiInfo } from './config/paths.js';
import { DeviceQueue } from './core/device-queue.js';
import { EventBus } from './core/event-bus.js';
import type { ActionQuery, Gateway, Health } from './core/gateway.js';
import { ActionJournal } from './core/journal.js';
import type { ActionRequest, OckleEvents } from './core/model.js';
import { Runtime, type RuntimeCarry, type RuntimeDevice, type RuntimeServer, type ServerCarry } from './core/runtime.js';
import { fingerprint } from './config/fingerprint.js';
import { ConfigError, formatProblem, OckleError, toOckleError } from './errors.js';
import { createLogger } from './log.js';
import { createNotifier, type Notifier } from './systemd.js';
import { packageVersion } from './version.js';
import { releaseSignals, takeSignals } from './signals.js';

export interface DaemonOptions {
  readonly configDir: string;
  /** Logger to use (tests pass one writing to a sink). */
  readonly log?: Logger;
  readonly registry?: DriverRegistry;
  /** Overrides `[api] port` (tests use 0 for a free port). */
  readonly port?: number;
  /** Start the periodic polls and test runs (default true). */
  readonly monitor?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  /** Worker plugins besides the bundled ones (tests enable fixture plugins this way). */
  readonly extraPlugins?: ReadonlyMap<string, ExtraPlugin>;
}

export interface ExtraPlugin {
  readonly module: string;
  readonly description: string;
  readonly config: Template;
}

function pluginTemplates(extra: DaemonOptions['extraPlugins']): ReadonlyMap<string, Template> {
  return new Map([...builtinPluginTemplates, ...[...(extra ?? [])].map(([n, p]) => [n, p.config] as const)]);
}

/** An outlet device that opens itself on first use, so a device that is down at start is retried by the polls. */
class OpenOnDemand implements OutletDevice {
  readonly #inner: OutletDevice;
  #opened = false;
  constructor(inner: OutletDevice) {
    this.#inner = inner;
  }
  get id(): string {
    return this.#inner.id;
  }
  get caps(): OutletDevice['caps'] {
    return this.#inner.caps;
  }
  get outletCount(): number {
    return this.#inner.outletCount;
  }
  async open(signal: AbortSignal): Promise<void> {
    await this.#inner.open(signal);
    this.#opened = true;
  }
  async #ensure(signal: AbortSignal): Promise<void> {
    if (!this.#opened) await this.open(signal);
  }
  async read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>> {
    await this.#ensure(signal);
    return this.#inner.read(outlets, signal);
  }
  async switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    await this.#ensure(signal);
    return this.#inner.switch(outlet, action, signal);
  }
  get meter(): OutletDevice['meter'] {
    const m = this.#inner.meter;
    if (!m) return undefined;
    return async (outlets, signal) => {
      await this.#ensure(signal);
      return m.call(this.#inner, outlets, signal);
    };
  }
  info(): ReturnType<NonNullable<OutletDevice['info']>> {
    return this.#inner.info?.() ?? {};
  }
  async close(): Promise<void> {
    this.#opened = false;
    await this.#inner.close();
  }
}

/** What one configuration builds: drivers, queues and the runtime over them. */
interface World {
  readonly config: Config;
  readonly runtime: Runtime;
  readonly devices: readonly RuntimeDevice[];
  readonly servers: readonly RuntimeServer[];
}

/** Forwards to the current runtime, so a reload swaps the world under a running API. */
class GatewayProxy implements Gateway {
  constructor(
    readonly events: EventBus<OckleEvents>,
    private current: () => Runtime,
  ) {}
  health(): Health {
    return this.current().health();
  }
  servers() {
    return this.current().servers();
  }
  server(name: string) {
    return this.current().server(name);
  }
  tree() {
    return this.current().tree();
  }
  devices() {
    return this.current().devices();
  }
  actions(q?: ActionQuery) {
    return this.current().actions(q);
  }
  action(id: string) {
    return this.current().action(id);
  }
  request(req: ActionRequest) {
    return this.current().request(req);
  }
  plan(kind: 'on' | 'off', targets: readonly string[] | 'all') {
    return this.current().plan(kind, targets);
  }
  cancel(id: string, origin: string) {
    return this.current().cancel(id, origin);
  }
  waitFor(id: string, signal?: AbortSignal) {
    return this.current().waitFor(id, signal);
  }
  configProblems() {
    return this.current().configProblems();
  }
}

export class Daemon {
  readonly events: EventBus<OckleEvents>;
  readonly gateway: Gateway;
  readonly log: Logger;
  /** Resources shared between drivers (the simulated lab, serial buses) for the daemon's lifetime. */
  readonly #shared = new Map<string, unknown>();
  readonly #opts: DaemonOptions;
  readonly #registry: DriverRegistry;
  #journal!: ActionJournal;
  #world!: World;
  readonly #plugins = new Map<string, PluginHost>();
  readonly #workerPlugins: ReadonlyMap<string, { readonly module: string; readonly description: string }>;
  #api: FastifyInstance | null = null;
  #auth: Auth | null = null;
  #url = '';
  #reloading: Promise<boolean> | null = null;
  /** The one reload that follows the current one (see reload()). */
  #reloadAgain: Promise<boolean> | null = null;
  #stopping: Promise<void> | null = null;

  private constructor(opts: DaemonOptions, log: Logger) {
    this.#opts = opts;
    this.log = log;
    this.#registry = opts.registry ?? defaultRegistry();
    this.#workerPlugins = new Map([...workerPlugins, ...(opts.extraPlugins ?? [])]);
    this.events = new EventBus<OckleEvents>((err, name) =>
      log.error({ err: toOckleError(err).message, event: name }, 'event listener threw'),
    );
    this.gateway = new GatewayProxy(this.events, () => this.#world.runtime);
  }

  /** The loaded configuration (frozen). */
  get config(): Config {
    return this.#world.config;
  }
  /** The API's base URL, e.g. `http://127.0.0.1:8420`. */
  get url(): string {
    return this.#url;
  }
  /** A driver-shared resource by key (tests reach the simulated lab through `shared('sim-world')`). */
  shared<T>(key: string): T | undefined {
    return this.#shared.get(key) as T | undefined;
  }

  /**
   * Starts a daemon. Throws ConfigError (with every problem) before touching any device when
   * the configuration is invalid.
   */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { problems, config } = await checkConfig(opts.configDir, { drivers: opts.registry ?? defaultRegistry(), plugins: pluginTemplates(opts.extraPlugins) });
    if (!config) throw new ConfigError(problems);
    const log = opts.log ?? createLogger({ level: config.daemon.log_level });
    const d = new Daemon(opts, log);
    for (const w of config.warnings) log.warn({ file: w.file, line: w.line }, formatProblem(w));
    await d.#start(config);
    return d;
  }

  async #start(config: Config): Promise<void> {
    const t0 = performance.now();
    // 1. The journal first: an action the previous process left unfinished is visible at once.
    await mkdir(config.stateDir, { recursive: true, mode: 0o750 });
    this.#journal = await ActionJournal.open(config.stateDir, {
      onTrouble: (message, err) => {
        if (err) this.log.error({ code: err.code, hint: err.hint }, `${message}: new actions are refused until it can write`);
        else this.log.info(message);
      },
    });
    for (const r of this.#journal.repairs) this.log.warn(r);
    for (const a of this.#journal.interruptedOnOpen)
      this.log.warn({ actionId: a.id, kind: a.kind, targets: a.targets }, 'action was interrupted by the previous stop');
    // 2. Drivers and the real states: read, never written.
    this.#world = this.#build(config);
    await this.#world.runtime.adopt();
    void this.#world.runtime.testAll();
    if (this.#opts.monitor !== false) this.#world.runtime.startMonitoring();
    // 3. Faces last: nobody can ask for an action before the states are known.
    await this.#startApi(config);
    // Worker plugins last: their threads load while the API already answers.
    await this.#startPlugins(config);
    this.log.info(
      { servers: this.#world.servers.length, devices: this.#world.devices.length, url: this.#url, ms: Math.round(performance.now() - t0) },
      'ockle ready',
    );
    this.log.info(
      { dashboard: `${this.#url}/` },
      config.api.local_token
        ? `dashboard: ${this.#url}/ (sign in with the admin token in ${join(config.stateDir, LOCAL_TOKEN_FILE)}; \`ockle token new NAME --role viewer\` makes others)`
        : `dashboard: ${this.#url}/ (sign in with a token from \`ockle token new NAME --role viewer|operator|admin\`)`,
    );
  }

  /**
   * Builds the world of a configuration. On a reload, `keep` hands over the driver objects of
   * the devices and servers whose configuration did not change (open, with their queues) and
   * what the previous runtime knew about them.
   */
  #build(config: Config, keep?: Keep): World {
    const ctxFor = (id: string, server?: ServerBinding): DriverContext => ({
      id,
      log: this.log.child({ driver: id }),
      stateDir: config.stateDir,
      ...(server && { server }),
      shared: <T>(key: string, init: () => T): T => {
        if (!this.#shared.has(key)) this.#shared.set(key, init());
        return this.#shared.get(key) as T;
      },
    });
    const devices: RuntimeDevice[] = config.devices.map((dc) => {
      const kept = keep?.devices.get(dc.id);
      if (kept) return kept;
      const def = this.#registry.get('outlet', dc.type);
      if (!def) throw new Error(`outlet driver "${dc.type}" vanished from the registry`);
      const device = new OpenOnDemand(def.create(dc.spec as never, ctxFor(dc.id)));
      const concurrency = Math.min(device.caps.maxConcurrency, dc.common.concurrency ?? Infinity);
      return {
        id: dc.id,
        type: dc.type,
        description: dc.common.description,
        device,
        queue: new DeviceQueue({
          device: `${dc.type} "${dc.id}"`,
          concurrency,
          timeoutMs: dc.common.timeout,
          retries: dc.common.retries,
        }),
        pollIntervalMs: dc.common.poll_interval,
        cycleDelayMs: dc.common.cycle_delay,
        confirmTimeoutMs: dc.common.confirm_timeout,
        staggerMs: dc.common.stagger,
      };
    });
    const servers: RuntimeServer[] = config.servers.map((sc) => {
      const binding: ServerBinding = {
        name: sc.name,
        host: sc.host,
        outlets: sc.outlets.map((o) => ({ device: o.device, outlet: o.outlet })),
      };
      const kept = keep?.servers.get(sc.name);
      return {
        name: sc.name,
        description: sc.description,
        host: sc.host,
        testIntervalMs: sc.settings.test_interval,
        policy: {
          maxAttempts: sc.settings.max_attempts,
          bootTimeoutMs: sc.settings.boot_timeout,
          shutdownTimeoutMs: sc.settings.shutdown_timeout,
          testIntervalMs: sc.settings.test_interval,
          onShutdownTimeout: sc.settings.on_shutdown_timeout,
          keepaliveFailures: sc.keepaliveFailures,
        },
        outlets: sc.outlets.map((o) => ({ name: o.name, device: o.device, outlet: o.outlet })),
        controls:
          kept?.controls ??
          sc.controls.map((c) => {
            const def = this.#registry.get('controller', c.type)!;
            return { name: c.name, type: c.type, controller: def.create(c.spec as never, ctxFor(`${sc.name}/${c.name}`, binding)), timeoutMs: c.common.timeout };
          }),
        tests: kept?.tests ?? sc.tests.map((t) => {
          const def = this.#registry.get('tester', t.type)!;
          return {
            name: t.name,
            type: t.type,
            tester: def.create(t.spec as never, ctxFor(`${sc.name}/${t.name}`, binding)),
            timeoutMs: t.common.timeout,
          };
        }),
        dependencies: sc.dependencies,
      };
    });
    const runtime = new Runtime({
      devices,
      servers,
      journal: this.#journal,
      events: this.events,
      log: this.log,
      version: packageVersion(),
      configProblems: config.warnings,
      ...(keep && { carry: keep.carry }),
    });
    if (config.plugins.enabled.includes('auto-control'))
      runtime.setSequencer(sequencerFrom(config.plugins.settings.get('auto-control') as Parameters<typeof sequencerFrom>[0]));
    return { config, runtime, devices, servers };
  }

  /** Worker plugins: each in its own thread, supervised; a plugin never holds up the daemon. */
  async #startPlugins(config: Config, only?: ReadonlySet<string>): Promise<void> {
    for (const name of config.plugins.enabled) {
      const w = this.#workerPlugins.get(name);
      if (!w || (only && !only.has(name))) continue;
      const dataDir = join(config.stateDir, 'plugins', name);
      await mkdir(dataDir, { recursive: true, mode: 0o750 });
      const host = new PluginHost({
        name,
        module: w.module,
        dataDir,
        config: (config.plugins.settings.get(name) ?? {}) as Record<string, unknown>,
        log: this.log.child({ face: 'plugin' }),
        handle: pluginHandler(this.gateway, name),
        subscribe: (event, fn) => this.events.on(event as keyof OckleEvents, fn as never),
        onState: (state, detail) => this.events.emit('plugin.changed', { plugin: name, state, detail }),
        startTimeoutMs: config.plugins.startTimeoutMs,
        // Five heartbeats per hang_timeout: one late beat is never a hang.
        heartbeatMs: Math.max(20, Math.round(config.plugins.hangTimeoutMs / 5)),
        missedBeats: 5,
        stopTimeoutMs: config.plugins.stopTimeoutMs,
        maxMemoryMb: config.plugins.maxMemoryMb,
      });
      this.#plugins.set(name, host);
      host.start();
    }
  }

  async #stopPlugins(reason: string, only?: ReadonlySet<string>): Promise<void> {
    const stopping = [...this.#plugins].filter(([name]) => !only || only.has(name));
    await Promise.allSettled(stopping.map(([, h]) => h.stop(reason)));
    for (const [name] of stopping) this.#plugins.delete(name);
  }

  /** Every available plugin: the enabled ones with their state, the others `disabled`. */
  plugins(): PluginStatus[] {
    const enabled = this.#world.config.plugins.enabled;
    const known = [...new Set([...builtinPluginTemplates.keys(), ...this.#workerPlugins.keys()])];
    return [...enabled, ...known.filter((n) => !enabled.includes(n)).sort()].map((name) => {
      const worker = this.#workerPlugins.get(name);
      const h = this.#plugins.get(name);
      const where = worker ? ('worker' as const) : ('main thread' as const);
      const description = worker?.description ?? mainThreadPlugins.get(name) ?? '';
      if (!enabled.includes(name)) return { name, description, where, state: 'disabled', lastError: null, bugs: 0 };
      return h
        ? { name, description, where, state: h.state, lastError: h.lastError, bugs: h.bugs }
        : { name, description, where, state: 'running', lastError: null, bugs: 0 };
    });
  }

  async #startApi(config: Config): Promise<void> {
    const auth = (this.#auth = new Auth({ tokens: config.tokens, anonymousRole: config.api.anonymous_role }));
    if (config.api.local_token) auth.addLocalToken('local', await this.#localToken(config.stateDir));
    this.#api = createApi(this.gateway, {
      auth,
      config: {
        view: () => ({ dir: this.#world.config.dir, files: this.#world.config.view }),
        check: async (file, text) =>
          (await checkConfig(this.#opts.configDir, { drivers: this.#registry, plugins: pluginTemplates(this.#opts.extraPlugins), overrides: new Map([[file, text]]) })).problems,
      },
      log: this.log.child({ face: 'api' }),
      version: packageVersion(),
      plugins: {
        list: () => this.plugins(),
        restart: async (name) => this.#plugins.get(name)?.restart(),
        commands: () => [...this.#plugins.values()].flatMap((h) => h.commands()),
        invoke: (name, params) => {
          const host = this.#plugins.get(name.slice(0, name.indexOf('.')));
          return host ? host.invoke(name, params) : Promise.reject(new OckleError('OCKLE_NOT_FOUND', `no command "${name}"`));
        },
      },
    });
    const port = this.#opts.port ?? config.api.port;
    await this.#api.listen({ host: config.api.listen, port });
    const addr = this.#api.server.address();
    const actualPort = typeof addr === 'object' && addr ? addr.port : port;
    const host = config.api.listen.includes(':') ? `[${config.api.listen}]` : config.api.listen;
    this.#url = `http://${host}:${actualPort}`;
    const info: ApiInfo = { url: this.#url, pid: process.pid };
    await atomicWrite(join(config.stateDir, API_INFO_FILE), JSON.stringify(info) + '\n', 0o644);
  }

  /**
   * The local admin token for the CLI on this machine, kept in the state directory (0600) and
   * reused across restarts so scripts keep working; only its hash is held in memory.
   */
  async #localToken(stateDir: string): Promise<string> {
    const file = join(stateDir, LOCAL_TOKEN_FILE);
    let token = '';
    try {
      token = (await readFile(file, 'utf8')).trim();
    } catch {
      // absent: create below
    }
    if (!/^ockle_[A-Za-z0-9_-]{43}$/.test(token)) {
      token = `ockle_${randomBytes(32).toString('base64url')}`;
      await atomicWrite(file, token + '\n', 0o600);
    }
    return createHash('sha256').update(token).digest('hex');
  }

  /**
   * Reloads the configuration. A config with errors is rejected and the daemon keeps running
   * on the old one. A valid one is applied once no action is running; the new world reads the
   * real states (no switching) before it replaces the old one. Keys marked `restart` (API
   * address, state directory) keep their old values until the next restart.
   */
  reload(): Promise<boolean> {
    // A reload asked for while one is under way may come after that one read the files: it gets
    // a reload of its own once the current one ends (any number of them coalesce into one).
    if (this.#reloading) {
      if (!this.#reloadAgain) this.log.info('reload requested while another is under way: one more follows when it ends');
      this.#reloadAgain ??= this.#reloading.then(() => {
        this.#reloadAgain = null;
        return this.reload();
      });
      return this.#reloadAgain;
    }
    this.#reloading = this.#reload()
      .catch((err: unknown) => {
        // Whatever went wrong (a filesystem surprise, a driver that cannot be built), the
        // running configuration stays: a reload never takes the daemon down.
        const e = toOckleError(err);
        const message = `reload refused: ${e.message}; still running on the previous configuration`;
        this.log.error({ code: e.code }, message);
        this.events.emit('config.reloaded', { ok: false, message });
        return false;
      })
      .finally(() => (this.#reloading = null));
    return this.#reloading;
  }

  async #reload(): Promise<boolean> {
    const { problems, config } = await checkConfig(this.#opts.configDir, { drivers: this.#registry, plugins: pluginTemplates(this.#opts.extraPlugins) });
    if (!config) {
      const errors = problems.filter((p) => p.severity === 'error');
      for (const p of errors) this.log.error({ file: p.file, line: p.line }, formatProblem(p));
      const message = `reload refused: the new configuration has ${errors.length} error(s); still running on the previous one`;
      this.log.error({ errors: errors.length }, message);
      this.events.emit('config.reloaded', { ok: false, message });
      return false;
    }
    const old = this.#world;
    if (old.runtime.busy) this.log.info('reload waits for running actions to finish');
    await old.runtime.idle();
    const needRestart: string[] = [];
    if (config.stateDir !== old.config.stateDir) needRestart.push('[daemon] state_dir');
    if (config.api.listen !== old.config.api.listen || config.api.port !== old.config.api.port) needRestart.push('[api] listen/port');
    const effective: Config = needRestart.length === 0 ? config : { ...config, stateDir: old.config.stateDir, api: old.config.api };
    // What did not change is kept, open and known: its devices are not read again, its servers
    // keep their state and test results. Only changed or new devices start from UNKNOWN.
    const keep = keepUnchanged(old, effective);
    const carried = old.runtime.carry();
    const carry: RuntimeCarry = {
      startedAt: carried.startedAt,
      devices: new Map([...carried.devices].filter(([id]) => keep.devices.has(id))),
      servers: new Map(
        [...carried.servers].map(([name, c]): [string, ServerCarry] => [name, keep.servers.get(name)?.tests ? c : { state: c.state, failedRuns: 0 }]),
      ),
    };
    // Built before anything of the old world is closed: if building throws (a driver that
    // cannot be made), the reload is refused and the old world runs on untouched.
    const next = this.#build(effective, { ...keep, carry });
    await old.runtime.close();
    const keptDevices = new Set(keep.devices.values());
    await Promise.allSettled(old.devices.filter((d) => !keptDevices.has(d)).map((d) => (d.queue.close(), d.device.close())));
    await closeObjects(old.servers, keep);
    const plugins = changedPlugins(old.config, effective);
    await this.#stopPlugins('configuration reloaded', plugins);
    this.#world = next;
    const fresh = new Set(effective.devices.filter((dc) => !keep.devices.has(dc.id)).map((dc) => dc.id));
    const untested = new Set(effective.servers.filter((sc) => !keep.servers.get(sc.name)?.tests).map((sc) => sc.name));
    this.log.info(
      { kept: keep.devices.size, read: fresh.size, plugins: [...plugins] },
      `reload: ${keep.devices.size} device(s) kept as they are, ${fresh.size} read anew; plugins restarted: ${[...plugins].join(', ') || 'none'}`,
    );
    await this.#world.runtime.adopt(undefined, fresh);
    void this.#world.runtime.testAll(undefined, untested);
    if (this.#opts.monitor !== false) this.#world.runtime.startMonitoring();
    await this.#startPlugins(effective, plugins);
    // Tokens apply at once: one removed from ockle.ini stops working now, not at the next restart.
    this.#auth?.setTokens(effective.tokens, effective.api.anonymous_role);
    const message =
      needRestart.length === 0 ? 'configuration reloaded' : `configuration reloaded; ${needRestart.join(', ')} apply at the next restart`;
    this.log.info({ servers: this.#world.servers.length, devices: this.#world.devices.length }, message);
    this.events.emit('config.reloaded', { ok: true, message });
    return true;
  }

  /** Stops without switching anything: faces first, then actions, polls and devices. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#reloading;
      await this.#reloadAgain;
      await this.#stopPlugins('daemon stopping');
      await this.#api?.close();
      await this.#world.runtime.close();
      await Promise.allSettled(this.#world.devices.map((d) => (d.queue.close(), d.device.close())));
      await closeObjects(this.#world.servers);
      await this.#journal.close();
      await rm(join(this.#world.config.stateDir, API_INFO_FILE), { force: true });
      this.log.info('ockle stopped');
    })();
    return this.#stopping;
  }
}

async function closeObjects(servers: readonly RuntimeServer[], keep?: Keep): Promise<void> {
  await Promise.allSettled(
    servers.flatMap((s) => {
      const k = keep?.servers.get(s.name);
      return [...(k?.controls ? [] : s.controls.map((c) => c.controller.close?.())), ...(k?.tests ? [] : s.tests.map((t) => t.tester.close?.()))];
    }),
  );
}

/** What a reload hands from the old world to the new one. */
interface Keep {
  readonly devices: ReadonlyMap<string, RuntimeDevice>;
  /** Per server, the control and test objects kept (a part is absent when it changed). */
  readonly servers: ReadonlyMap<string, { readonly controls?: RuntimeServer['controls']; readonly tests?: RuntimeServer['tests'] }>;
  readonly carry?: RuntimeCarry;
}

const devicePrint = (dc: DeviceConfig): string => fingerprint({ type: dc.type, common: dc.common, spec: dc.spec });
// Controls and tests are bound to the server's host and outlets (a sim tester follows them).
const bindingPrint = (sc: ServerConfig): unknown => ({ host: sc.host, outlets: sc.outlets.map((o) => [o.device, o.outlet]) });
const controlsPrint = (sc: ServerConfig): string => fingerprint({ b: bindingPrint(sc), controls: sc.controls });
const testsPrint = (sc: ServerConfig): string => fingerprint({ b: bindingPrint(sc), tests: sc.tests });

/** The devices, controls and tests of `old` whose configuration is the same in `next`. */
function keepUnchanged(old: World, next: Config): Keep {
  const devices = new Map<string, RuntimeDevice>();
  for (const dc of next.devices) {
    const before = old.config.devices.find((d) => d.id === dc.id);
    if (before && devicePrint(before) === devicePrint(dc)) devices.set(dc.id, old.devices.find((d) => d.id === dc.id)!);
  }
  const servers = new Map<string, { controls?: RuntimeServer['controls']; tests?: RuntimeServer['tests'] }>();
  for (const sc of next.servers) {
    const before = old.config.servers.find((s) => s.name === sc.name);
    const built = old.servers.find((s) => s.name === sc.name);
    if (!before || !built) continue;
    // A server on a device that changed reads its outlets anew: its tests run anew too.
    const devicesKept = sc.outlets.every((o) => devices.has(o.device));
    servers.set(sc.name, {
      ...(controlsPrint(before) === controlsPrint(sc) && { controls: built.controls }),
      ...(devicesKept && testsPrint(before) === testsPrint(sc) && { tests: built.tests }),
    });
  }
  return { devices, servers };
}

/** Worker plugins to restart on a reload: enabled or disabled, or whose settings changed. */
function changedPlugins(old: Config, next: Config): Set<string> {
  const names = new Set([...old.plugins.enabled, ...next.plugins.enabled]);
  return new Set(
    [...names].filter(
      (n) =>
        old.plugins.enabled.includes(n) !== next.plugins.enabled.includes(n) ||
        fingerprint(old.plugins.settings.get(n) ?? {}) !== fingerprint(next.plugins.settings.get(n) ?? {}) ||
        fingerprint([old.stateDir, old.plugins.startTimeoutMs, old.plugins.hangTimeoutMs, old.plugins.stopTimeoutMs, old.plugins.maxMemoryMb]) !==
          fingerprint([next.stateDir, next.plugins.startTimeoutMs, next.plugins.hangTimeoutMs, next.plugins.stopTimeoutMs, next.plugins.maxMemoryMb]),
    ),
  );
}

async function atomicWrite(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, file);
}

/**
 * Runs the daemon in this process until SIGTERM/SIGINT: the `ockle daemon` command and the
 * systemd unit's ExecStart. Exits with code 2 when the configuration is invalid.
 */
export async function runDaemon(opts: { configDir: string; logDestination?: DestinationStream }): Promise<void> {
  const bootLog = createLogger(opts.logDestination ? { destination: opts.logDestination } : {});
  const notifier: Notifier = createNotifier({ log: bootLog });
  let daemon: Daemon;
  // One handler per signal for the whole life of the process. Removing the last listener of a
  // signal and adding another can lose a signal that arrived in between, so the handlers stay
  // and dispatch on the phase. While starting (the API may already answer) a stop or reload is
  // remembered and done once started, never the signal's default action (killing mid-start).
  // The handlers may already be there since the first line of the process (src/cli/main.ts):
  // what came while modules loaded is queued, and taken here.
  let pending: { stop: string | null; reload: boolean } = { stop: null, reload: false };
  let onSignal = (signal: NodeJS.Signals): void => {
    if (signal === 'SIGHUP') pending.reload = true;
    else pending.stop ??= signal;
  };
  for (const sig of takeSignals((sig) => onSignal(sig))) onSignal(sig);
  try {
    daemon = await Daemon.start({
      configDir: opts.configDir,
      ...(opts.logDestination && { log: createLogger({ destination: opts.logDestination }) }),
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) if (p.severity === 'error') bootLog.error({ file: p.file, line: p.line }, formatProblem(p));
      bootLog.fatal(`ockle not started: the configuration in ${opts.configDir} has errors (run \`ockle config check\`)`);
      process.exitCode = 2;
    } else {
      const e = toOckleError(err);
      bootLog.fatal({ code: e.code, hint: e.hint }, `ockle not started: ${e.message}`);
      process.exitCode = 1;
    }
    notifier.close();
    releaseSignals();
    return;
  }
  notifier.ready(`serving ${daemon.url}`);
  notifier.startWatchdog();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const reload = (): void => {
      notifier.reloading();
      void daemon.reload().finally(() => notifier.ready(`serving ${daemon.url}`));
    };
    const stop = (signal: string): void => {
      stopping = true;
      daemon.log.info({ signal }, 'stopping (no outlet is switched)');
      notifier.stopping();
      void daemon
        .stop()
        .catch((err: unknown) => daemon.log.error({ err: toOckleError(err).message }, 'error while stopping'))
        .finally(() => {
          notifier.close();
          releaseSignals();
          resolve();
        });
    };
    onSignal = (signal) => {
      if (!stopping) return signal === 'SIGHUP' ? reload() : stop(signal);
      if (signal === 'SIGHUP') return;
      // A second stop signal while stopping: the operator wants out now. Nothing is switched
      // on stop, so leaving at once is safe.
      daemon.log.warn({ signal }, 'second stop signal: exiting without waiting for the clean stop');
      process.exit(1);
    };
    const early = pending;
    pending = { stop: null, reload: false };
    if (early.stop !== null) stop(early.stop);
    else if (early.reload) reload();
  });
}
