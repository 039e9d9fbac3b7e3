/** Plugins shipped with ockle: name → config template (validated in [plugins.NAME]), and the worker ones. */
import type { Template } from '../src/config/types.js';
import * as autoControl from './auto-control/index.js';
import * as timerExample from './timer-example/index.js';

export const builtinPluginTemplates: ReadonlyMap<string, Template> = new Map<string, Template>([
  [autoControl.name, autoControl.config],
  [timerExample.name, timerExample.config],
]);

/** Plugins that run in a worker thread: name → compiled worker module. (auto-control runs in the main thread.) */
export const workerPlugins: ReadonlyMap<string, { readonly module: string; readonly description: string }> = new Map([
  [timerExample.name, { module: timerExample.worker, description: timerExample.description }],
]);
