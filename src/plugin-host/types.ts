/** What a worker plugin module exports, and the `ctx` it is given. */

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
}

export interface PluginModule {
  start(ctx: PluginContext): Promise<void> | void;
  stop?(reason: string): Promise<void> | void;
}
