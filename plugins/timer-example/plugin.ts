/**
 * timer-example, the worker side: logs a message every `wait_time` (Ockle's documented example
 * plugin, and the starting point for plugin authors: see docs/plugins.md). It also reports how
 * many servers are OK, to show a `ctx.call` round trip.
 */
import type { PluginContext } from '../../src/plugin-host/types.js';

let timer: NodeJS.Timeout | undefined;

export function start(ctx: PluginContext): void {
  const every = Number(ctx.config.wait_time);
  const message = String(ctx.config.message);
  timer = setInterval(() => {
    void ctx.call('servers').then(
      (servers) => ctx.log.info(message, { ok: servers.filter((s) => s.state === 'OK').length, of: servers.length }),
      (err: unknown) => ctx.log.warn('could not read the servers', { err: (err as Error).message }),
    );
  }, every);
}

export function stop(): void {
  clearInterval(timer);
}
