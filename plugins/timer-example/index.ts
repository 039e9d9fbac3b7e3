/** timer-example: the manifest (runs in a worker thread; the code is in plugin.ts). */
import { duration, str } from '../../src/config/types.js';
import { builtModule } from '../../src/plugin-host/paths.js';

export const name = 'timer-example';
export const apiVersion = 1;
/** It only reads (servers, devices): a `ctx.call` that switches power would be refused. */
export const role = 'viewer';
export const description = 'Logs a message (and how many servers are OK) every wait_time: the example for plugin authors.';
export const config = {
  wait_time: duration({ min: 100, default: 60_000, help: 'Time between two messages.' }),
  message: str({ default: 'timer tick', help: 'The message logged.' }),
};
export const worker = builtModule(import.meta.url, 'plugin.js');
