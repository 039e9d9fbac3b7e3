/**
 * `ockle/plugin`: what a plugin written outside ockle's source imports, to type-check against
 * the daemon's contract and to unit-test without a daemon.
 *
 *   import type { PluginContext } from 'ockle/plugin';   // in the plugin: a type import only
 *   import { testContext } from 'ockle/plugin';          // in its tests
 *
 * A plugin's runtime code must not import `ockle` (a value import): installed into
 * <config>/plugins/NAME it runs where no `ockle` package resolves. Type imports vanish when it
 * is compiled, so `import type` is always safe.
 *
 * Everything here is a re-export of what the daemon itself uses (src/plugin-host/, the manifest
 * reader src/config/plugin-manifest.ts), so the SDK cannot drift from what the daemon accepts.
 * The manifest and settings types describe the package.json `ockle` field the reader validates;
 * a test feeds every setting type through that reader.
 */
import type { CommandRole } from '../plugin-host/protocol.js';
import type { PLUGIN_API_VERSION } from '../config/plugin-manifest.js';

export { PLUGIN_API_VERSION } from '../config/plugin-manifest.js';
/** Every type of the worker's side (PluginContext, PluginModule, CommandRole, command parameter types…), whatever it grows. */
export type * from '../plugin-host/types.js';
export type { PluginCallArgs, PluginEventName, PluginEventPayload, PluginMethodName, PluginMethodParams, PluginMethodResult } from '../plugin-host/contract.js';
export { testContext, type TestContext, type TestLog } from '../plugin-host/testing.js';
/** What events carry and `ctx.call` answers: the daemon's own status types. */
export type { ActionRecord, ActionStep, DeviceStatus, OckleEvents, OpState, ServerStatus, TestState, TreeView } from '../core/model.js';

// ── the package.json `ockle` field ──────────────────────────────────────────────────────

interface SettingBase {
  /** One line for `ockle plugins show`, docs and the dashboard's config view. */
  readonly help?: string;
  /** The user must set it in [plugins.NAME] (only meaningful without a default). */
  readonly required?: boolean;
}

/**
 * One setting of a plugin, as declared in its package.json `"ockle": { "settings": { KEY: … } }`.
 * What `ctx.config[KEY]` holds is noted on each: defaults filled in, values converted.
 */
export type PluginSetting =
  /** `ctx.config.KEY`: string. */
  | (SettingBase & { readonly type: 'string'; readonly default?: string })
  /** `ctx.config.KEY`: number (an integer within min..max). */
  | (SettingBase & { readonly type: 'int'; readonly min?: number; readonly max?: number; readonly default?: number })
  /** `ctx.config.KEY`: boolean (yes/no, true/false, on/off, 1/0 in ockle.ini). */
  | (SettingBase & { readonly type: 'bool'; readonly default?: boolean })
  /** `ctx.config.KEY`: number of milliseconds. Bounds and default as `"30s"`, `"5m"`, or a number of ms. */
  | (SettingBase & { readonly type: 'duration'; readonly min?: string | number; readonly max?: string | number; readonly default?: string | number })
  /** `ctx.config.KEY`: one of `choices`. */
  | (SettingBase & { readonly type: 'select'; readonly choices: readonly string[]; readonly default?: string })
  /** `ctx.config.KEY`: string[], each one of `choices` (comma-separated in ockle.ini). */
  | (SettingBase & { readonly type: 'multiselect'; readonly choices: readonly string[]; readonly default?: readonly string[] })
  /** `ctx.config.KEY`: string. Never logged by ockle; no default (it would ship in the package). */
  | (SettingBase & { readonly type: 'secret'; readonly default?: never })
  /** `ctx.config.KEY`: string[] (comma-separated in ockle.ini). */
  | (SettingBase & { readonly type: 'list'; readonly default?: readonly string[] });

/** Every setting type. */
export type PluginSettingType = PluginSetting['type'];

/** `"ockle": { "settings": … }`: setting name (a letter, then letters, digits, `_`) → its declaration. */
export type PluginSettings = Readonly<Record<string, PluginSetting>>;

interface ManifestBase {
  /** The plugin's name in [plugins] enabled and [plugins.NAME]: `^[a-z][a-z0-9-]{0,39}$`. Default: the package name without `ockle-plugin-`. */
  readonly name?: string;
  /** The plugin API it was written for; another version is refused at load. */
  readonly apiVersion: typeof PLUGIN_API_VERSION;
  /** One line for `ockle plugins`. Default: the package's description. */
  readonly description?: string;
  /** The worker module (exports start(ctx), stop(reason)), relative to the package. Default: the package's `main`, else index.js. */
  readonly main?: string;
  /** The least role its `ctx.call`s need (viewer < operator < admin). Default: operator. */
  readonly role?: CommandRole;
}

/**
 * The `ockle` field of a plugin's package.json. Its settings are declared either as JSON
 * (`settings`) or as an Ockle plugin INI template file (`template`, a path in the package), not
 * both; with neither, the plugin has no settings.
 */
export type PluginManifest = ManifestBase &
  ({ readonly settings?: PluginSettings; readonly template?: never } | { readonly template: string; readonly settings?: never });

/** A plugin's package.json, as far as ockle reads it. */
export interface PluginPackageJson {
  readonly name: string;
  readonly version?: string;
  readonly description?: string;
  /** `module`: the worker is loaded with import(). */
  readonly type?: 'module' | 'commonjs';
  readonly main?: string;
  /** `ockle-plugin` makes the package findable in an npm search, like Homebridge's keyword. */
  readonly keywords?: readonly string[];
  readonly ockle: PluginManifest;
}
