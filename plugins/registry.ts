/** Plugins shipped with ockle: name → config template (validated in [plugins.NAME]), and the worker ones. */
import type { Template } from '../src/config/types.js';
import * as autoControl from './auto-control/index.js';
import * as logger from './logger/index.js';
import * as metrics from './metrics/index.js';
import * as timerExample from './timer-example/index.js';

export const builtinPluginTemplates: ReadonlyMap<string, Template> = new Map<string, Template>([
  [autoControl.name, autoControl.config],
  [logger.name, logger.config],
  [metrics.name, metrics.config],
  [timerExample.name, timerExample.config],
]);

/** Plugins that run in a worker thread: name → compiled worker module. (auto-control runs in the main thread.) */
export const workerPlugins: ReadonlyMap<string, { readonly module: string; readonly description: string }> = new Map([
  [logger.name, { module: logger.worker, description: logger.description }],
  [metrics.name, { module: metrics.worker, description: metrics.description }],
  [timerExample.name, { module: timerExample.worker, description: timerExample.description }],
]);

/** Plugins that run in the daemon's main thread: name → description. */
export const mainThreadPlugins: ReadonlyMap<string, string> = new Map([[autoControl.name, autoControl.description]]);
