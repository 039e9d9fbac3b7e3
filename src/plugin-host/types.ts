/** What a worker plugin module exports, and the `ctx` it is given (typed from contract.ts). */
import type { PluginCallArgs, PluginEventName, PluginEventPayload, PluginMethodName, PluginMethodResult } from './contract.js';
import type { CommandParams, CommandRole, PluginStatusFields } from './protocol.js';

export type { CommandParam, CommandParams, CommandParamType, CommandRole, PluginStatusFields } from './protocol.js';
export type { PluginCallArgs, PluginEventName, PluginEventPayload, PluginMethodName, PluginMethodParams, PluginMethodResult } from './contract.js';

/** The version of the plugin API (this file's PluginContext and PluginModule, and the manifest): see src/config/plugin-manifest.ts. */
export { PLUGIN_API_VERSION } from '../config/plugin-manifest.js';

/** What every `ctx` has, typed or not. */
interface ContextBase {
  readonly name: string;
  /** The plugin's validated [plugins.NAME] settings. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly log: Record<'debug' | 'info' | 'warn' | 'error', (msg: string, data?: Record<string, unknown>) => void>;
  /**
   * Registers a command, run by operators as `ockle cmd PLUGIN.NAME [json]` or
   * `POST /api/commands/PLUGIN.NAME`. The handler gets the JSON params (or `{}`) and returns a
   * JSON-serialisable result; what it throws reaches the caller as OCKLE_COMMAND_FAILED with
   * its message. `role` is the least token role allowed to run it (default `operator`).
   *
   * `params` declares its arguments (`{ last: { type: 'string', help: 'e.g. 1h', required: true } }`):
   * the daemon refuses a call with an unknown argument, one of the wrong type or a missing
   * required one (OCKLE_REQUEST_INVALID naming it) before the handler runs, and `ockle cmd` and
   * `/api/commands` show them. Without `params` the handler gets any JSON object.
   */
  command(name: string, opts: { readonly description: string; readonly role?: CommandRole; readonly params?: CommandParams }, handler: (params: unknown) => unknown): void;
  /**
   * Reports what the plugin is doing, a few named values (`{connection: 'connected',
   * lastError: null}`), shown with its state in `GET /api/plugins` and `ockle plugins` until the
   * next report or until its worker ends. At most 16 fields; texts of at most 500 characters.
   * Never put a secret in it. @throws TypeError for anything else
   */
  status(fields: PluginStatusFields): void;
  /** A directory of the plugin's own under the daemon's state_dir (created before start). */
  readonly dataDir: string;
}

export interface PluginContext extends ContextBase {
  /**
   * Asks the daemon: one of the methods of `METHODS` in contract.ts (`servers`, `tree`,
   * `devices`, `request-action`, …), with its parameters; resolves with its result or rejects
   * with the daemon's error (its `code` set; OCKLE_AUTH_FORBIDDEN for a method above the
   * plugin's role). Power requests are journaled as `plugin:NAME`.
   */
  call<M extends PluginMethodName>(method: M, ...params: PluginCallArgs<M>): Promise<PluginMethodResult<M>>;
  /** Subscribes to a daemon event (`EVENTS` in contract.ts); returns the unsubscribe function. */
  on<E extends PluginEventName>(event: E, fn: (payload: PluginEventPayload<E>) => void): () => void;
}

/**
 * The same `ctx` as the wire sees it: any method and event name, untyped payloads. For a
 * plugin run under a bare `PluginHost` whose owner serves its own names (fixtures, benchmarks);
 * a plugin for the daemon uses `PluginContext`.
 */
export interface RawPluginContext extends ContextBase {
  call(method: string, params?: unknown): Promise<unknown>;
  on(event: string, fn: (payload: unknown) => void): () => void;
}

export interface PluginModule {
  start(ctx: PluginContext): Promise<void> | void;
  stop?(reason: string): Promise<void> | void;
}
