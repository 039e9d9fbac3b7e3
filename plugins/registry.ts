/**
 * Plugins shipped with ockle. Each is a folder whose index.ts exports its manifest: name,
 * description, apiVersion, config template (validated in [plugins.NAME]) and, for a worker
 * plugin, `worker`: the compiled module the worker thread loads (start(ctx), stop(reason)).
 * auto-control has no `worker`: it runs in the main thread, inside the runtime.
 */
import type { Template } from '../src/config/types.js';
import { PLUGIN_API_VERSION, type CommandRole } from '../src/plugin-host/types.js';
import * as autoControl from './auto-control/index.js';
import * as logger from './logger/index.js';
import * as metrics from './metrics/index.js';
import * as mqtt from './mqtt/index.js';
import * as timerExample from './timer-example/index.js';

export interface PluginManifest {
  readonly name: string;
  readonly description: string;
  /** The ctx API the plugin was written for; must equal PLUGIN_API_VERSION. */
  readonly apiVersion: number;
  readonly config: Template;
  /**
   * The least role the plugin's `ctx.call`s need (viewer: only reads; operator: may switch
   * power), as METHODS in src/plugin-host/contract.ts assigns them; a call above it is refused
   * with OCKLE_AUTH_FORBIDDEN. Default operator.
   */
  readonly role?: CommandRole;
  /** Path of the worker module; absent for a main-thread plugin. */
  readonly worker?: string;
}

export const manifests: readonly PluginManifest[] = [autoControl, logger, metrics, mqtt, timerExample];

for (const m of manifests)
  if (m.apiVersion !== PLUGIN_API_VERSION) throw new Error(`plugin ${m.name} is written for plugin API ${m.apiVersion}; this ockle has ${PLUGIN_API_VERSION}`);

export const builtinPluginTemplates: ReadonlyMap<string, Template> = new Map(manifests.map((m) => [m.name, m.config]));

/**
 * Plugins that run in a worker thread: name → compiled worker module, and the role its calls
 * hold (for `pluginHandler`; always set here, optional so that plugins from elsewhere fit).
 */
export const workerPlugins: ReadonlyMap<string, { readonly module: string; readonly description: string; readonly role?: CommandRole }> = new Map(
  manifests.flatMap((m) => (m.worker ? [[m.name, { module: m.worker, description: m.description, role: m.role ?? 'operator' }] as const] : [])),
);

/** Plugins that run in the daemon's main thread: name → description. */
export const mainThreadPlugins: ReadonlyMap<string, string> = new Map(manifests.filter((m) => !m.worker).map((m) => [m.name, m.description]));
