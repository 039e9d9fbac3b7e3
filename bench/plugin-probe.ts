/**
 * A plugin for the plugin benchmark: `rtt` times `n` sequential ctx.call round trips from inside
 * the worker; `tick` events are acknowledged with a ctx.call so the main thread sees when every
 * worker has handled one.
 */
// Its own method and event names (a bare PluginHost, not the daemon's table): the untyped ctx.
import type { RawPluginContext as PluginContext } from '../src/plugin-host/types.js';

export function start(ctx: PluginContext): void {
  ctx.command('rtt', { description: 'Times n sequential ctx.call round trips.', role: 'viewer' }, async (params) => {
    const { n, method } = params as { n: number; method: string };
    const xs: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await ctx.call(method, { i });
      xs.push(performance.now() - t);
    }
    return xs;
  });
  ctx.on('bench.tick', (p) => void ctx.call('ack', p));
}
