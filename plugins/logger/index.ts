/** logger: the manifest (runs in a worker thread; the code is in plugin.ts, the SQL in store.ts). */
import { duration, str } from '../../src/config/types.js';
import { builtModule } from '../../src/plugin-host/paths.js';

export const name = 'logger';
export const apiVersion = 1;
/** It only reads (servers, devices): a `ctx.call` that switches power would be refused. */
export const role = 'viewer';
export const description = 'Records outlet states, metering, UPS readings and action results in SQLite, for charts and history (`ockle cmd logger.query`, `logger.ups`).';
export const config = {
  database: str({
    default: 'logger.sqlite',
    help: 'The SQLite file. Relative paths are relative to the plugin’s directory, <state_dir>/plugins/logger.',
  }),
  log_resolution: duration({ min: 1000, max: 86_400_000, default: 60_000, help: 'How often every outlet’s state and metering, and every UPS’s readings, are sampled. State changes (a UPS going on battery too) and actions are recorded as they happen, whatever this is.' }),
  retention: duration({ min: 3_600_000, max: 10 * 365 * 86_400_000, notATimer: true, default: 30 * 86_400_000, help: 'How long records are kept; older ones are deleted every hour (and at start).' }),
};
export const worker = builtModule(import.meta.url, 'plugin.js');
