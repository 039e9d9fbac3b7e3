/**
 * Composition root: the only place that news up the world.
 *
 * Start: load and validate config → open the journal → build the world (src/world.ts) → read
 * every outlet (never write) → start monitoring → start the API → plugins. Stop and reload go
 * through the same world lifecycle; neither switches anything. A reload applies only a config
 * that validates, otherwise the daemon keeps running on the old one and logs why. The signals
 * that drive all this are handled in run-daemon.ts.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { defaultRegistry, type DriverRegistry } from '../drivers/registry.js';
import { sequencerFrom } from '../plugins/auto-control/index.js';
import { createKeepAlive } from '../plugins/auto-control/keepalive.js';
import { builtinPluginTemplates, mainThreadPlugins, workerPlugins } from '../plugins/registry.js';
import type { Template } from './config/types.js';
import { pluginHandler, pluginSubscriber } from './plugin-host/bridge.js';
import { PluginHost } from './plugin-host/host.js';
import type { CommandRole } from './plugin-host/protocol.js';
import { Auth } from './api/auth.js';
import { createApi, type PluginStatus } from './api/server.js';
import { ApiGuard } from './api/guard.js';
import { apiCertificate, FINGERPRINT_FILE } from './api/tls.js';
import { isLoopback, tlsMode } from './config/api-exposure.js';
import type { PduDaemonFace } from './faces/pdudaemon.js';
import { ConfigEditor } from './config/edit/editor.js';
import { configSchema } from './api/config-schema.js';
import { checkConfig, type Config } from './config/load.js';
import { API_INFO_FILE, LOCAL_TOKEN_FILE, type ApiInfo } from './config/paths.js';
import { EventBus } from './core/event-bus.js';
import { ActionJournal } from './core/journal.js';
import { Maintenance } from './core/maintenance.js';
import { RemoteLab } from './core/remote.js';
import type { OckleEvents } from './core/model.js';
import type { KeepAlive } from './core/sequence.js';
import { Runtime, type LabSpec } from './core/runtime.js';
import { ConfigError, formatProblem, OckleError, toOckleError } from './errors.js';
import { createLogger } from './log.js';
import { atomicWrite, localTokenHash } from './state-files.js';
import { packageVersion } from './version.js';
import { setPluginEnabled, showPlugin, withSource, type PluginAdminDeps } from './plugin-admin.js';
import { UpsService } from './ups/service.js';
import { bringUp, buildWorld, carryOver, changedPlugins, closeWorld, keepUnchanged, loadDrivers, type DriverEnv, type Keep, type World } from './world.js';

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
  /**
   * Start the worker plugins once the API has answered its first request, or a second after it
   * listens if none comes, instead of as it listens (`ockle daemon` does): their threads would
   * compete with that first answer for the CPU, and a Pi has few cores.
   */
  readonly pluginsAfterFirstAnswer?: boolean;
}

/** How long worker plugins wait for the API's first request (DaemonOptions.pluginsAfterFirstAnswer). */
const PLUGINS_WAIT_MS = 1000;

/** A plugin that runs in a worker thread: its module, and the role its ctx.calls hold. */
interface WorkerPlugin {
  readonly module: string;
  readonly description: string;
  readonly role?: CommandRole;
  /** Where an installed plugin was found (its package.json). */
  readonly source?: string;
}

export interface ExtraPlugin {
  readonly module: string;
  readonly description: string;
  readonly config: Template;
  /** What the plugin may ask of the gateway (default operator). */
  readonly role?: CommandRole;
}

function pluginTemplates(extra: DaemonOptions['extraPlugins']): ReadonlyMap<string, Template> {
  return new Map([...builtinPluginTemplates, ...[...(extra ?? [])].map(([n, p]) => [n, p.config] as const)]);
}

export class Daemon {
  readonly events: EventBus<OckleEvents>;
  readonly log: Logger;
  /** Resources shared between drivers (the simulated lab, serial buses) for the daemon's lifetime. */
  readonly #shared = new Map<string, unknown>();
  readonly #opts: DaemonOptions;
  readonly #registry: DriverRegistry;
  #journal!: ActionJournal;
  #runtime!: Runtime;
  #world!: World;
  /** Keep-alive counts live as long as the process: a reload does not restart them. */
  #keepAlive: KeepAlive | null = null;
  /** Servers of other gateways (federation), fed by the mqtt plugin; kept across reloads. */
  readonly #remote: RemoteLab;
  readonly #plugins = new Map<string, PluginHost>();
  /** Cancels the worker plugins' start while it waits for the API's first answer. */
  #pluginsWaiting: (() => void) | null = null;
  /** The bundled worker plugins and the test's extra ones; installed plugins come with each config. */
  readonly #bundledWorkers: ReadonlyMap<string, WorkerPlugin>;
  #api: FastifyInstance | null = null;
  /** The PDUDaemon-compatible face ([pdudaemon]); it listens only when enabled. */
  #pdudaemon: PduDaemonFace | null = null;
  #auth: Auth | null = null;
  #guard: ApiGuard | null = null;
  #url = '';
  #reloading: Promise<boolean> | null = null;
  /** The one reload that follows the current one (see reload()). */
  #reloadAgain: Promise<boolean> | null = null;
  #stopping: Promise<void> | null = null;
  /** Every configured UPS, watched, with its power-cut policy (src/ups). */
  #ups!: UpsService;

  private constructor(opts: DaemonOptions, log: Logger) {
    this.#opts = opts;
    this.log = log;
    this.#registry = opts.registry ?? defaultRegistry();
    this.#bundledWorkers = new Map([...workerPlugins, ...(opts.extraPlugins ?? [])]);
    this.events = new EventBus<OckleEvents>((err, name) =>
      log.error({ err: toOckleError(err).message, event: name }, 'event listener threw'),
    );
    this.#remote = new RemoteLab(this.events);
  }

  /** The gateway the faces use: one object for the daemon's life; a reload swaps the world beneath it. */
  get gateway(): Runtime {
    return this.#runtime;
  }
  /** The loaded configuration (frozen). */
  get config(): Config {
    return this.#world.config;
  }
  /** Every configured UPS and its policy. */
  get ups(): UpsService {
    return this.#ups;
  }
  /** The PDUDaemon face's base URL while it listens, else null. */
  get pdudaemonUrl(): string | null {
    return this.#pdudaemon?.url ?? null;
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
    if (process.env.OCKLE_T) process.stderr.write('T static ' + performance.now().toFixed(1) + '\n');
    const { problems, config } = await checkConfig(opts.configDir, { drivers: opts.registry ?? defaultRegistry(), plugins: pluginTemplates(opts.extraPlugins) });
    if (!config) throw new ConfigError(problems);
    if (process.env.OCKLE_T) process.stderr.write('T checked ' + performance.now().toFixed(1) + '\n');
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
    try {
      await this.#bringUpAll(config, t0);
    } catch (err) {
      // Nothing may stay open behind a start that failed (polls, UPS monitors, a listening face):
      // the process must be able to exit with the reason instead of hanging half started.
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  async #bringUpAll(config: Config, t0: number): Promise<void> {
    // 2. Drivers (those the configuration names are loaded now) and the real states: read, never written.
    if (process.env.OCKLE_T) process.stderr.write('T journal ' + performance.now().toFixed(1) + '\n');
    await loadDrivers(this.#registry, config);
    if (process.env.OCKLE_T) process.stderr.write('T drivers ' + performance.now().toFixed(1) + '\n');
    
    this.#world = buildWorld(this.#env(config), config);
    const maintenance = new Maintenance(config.stateDir);
    for (const [server, p] of maintenance.paused) this.log.info({ server, by: p.by, at: p.at, reason: p.reason }, 'server still paused for maintenance');
    this.#configureRemote(config);
    this.#runtime = new Runtime({ journal: this.#journal, events: this.events, log: this.log, version: packageVersion(), maintenance, remote: this.#remote }, this.#spec(this.#world));
    const adopted = bringUp(this.#runtime.lab, { monitor: this.#opts.monitor !== false });
    this.#ups = new UpsService({ port: this.#runtime, log: this.log.child({ face: 'ups' }), monitor: this.#opts.monitor !== false });
    // 3. The API listens while the first reads are on the wire: it answers reads at once (servers
    // "not read yet", /api/health "starting"), and holds every request that could change
    // something until the states are adopted: nobody can ask for an action before they are known.
    // A device that does not answer holds the changes up to its timeout, never the API.
    let open = (): void => undefined;
    const ready = new Promise<void>((resolve) => (open = resolve));
    let answered = false;
    const firstAnswer = (_req: unknown, res: ServerResponse): void => void res.once('close', () => (answered = true));
    try {
      if (process.env.OCKLE_T) process.stderr.write('T bu ' + performance.now().toFixed(1) + '\n');
    await this.#buildApi(config, ready);
      if (process.env.OCKLE_T) process.stderr.write('T built ' + performance.now().toFixed(1) + '\n');
          await this.#listen(config);
      this.#api!.server.on('request', firstAnswer);
      if (process.env.OCKLE_T) this.#api!.server.on('request', (q: {url?: string}, r: ServerResponse) => { process.stderr.write('T req ' + q.url + ' ' + performance.now().toFixed(1) + '\n'); r.once('finish', () => process.stderr.write('T res ' + performance.now().toFixed(1) + '\n')); });
      if (process.env.OCKLE_T) process.stderr.write('T listening ' + performance.now().toFixed(1) + '\n');
          await adopted;
      if (process.env.OCKLE_T) process.stderr.write('T adopted ' + performance.now().toFixed(1) + '\n');
          // UPSes once the states are known: a policy decides from them (a cut under way at start goes on from the journal).
      await this.#ups.apply(this.#env(config), config);
    } finally {
      open();
      this.#api?.server.off('request', firstAnswer);
    }
    await this.#configurePduDaemon(config);
    // Worker plugins last: their threads load while the API already answers.
    if (this.#opts.pluginsAfterFirstAnswer) this.#startPluginsAfterFirstAnswer(answered);
    else await this.#startPlugins(config);
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
   * The PDUDaemon face follows [pdudaemon]: made (its module loaded) the first time it is
   * enabled, so a daemon that never serves it does not load it at start.
   */
  async #configurePduDaemon(config: Config): Promise<void> {
    if (!this.#pdudaemon && !config.pdudaemon.enabled) return;
    if (!this.#pdudaemon) {
      const { PduDaemonFace } = await import('./faces/pdudaemon.js');
      this.#pdudaemon = new PduDaemonFace({
        gateway: this.#runtime,
        log: this.log.child({ face: 'pdudaemon' }),
        identify: (token) => (/^\S+$/.test(token) ? (this.#auth?.identify(`Bearer ${token}`) ?? null) : null),
      });
    }
    await this.#pdudaemon.configure(config.pdudaemon);
  }

  #env(config: Config): DriverEnv {
    return { registry: this.#registry, log: this.log, stateDir: config.stateDir, shared: this.#shared };
  }

  /** The runtime's view of a world: its parts, plus auto-control's sequencer and keep-alive when enabled. */
  #spec(world: World, carry?: LabSpec['carry']): LabSpec {
    const config = world.config;
    const auto = config.plugins.enabled.includes('auto-control');
    if (auto) this.#keepAlive ??= createKeepAlive({ request: (req) => this.#runtime.request(req), log: this.log.child({ plugin: 'auto-control' }) });
    return {
      devices: world.devices,
      servers: world.servers,
      configProblems: config.warnings,
      sequencer: auto ? sequencerFrom(config.plugins.settings.get('auto-control') as Parameters<typeof sequencerFrom>[0], this.#remote) : null,
      keepAlive: auto ? this.#keepAlive : null,
      ...(carry && { carry }),
    };
  }

  /** Federation: which servers depend on other gateways, and this gateway's name on the broker. */
  #configureRemote(config: Config): void {
    const mqtt = config.plugins.enabled.includes('mqtt');
    this.#remote.configure(config.servers, mqtt ? String(config.plugins.settings.get('mqtt')?.gateway ?? '') : null);
    if (!mqtt) this.#remote.lost('the mqtt plugin is not enabled');
  }

  /**
   * Starts the worker plugins once the API has sent its first answer, or PLUGINS_WAIT_MS after
   * it listens, whichever comes first; with the configuration running then (a reload in between
   * has started those it changed already). A stop before then cancels it.
   */
  #startPluginsAfterFirstAnswer(answered: boolean): void {
    const server = this.#api!.server;
    const onRequest = (_req: unknown, res: ServerResponse): void => void res.once('close', start);
    const timer = setTimeout(() => start(), PLUGINS_WAIT_MS);
    const cancel = (): void => {
      this.#pluginsWaiting = null;
      clearTimeout(timer);
      server.off('request', onRequest);
    };
    const start = (): void => {
      if (this.#pluginsWaiting !== cancel) return;
      cancel();
      void this.#startPlugins(this.#world.config).catch((err: unknown) => this.log.error({ err: toOckleError(err).message }, 'worker plugins could not be started'));
    };
    this.#pluginsWaiting = cancel;
    // A request answered while the states were read is the first answer.
    if (answered) start();
    else server.on('request', onRequest);
  }

  /** Worker plugins: each in its own thread, supervised; a plugin never holds up the daemon. */
  async #startPlugins(config: Config, only?: ReadonlySet<string>): Promise<void> {
    for (const name of config.plugins.enabled) {
      const w = this.#workers(config).get(name);
      if (!w || (only && !only.has(name)) || this.#plugins.has(name)) continue;
      const dataDir = join(config.stateDir, 'plugins', name);
      await mkdir(dataDir, { recursive: true, mode: 0o750 });
      // A stop that came meanwhile stops the plugins started so far; none may start after it.
      if (this.#stopping) return;
      const host = new PluginHost({
        name,
        module: w.module,
        dataDir,
        config: (config.plugins.settings.get(name) ?? {}) as Record<string, unknown>,
        log: this.log.child({ face: 'plugin' }),
        handle: pluginHandler(this.#runtime, name, w.role, { ups: () => this.#ups.list(), apiAuth: () => this.#guard?.throttle.counts() ?? { failures: {}, throttledTotal: 0, throttledAddresses: 0 }, remote: this.#remote }),
        subscribe: pluginSubscriber(this.events),
        onState: (state, detail) => {
          // What a plugin that is not running said of other gateways may no longer hold.
          if (name === 'mqtt' && state !== 'running') this.#remote.lost(`the mqtt plugin is ${state}${detail ? ` (${detail})` : ''}`);
          this.events.emit('plugin.changed', { plugin: name, state, detail });
        },
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

  /** The worker plugins a configuration can run: bundled, and installed (docs/plugins.md). */
  #workers(config: Config): ReadonlyMap<string, WorkerPlugin> {
    const installed = [...config.plugins.installed].map(([n, p]): [string, WorkerPlugin] => [n, { module: p.module, description: p.description, role: p.role, source: p.file }]);
    return new Map([...this.#bundledWorkers, ...installed]);
  }

  /** Every available plugin: the enabled ones with their state, the others `disabled`; one that cannot be loaded `failed`, with why. */
  plugins(): PluginStatus[] {
    const config = this.#world.config;
    const enabled = config.plugins.enabled;
    const workers = this.#workers(config);
    const known = [...new Set([...builtinPluginTemplates.keys(), ...workers.keys(), ...config.plugins.broken.keys()])];
    return [...enabled, ...known.filter((n) => !enabled.includes(n)).sort()].map((name) => {
      const worker = workers.get(name);
      const h = this.#plugins.get(name);
      const where = worker ? ('worker' as const) : ('main thread' as const);
      const description = worker?.description ?? mainThreadPlugins.get(name) ?? '';
      const broken = config.plugins.broken.get(name);
      if (broken !== undefined) return { name, description, where: 'worker' as const, state: enabled.includes(name) ? 'failed' : 'disabled', lastError: broken, bugs: 0 };
      if (!enabled.includes(name)) return { name, description, where, state: 'disabled', lastError: null, bugs: 0 };
      if (h) return { name, description, where, state: h.state, lastError: h.lastError, bugs: h.bugs, ...(h.status && { status: h.status }) };
      // An enabled worker plugin without its thread yet is about to start (pluginsAfterFirstAnswer).
      return { name, description, where, state: worker ? 'starting' : 'running', lastError: null, bugs: 0 };
    });
  }

  /** What `ockle plugins show|enable|disable` need of the daemon (src/plugin-admin.ts): enabling edits ockle.ini, then reloads. */
  #pluginAdmin(): PluginAdminDeps {
    const plugins = pluginTemplates(this.#opts.extraPlugins);
    return {
      configDir: this.#opts.configDir,
      running: () => this.#world.config,
      list: () => this.plugins(),
      templates: plugins,
      version: packageVersion(),
      check: (mainText) =>
        checkConfig(this.#opts.configDir, { drivers: this.#registry, plugins, ...(mainText !== undefined && { overrides: new Map([['ockle.ini', mainText]]) }) }),
      reload: () => this.reload(),
    };
  }

  /** Config editing for the API (src/config/edit/editor.ts): checks the whole directory with the change, then reloads. */
  #configEditor(): ConfigEditor {
    const plugins = pluginTemplates(this.#opts.extraPlugins);
    return new ConfigEditor({
      configDir: this.#opts.configDir,
      stateDir: () => this.#world.config.stateDir,
      views: () => this.#world.config.view,
      check: (overrides) => checkConfig(this.#opts.configDir, { drivers: this.#registry, plugins, overrides }),
      reload: () => this.reload(),
      log: this.log.child({ face: 'config-edit' }),
      recorded: (e) => {
        // In the action journal too (who, which file, the changed lines, secrets masked), so
        // `ockle actions` and the dashboard's journal show configuration changes beside power.
        try {
          const lines = e.diff.lines.map((l) => `${e.file}:${l.line}: ${l.op} ${l.text}`);
          this.#runtime.journalConfig({ origin: e.who, reason: `${e.op} ${e.file}: ${e.diff.removed} line(s) removed, ${e.diff.added} added (history ${e.id})`, lines });
        } catch (err) {
          this.log.error({ err: toOckleError(err).message, file: e.file }, 'the configuration change was written but could not be journaled');
        }
      },
    });
  }

  async #buildApi(config: Config, ready: Promise<void>): Promise<void> {
    const auth = (this.#auth = new Auth({ tokens: config.tokens, anonymousRole: config.api.anonymous_role }));
    if (config.api.local_token) auth.addLocalToken('local', await localTokenHash(join(config.stateDir, LOCAL_TOKEN_FILE)));
    const cert = await this.#certificate(config);
    this.#guard = new ApiGuard(config.api, this.log.child({ face: 'api' }));
    this.#api = createApi(this.#runtime, {
      auth,
      guard: this.#guard,
      ...(cert && { https: cert }),
      ...(config.api.redirect_port !== undefined && { redirectPort: config.api.redirect_port }),
      config: {
        view: () => ({ dir: this.#world.config.dir, files: this.#world.config.view }),
        check: async (file, text) =>
          (await checkConfig(this.#opts.configDir, { drivers: this.#registry, plugins: pluginTemplates(this.#opts.extraPlugins), overrides: new Map([[file, text]]) })).problems,
        editor: this.#configEditor(),
        schema: () => configSchema(this.#registry.all(), new Map([...pluginTemplates(this.#opts.extraPlugins), ...[...this.#world.config.plugins.installed].map(([n, p]) => [n, p.config] as const)])),
      },
      log: this.log.child({ face: 'api' }),
      version: packageVersion(),
      ready,
      ups: {
        list: () => this.#ups.list(),
        status: (name) => this.#ups.status(name),
        plan: (name) => this.#ups.plan(name),
        simulate: (name, change) => this.#ups.simulate(name, change),
      },
      plugins: {
        list: () => withSource(this.plugins(), this.#world.config),
        restart: async (name) => this.#plugins.get(name)?.restart(),
        commands: () => [...this.#plugins.values()].flatMap((h) => h.commands()),
        invoke: (name, params) => {
          const host = this.#plugins.get(name.slice(0, name.indexOf('.')));
          return host ? host.invoke(name, params) : Promise.reject(new OckleError('OCKLE_NOT_FOUND', `no command "${name}"`));
        },
        show: (name) => showPlugin(this.#pluginAdmin(), name),
        setEnabled: (name, enabled) => setPluginEnabled(this.#pluginAdmin(), name, enabled),
      },
    });
    await this.#api.ready();
  }

  async #listen(config: Config): Promise<void> {
    const port = this.#opts.port ?? config.api.port;
    await this.#api!.listen({ host: config.api.listen, port }).catch((err: NodeJS.ErrnoException) => {
      const where = `${config.api.listen}:${port}`;
      const why = err.code === 'EADDRINUSE' ? `${where} is in use` : err.code === 'EACCES' ? `${where} needs privileges ockle does not have` : err.code === 'EADDRNOTAVAIL' ? `${where} is not an address of this machine` : `${where}: ${err.message}`;
      throw new OckleError('OCKLE_CONFIG_INVALID', `[api] cannot listen: ${why}`, {
        hint: err.code === 'EADDRINUSE' ? 'Another ockle (or another program) holds the port: stop it, or set [api] port to a free one.' : 'Set [api] listen and port to an address of this machine and a port ockle may use.',
        cause: err,
      });
    });
    const addr = this.#api!.server.address();
    const actualPort = typeof addr === 'object' && addr ? addr.port : port;
    const host = config.api.listen.includes(':') ? `[${config.api.listen}]` : config.api.listen;
    this.#url = `${tlsMode(config.api) === 'off' ? 'http' : 'https'}://${host}:${actualPort}`;
    if (tlsMode(config.api) === 'off' && !isLoopback(config.api.listen))
      this.log.warn({ listen: config.api.listen }, `the API serves plain HTTP on ${config.api.listen} (allow_plaintext = true): tokens cross the network in clear text; set tls = auto in [api] (docs/security.md)`);
    const info: ApiInfo = { url: this.#url, pid: process.pid };
    await atomicWrite(join(config.stateDir, API_INFO_FILE), JSON.stringify(info) + '\n', 0o644);
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

  /**
   * The API's certificate (tls = auto: made on the first start), its fingerprint published beside
   * the local token for the CLI; null for plain HTTP. On SIGHUP it is read again and swapped in
   * for new connections; a certificate that cannot be read leaves the running one.
   */
  async #certificate(config: Config, reload = false): Promise<{ cert: string; key: string } | null> {
    try {
      const cert = await apiCertificate(config.api, config.dir, config.stateDir);
      if (!cert) return null;
      await atomicWrite(join(config.stateDir, FINGERPRINT_FILE), cert.fingerprint + '\n', 0o644);
      if (cert.generated) this.log.info({ fingerprint: cert.fingerprint, names: cert.names }, `made a self-signed certificate for the API; check this SHA-256 fingerprint once in the browser: ${cert.fingerprint}`);
      else if (!reload) this.log.info({ fingerprint: cert.fingerprint }, `API certificate SHA-256 fingerprint: ${cert.fingerprint}`);
      if (cert.missing?.length) this.log.warn({ missing: cert.missing }, `the API certificate does not name ${cert.missing.join(', ')}; remove its files from ${config.stateDir} and restart to make one that does (the fingerprint changes)`);
      if (reload) {
        (this.#api!.server as unknown as TlsServer).setSecureContext({ cert: cert.cert, key: cert.key, minVersion: 'TLSv1.2' });
        this.log.info({ fingerprint: cert.fingerprint }, 'API certificate read again (SIGHUP)');
      }
      return cert;
    } catch (err) {
      if (!reload) throw err;
      const e = toOckleError(err);
      this.log.error({ code: e.code, hint: e.hint }, `API certificate not reloaded: ${e.message}; still serving the previous one`);
      return null;
    }
  }

  async #reload(): Promise<boolean> {
    // The certificate first, whatever becomes of the rest: a renewed certificate is a SIGHUP's
    // most common reason, and it does not depend on the configuration validating.
    if (tlsMode(this.#world.config.api) !== 'off') await this.#certificate(this.#world.config, true);
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
    if (this.#runtime.busy) this.log.info('reload waits for running actions to finish');
    await this.#runtime.idle();
    const needRestart: string[] = [];
    if (config.stateDir !== old.config.stateDir) needRestart.push('[daemon] state_dir');
    if (config.api.listen !== old.config.api.listen || config.api.port !== old.config.api.port) needRestart.push('[api] listen/port');
    // HTTP or HTTPS is chosen when the API is made: a change of it waits for a restart too (a
    // SIGHUP still reads the running certificate's files again).
    if ((['tls', 'tls_cert', 'tls_key', 'redirect_port'] as const).some((k) => config.api[k] !== old.config.api[k])) needRestart.push('[api] tls, tls_cert, tls_key, redirect_port');
    const effective: Config = needRestart.length === 0 ? config : { ...config, stateDir: old.config.stateDir, api: old.config.api };
    // What did not change is kept, open and known: its devices are not read again, its servers
    // keep their state and test results. Only changed or new devices start from UNKNOWN.
    const keep: Keep = keepUnchanged(old, effective);
    // Loaded and built before anything of the old world is closed: if loading or building throws
    // (a driver that cannot be made), the reload is refused and the old world runs on untouched.
    await loadDrivers(this.#registry, effective);
    const next = buildWorld(this.#env(effective), effective, keep);
    const lab = this.#runtime.prepare(this.#spec(next, carryOver(this.#runtime.carry(), keep)));
    this.#configureRemote(effective);
    const untested = new Set(effective.servers.filter((sc) => !keep.servers.get(sc.name)?.tests).map((sc) => sc.name));
    this.#keepAlive?.forget(untested);
    await this.#runtime.swap(lab);
    this.#world = next;
    await closeWorld(old, keep);
    const plugins = changedPlugins(old.config, effective);
    await this.#stopPlugins('configuration reloaded', plugins);
    const fresh = new Set(effective.devices.filter((dc) => !keep.devices.has(dc.id)).map((dc) => dc.id));
    this.log.info(
      { kept: keep.devices.size, read: fresh.size, plugins: [...plugins] },
      `reload: ${keep.devices.size} device(s) kept as they are, ${fresh.size} read anew; plugins restarted: ${[...plugins].join(', ') || 'none'}`,
    );
    await bringUp(lab, { devices: fresh, servers: untested, monitor: this.#opts.monitor !== false });
    await this.#ups.apply(this.#env(effective), effective);
    await this.#startPlugins(effective, plugins);
    // Tokens apply at once: one removed from ockle.ini stops working now, not at the next restart.
    this.#auth?.setTokens(effective.tokens, effective.api.anonymous_role);
    this.#guard?.configure({ ...effective.api, listen: old.config.api.listen });
    // The PDUDaemon face follows [pdudaemon] at once (it moves if listen/port changed); one that
    // cannot listen is reported and stays closed, the rest of the reload stands.
    await this.#configurePduDaemon(effective).catch((err: unknown) =>
      this.log.error({ err: toOckleError(err).message }, 'pdudaemon face could not listen after the reload'),
    );
    const message =
      needRestart.length === 0 ? 'configuration reloaded' : `configuration reloaded; ${needRestart.join(', ')} apply at the next restart`;
    this.log.info({ servers: this.#world.servers.length, devices: this.#world.devices.length }, message);
    this.events.emit('config.reloaded', { ok: true, message });
    return true;
  }

  /** Stops without switching anything: faces first, then actions, polls and devices. */
  stop(): Promise<void> {
    this.#pluginsWaiting?.();
    this.#stopping ??= (async () => {
      await this.#reloading;
      await this.#reloadAgain;
      await this.#stopPlugins('daemon stopping');
      await this.#pdudaemon?.close();
      await this.#api?.close();
      await this.#ups?.close();
      // A start that failed may have stopped before any of these existed.
      await this.#runtime?.close();
      if (this.#world) await closeWorld(this.#world);
      await this.#journal?.close();
      if (this.#world) await rm(join(this.#world.config.stateDir, API_INFO_FILE), { force: true });
      this.log.info('ockle stopped');
    })();
    return this.#stopping;
  }
}
