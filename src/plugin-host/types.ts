/** What a worker plugin module exports, and the `ctx` it is given. */
import type { CommandRole } from './protocol.js';

export type { CommandRole };

/**
 * The version of the plugin API (this file's PluginContext and PluginModule). A manifest states
 * the version it was written for; the registry refuses a mismatch instead of failing later.
 */
export const PLUGIN_API_VERSION = 1;

export interface PluginContext {
  readonly name: string;
  /** The plugin's validated [plugins.NAME] settings. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly log: Record<'debug' | 'info' | 'warn' | 'error', (msg: string, data?: Record<string, unknown>) => void>;
  /**
   * Asks the daemon (`servers`, `tree`, `devices`, `request-action`, …); resolves with the result
   * or rejects with the daemon's error (its `code` set). Power requests are journaled as
   * `plugin:NAME`.
   */
  call(method: string, params?: unknown): Promise<unknown>;
  /** Subscribes to a daemon event; returns the unsubscribe function. */
  on(event: string, fn: (payload: unknown) => void): () => void;
  /**
   * Registers a command, run by operators as `ockle cmd PLUGIN.NAME [json]` or
   * `POST /api/commands/PLUGIN.NAME`. The handler gets the JSON params (or `{}`) and returns a
   * JSON-serialisable result; what it throws reaches the caller as OCKLE_COMMAND_FAILED with
   * its message. `role` is the least token role allowed to run it (default `operator`).
   */
  command(name: string, opts: { readonly description: string; readonly role?: CommandRole }, handler: (params: unknown) => unknown): void;
  /** A directory of the plugin's own under the daemon's state_dir (created before start). */
  readonly dataDir: string;
}

export interface PluginModule {
  start(ctx: PluginContext): Promise<void> | void;
  stop?(reason: string): Promise<void> | void;
}
