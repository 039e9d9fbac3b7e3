/**
 * Runs one plugin in its own worker thread and keeps the daemon safe from it. Lifecycle:
 * starting (until `ready`, or the start timeout) → running (heartbeats; too many missed means
 * hung: terminate) → stopping (until `stopped`, or the stop deadline: terminate). A worker that
 * exits, throws at start, hangs or misses its deadline is restarted with exponential backoff;
 * after `maxCrashes` within `crashWindowMs` it stays `failed` until `restart()`. Every
 * transition is reported through `onState` and logged. A malformed message is logged as the
 * plugin's bug and ignored.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Secret } from '../config/types.js';
import { OckleError, toOckleError, type ErrorCode } from '../errors.js';
import { LIMITS, paramsProblem, parseWorkerMessage, type CommandParams, type CommandRole, type HostMessage, type PluginStatusFields } from './protocol.js';

export type PluginState = 'starting' | 'running' | 'stopping' | 'stopped' | 'backoff' | 'failed';

/** A command a plugin registered, under its full name `PLUGIN.NAME`. */
export interface PluginCommand {
  readonly name: string;
  readonly plugin: string;
  readonly description: string;
  readonly role: CommandRole;
  /** The arguments it declared (checked before a call reaches the plugin); absent: any JSON object. */
  readonly params?: CommandParams;
}

export interface PluginHostOptions {
  readonly name: string;
  /** Path of the plugin module (JavaScript). */
  readonly module: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** The plugin's own directory (ctx.dataDir); the caller creates it. */
  readonly dataDir: string;
  readonly log: Logger;
  /**
   * Serves a `ctx.call(method, params)` of the plugin. The host is the transport: names are the
   * wire's strings. The daemon passes `pluginHandler` (bridge.ts), which serves the contract's
   * methods; a bare host (tests, benchmarks) may serve names of its own.
   */
  readonly handle: (method: string, params: unknown) => Promise<unknown>;
  /**
   * Subscribes the plugin to an event; returns the unsubscribe function, or throws to refuse the
   * name (logged and counted as the plugin's bug). The daemon passes `pluginSubscriber` (bridge.ts).
   */
  readonly subscribe: (event: string, fn: (payload: unknown) => void) => () => void;
  readonly onState?: (state: PluginState, detail: string) => void;
  readonly startTimeoutMs?: number;
  readonly heartbeatMs?: number;
  /** Heartbeats missed in a row before the plugin counts as hung. */
  readonly missedBeats?: number;
  readonly stopTimeoutMs?: number;
  readonly backoffMs?: readonly number[];
  readonly maxCrashes?: number;
  readonly crashWindowMs?: number;
  /** How long a registered command may run before its caller gets OCKLE_COMMAND_TIMEOUT. */
  readonly commandTimeoutMs?: number;
  /**
   * Memory the worker may use, in MB: its V8 heap is capped there (resourceLimits), and a worker
   * whose heap plus Buffer/ArrayBuffer memory goes past it is terminated and restarted.
   */
  readonly maxMemoryMb?: number;
}

/** The worker bootstrap: next to this file when built; from source (tests), the built copy. */
function workerEntry(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = join(here, 'worker.js');
  return existsSync(built) ? built : join(here, '..', '..', 'dist', 'src', 'plugin-host', 'worker.js');
}

/** Codes a plugin command may fail with as they are (a bad parameter is the caller's 400, not the plugin's failure). */
const PASSED_CODES = new Set<string>(['OCKLE_REQUEST_INVALID', 'OCKLE_NOT_FOUND']);

type Settings = Required<Omit<PluginHostOptions, 'onState'>> & Pick<PluginHostOptions, 'onState'>;

export class PluginHost {
  readonly #o: Settings;
  #worker: Worker | null = null;
  #state: PluginState = 'stopped';
  #lastBeat = 0;
  /** This worker has sent a message: its bootstrap runs, so a silence from now on is a hang. */
  #heard = false;
  #watchdog: NodeJS.Timeout | null = null;
  #startTimer: NodeJS.Timeout | null = null;
  #backoffTimer: NodeJS.Timeout | null = null;
  #crashes: number[] = [];
  #unsubscribe: (() => void)[] = [];
  #stopping: Promise<void> | null = null;
  #commands = new Map<string, PluginCommand>();
  #invokes = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  #nextInvoke = 1;
  /** Malformed messages and handler failures seen (for tests and `ockle plugins`). */
  bugs = 0;
  lastError: string | null = null;
  /** What the plugin last reported with `ctx.status` (cleared when its worker ends). */
  status: PluginStatusFields | null = null;

  constructor(o: PluginHostOptions) {
    this.#o = {
      startTimeoutMs: 5000,
      heartbeatMs: 500,
      missedBeats: 4,
      stopTimeoutMs: 3000,
      backoffMs: [500, 1000, 2000, 5000, 15_000, 30_000],
      maxCrashes: 5,
      crashWindowMs: 60_000,
      commandTimeoutMs: 30_000,
      maxMemoryMb: 256,
      ...o,
    };
  }

  // Host-side guard on log lines, for a plugin that posts messages itself past the bootstrap's
  // limits: twice the bootstrap's budget, then dropped with a count.
  #logTokens: number = 2 * LIMITS.logBurst;
  #logRefilled = Date.now();
  #logDropped = 0;
  #takeLogToken(): boolean {
    const now = Date.now();
    this.#logTokens = Math.min(2 * LIMITS.logBurst, this.#logTokens + ((now - this.#logRefilled) * 2 * LIMITS.logPerSecond) / 1000);
    this.#logRefilled = now;
    if (this.#logTokens < 1) {
      this.#logDropped++;
      return false;
    }
    this.#logTokens--;
    return true;
  }

  get state(): PluginState {
    return this.#state;
  }

  #set(state: PluginState, detail: string): void {
    this.#state = state;
    const level = state === 'failed' || state === 'backoff' ? 'warn' : 'info';
    this.#o.log[level]({ plugin: this.#o.name, state, detail }, `plugin ${this.#o.name}: ${state}`);
    this.#o.onState?.(state, detail);
  }

  #post(m: HostMessage): void {
    this.#worker?.postMessage(m);
  }

  start(): void {
    if (this.#worker || this.#state === 'starting' || this.#state === 'running') return;
    const w = new Worker(workerEntry(), {
      workerData: { module: pathToFileURL(this.#o.module).href, heartbeatMs: this.#o.heartbeatMs, maxMemoryBytes: this.#o.maxMemoryMb * 1_048_576 },
      // A young generation of at most 8 MB (it was up to 32): after a burst of garbage three
      // workers held 95 MB instead of 167, and a plugin's work is no slower (BENCHMARKS.md,
      // issue 15: the logger's inserts and a 1-day chart query in a worker, 8 against 32 MB).
      resourceLimits: { maxOldGenerationSizeMb: this.#o.maxMemoryMb, maxYoungGenerationSizeMb: Math.min(8, Math.max(4, Math.round(this.#o.maxMemoryMb / 8))) },
      stdout: false,
      stderr: false,
    });
    this.#worker = w;
    this.#set('starting', 'worker spawned');
    this.#lastBeat = Date.now();
    this.#heard = false;
    w.on('message', (raw: unknown) => this.#onMessage(w, raw));
    w.on('error', (err) => this.#crash(w, `threw: ${toOckleError(err).message}`));
    w.on('exit', (code) => {
      if (this.#worker === w) this.#crash(w, `exited with code ${code}`);
    });
    this.#startTimer = setTimeout(() => this.#crash(w, `not ready within ${this.#o.startTimeoutMs} ms`), this.#o.startTimeoutMs);
    // Silence is a hang only when it is the worker's:
    // - until the worker is heard from, Node is still loading its thread (the start timeout is
    //   the limit there): counted as a hang, a machine busy at start (a Pi starting several
    //   workers) killed every healthy plugin, and restarted them all together to be killed again;
    // - a tick that comes late says this (main) thread was blocked: the worker's heartbeats are
    //   waiting unread behind this very tick, so it is not judged until the next one.
    let lastTick = Date.now();
    this.#watchdog = setInterval(() => {
      const now = Date.now();
      const late = now - lastTick > 2 * this.#o.heartbeatMs;
      lastTick = now;
      if (this.#heard && !late && now - this.#lastBeat > this.#o.heartbeatMs * this.#o.missedBeats) this.#crash(w, `hung: no heartbeat for ${now - this.#lastBeat} ms`);
    }, this.#o.heartbeatMs);
    // Secrets cross as plain strings (a Secret's private field would not survive the clone);
    // the plugin owns not logging them.
    const config = Object.fromEntries(Object.entries(this.#o.config).map(([k, v]) => [k, v instanceof Secret ? v.reveal() : v]));
    this.#post({ v: 1, type: 'start', name: this.#o.name, config, dataDir: this.#o.dataDir });
  }

  #onMessage(w: Worker, raw: unknown): void {
    if (this.#worker !== w) return;
    const parsed = parseWorkerMessage(raw);
    if (!parsed.ok) {
      this.bugs++;
      this.#o.log.warn({ plugin: this.#o.name, why: parsed.why }, `plugin ${this.#o.name} sent a malformed message (its bug; ignored)`);
      return;
    }
    const m = parsed.msg;
    this.#lastBeat = Date.now();
    this.#heard = true;
    switch (m.type) {
      case 'ready':
        if (this.#startTimer) clearTimeout(this.#startTimer);
        this.#startTimer = null;
        if (this.#state === 'starting') this.#set('running', 'ready');
        break;
      case 'heartbeat':
        if (this.#logDropped > 0) {
          this.#o.log.warn({ plugin: this.#o.name, dropped: this.#logDropped }, `plugin ${this.#o.name}: ${this.#logDropped} log lines dropped (it logs faster than it may)`);
          this.#logDropped = 0;
        }
        if (m.mem) {
          const used = m.mem.heap + m.mem.external;
          if (used > this.#o.maxMemoryMb * 1_048_576)
            return this.#crash(w, `uses ${Math.round(used / 1_048_576)} MB of memory (heap ${Math.round(m.mem.heap / 1_048_576)} MB, buffers ${Math.round(m.mem.external / 1_048_576)} MB), over max_memory ${this.#o.maxMemoryMb} MB`);
        }
        break;
      case 'log': {
        if (!this.#takeLogToken()) break;
        let data = m.data;
        if (data !== undefined) {
          const json = JSON.stringify(data);
          if (json.length > LIMITS.logDataBytes) data = { data: `${json.length} bytes: dropped` };
        }
        this.#o.log[m.level]({ plugin: this.#o.name, ...data }, m.msg.slice(0, LIMITS.logMessageChars + 40));
        break;
      }
      case 'subscribe':
        for (const off of this.#unsubscribe.splice(0)) off();
        for (const name of m.events) {
          try {
            this.#unsubscribe.push(this.#o.subscribe(name, (payload) => this.#post({ v: 1, type: 'event', name, payload })));
          } catch (err) {
            this.bugs++;
            const e = toOckleError(err);
            this.#o.log.warn({ plugin: this.#o.name, event: name, err: e.message, hint: e.hint }, `plugin ${this.#o.name} subscribed to "${name}", refused (its bug; it keeps running)`);
          }
        }
        break;
      case 'request':
        this.#o.handle(m.method, m.params).then(
          (result) => this.#post({ v: 1, type: 'reply', id: m.id, ok: true, result }),
          (err: unknown) => {
            const e = toOckleError(err);
            this.#post({ v: 1, type: 'reply', id: m.id, ok: false, error: { code: e.code, message: e.message } });
          },
        );
        break;
      case 'failed':
        this.bugs++;
        this.lastError = `${m.phase}: ${m.message}`;
        if (m.phase === 'start') this.#crash(w, `start failed: ${m.message}`);
        else this.#o.log.warn({ plugin: this.#o.name, phase: m.phase, err: m.message }, `plugin ${this.#o.name} threw in ${m.phase} (its bug; it keeps running)`);
        break;
      case 'status':
        this.status = m.status;
        break;
      case 'command': {
        const name = `${this.#o.name}.${m.command}`;
        this.#commands.set(name, { name, plugin: this.#o.name, description: m.description.slice(0, 500), role: m.role, ...(m.params && { params: m.params }) });
        this.#o.log.debug({ plugin: this.#o.name, command: name }, `plugin ${this.#o.name} registered command ${name}`);
        break;
      }
      case 'command-result': {
        const p = this.#invokes.get(m.id);
        if (!p) break;
        this.#invokes.delete(m.id);
        clearTimeout(p.timer);
        if (m.ok) p.resolve(m.result);
        else if (m.error.code !== undefined && PASSED_CODES.has(m.error.code)) p.reject(new OckleError(m.error.code as ErrorCode, m.error.message.slice(0, 2000)));
        else p.reject(new OckleError('OCKLE_COMMAND_FAILED', m.error.message.slice(0, 2000), { hint: `The plugin ${this.#o.name} reported the failure; see its log lines.` }));
        break;
      }
      case 'stopped':
        break;
    }
  }

  /** The commands the running plugin registered. */
  commands(): PluginCommand[] {
    return [...this.#commands.values()];
  }

  /**
   * Runs a registered command: resolves with its result, or rejects with OCKLE_COMMAND_FAILED
   * (it threw), OCKLE_COMMAND_TIMEOUT, or OCKLE_PLUGIN_UNAVAILABLE (not running, or it stopped
   * before answering). Exactly one of these per call.
   */
  invoke(name: string, params: unknown): Promise<unknown> {
    const cmd = this.#commands.get(name);
    if (!cmd) return Promise.reject(new OckleError('OCKLE_NOT_FOUND', `no command "${name}"`, { hint: `Commands: ${[...this.#commands.keys()].join(', ') || 'none'}.` }));
    if (this.#state !== 'running' || !this.#worker) return Promise.reject(this.#unavailable());
    // The declared arguments are checked here: a bad call is the caller's 400, and never reaches the plugin.
    const bad = cmd.params ? paramsProblem(name, cmd.params, params) : null;
    if (bad !== null) return Promise.reject(new OckleError('OCKLE_REQUEST_INVALID', bad, { hint: `\`ockle cmd\` lists the arguments of ${name}.` }));
    const id = this.#nextInvoke++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#invokes.delete(id);
        reject(new OckleError('OCKLE_COMMAND_TIMEOUT', `command ${name} did not answer within ${this.#o.commandTimeoutMs} ms`));
      }, this.#o.commandTimeoutMs);
      this.#invokes.set(id, { resolve, reject, timer });
      try {
        this.#post({ v: 1, type: 'invoke', id, command: name.slice(this.#o.name.length + 1), params });
      } catch (err) {
        this.#invokes.delete(id);
        clearTimeout(timer);
        reject(new OckleError('OCKLE_REQUEST_INVALID', `command ${name}: the parameters cannot be sent (${toOckleError(err).message})`));
      }
    });
  }

  #unavailable(): OckleError {
    return new OckleError('OCKLE_PLUGIN_UNAVAILABLE', `plugin ${this.#o.name} is ${this.#state}${this.lastError ? ` (${this.lastError})` : ''}`);
  }

  #cleanup(): void {
    if (this.#startTimer) clearTimeout(this.#startTimer);
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#startTimer = null;
    this.#watchdog = null;
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#commands.clear();
    this.status = null;
    for (const [id, p] of this.#invokes) {
      clearTimeout(p.timer);
      p.reject(this.#unavailable());
      this.#invokes.delete(id);
    }
  }

  #crash(w: Worker, why: string): void {
    if (this.#worker !== w || this.#stopping) return;
    this.#worker = null;
    this.#cleanup();
    void w.terminate();
    this.lastError = why;
    const now = Date.now();
    this.#crashes = [...this.#crashes.filter((t) => now - t < this.#o.crashWindowMs), now];
    if (this.#crashes.length >= this.#o.maxCrashes) {
      this.#set('failed', `${why}; ${this.#crashes.length} crashes within ${this.#o.crashWindowMs / 1000} s: not restarted until an operator restarts it`);
      return;
    }
    const delay = this.#o.backoffMs[Math.min(this.#crashes.length - 1, this.#o.backoffMs.length - 1)]!;
    this.#set('backoff', `${why}; restarting in ${delay} ms`);
    this.#backoffTimer = setTimeout(() => {
      this.#backoffTimer = null;
      this.start();
    }, delay);
  }

  /** Asks the plugin to stop; terminates it if it is not done by the deadline. */
  stop(reason: string): Promise<void> {
    if (this.#backoffTimer) clearTimeout(this.#backoffTimer);
    this.#backoffTimer = null;
    const w = this.#worker;
    if (!w) {
      if (this.#state !== 'failed') this.#set('stopped', reason);
      return Promise.resolve();
    }
    this.#stopping ??= (async () => {
      this.#set('stopping', reason);
      this.#cleanup();
      const stopped = new Promise<'stopped' | 'exit'>((resolve) => {
        w.on('message', (m: { type?: string }) => m?.type === 'stopped' && resolve('stopped'));
        w.once('exit', () => resolve('exit'));
      });
      this.#post({ v: 1, type: 'stop', reason });
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.#o.stopTimeoutMs)));
      const how = await Promise.race([stopped, late]);
      clearTimeout(timer);
      this.#worker = null;
      await w.terminate();
      this.#set('stopped', how === 'late' ? `${reason}; not stopped within ${this.#o.stopTimeoutMs} ms: terminated` : reason);
    })().finally(() => (this.#stopping = null));
    return this.#stopping;
  }

  /** An operator's restart: clears the crash history (also of a `failed` plugin) and starts it. */
  async restart(): Promise<void> {
    await this.stop('restart requested');
    this.#crashes = [];
    this.start();
  }
}
