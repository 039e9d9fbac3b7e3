// state-watch: an example of a plugin installed beside ockle (docs/plugins.md). It reacts to
// server state changes (as Ockle's Logger plugin did) and registers a command. Plain ESM: it
// runs in its own worker thread and needs nothing from ockle at run time.

/** @type {{ server: string, state: string, previous: string, reason: string, at: string }[]} */
const recent = [];

/** @param {import('ockle/plugin').PluginContext} ctx */
export function start(ctx) {
  const keep = ctx.config.KEEP;
  const warnOn = new Set(ctx.config.WARN_ON);
  ctx.on('server.changed', (e) => {
    recent.push({ server: e.server, state: e.state, previous: e.previous, reason: e.reason, at: new Date().toISOString() });
    if (recent.length > keep) recent.splice(0, recent.length - keep);
    if (warnOn.has(e.state)) ctx.log.warn(`${e.server} is ${e.state}: ${e.reason}`);
  });
  ctx.command(
    'recent',
    { description: 'The latest server state changes, newest first (optionally of one server).', role: 'viewer' },
    (params) => {
      const server = params && typeof params === 'object' ? params.server : undefined;
      return recent.filter((c) => server === undefined || c.server === server).reverse();
    },
  );
}

export function stop() {}
