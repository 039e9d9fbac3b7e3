/**
 * Enabling, disabling and describing plugins for the API (`ockle plugins enable|disable|show`),
 * without a restart of the daemon. Enabling or disabling edits one line of ockle.ini
 * (`[plugins] enabled`, through config/ini-edit.ts), and only after the whole configuration
 * with that line changed validates; then the daemon reloads, which restarts only the plugin
 * whose enablement changed (`changedPlugins` in world.ts) and switches nothing.
 *
 * Refused, with nothing written: an unknown plugin (404, naming the others), enabling one that
 * cannot be loaded (409, with why), a change that would not validate (400, with the problems),
 * configuration files edited since the daemon loaded them (409: the reload would apply those
 * edits too), a file that cannot be written (500, with the system's reason).
 */
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { PluginDetail, PluginSettingInfo, PluginStatus, PluginToggle } from './api/server.js';
import { fingerprint } from './config/fingerprint.js';
import { serialized, setListKey, writeFileAtomic } from './config/ini-edit.js';
import type { Config } from './config/load.js';
import type { Template } from './config/types.js';
import { ConfigError, OckleError, toOckleError, type ConfigProblem } from './errors.js';

/** What the plugin faces need of the daemon. */
export interface PluginAdminDeps {
  readonly configDir: string;
  /** The configuration the daemon runs. */
  running(): Config;
  /** Every plugin with its state (the daemon's `plugins()`). */
  list(): readonly PluginStatus[];
  /** Templates of the plugins that ship with the daemon (bundled, and a test's extra ones). */
  readonly templates: ReadonlyMap<string, Template>;
  /** ockle's version: a bundled plugin's. */
  readonly version: string;
  /** Checks the configuration on disk, with ockle.ini replaced by `mainText` when given. */
  check(mainText?: string): Promise<{ problems: ConfigProblem[]; config?: Config }>;
  /** The daemon's reload: true when the new configuration was applied. */
  reload(): Promise<boolean>;
}

const MAIN = 'ockle.ini';

/** Where a plugin comes from in `config`. */
export function pluginSource(config: Config, name: string): 'bundled' | 'installed' {
  return config.plugins.installed.has(name) || config.plugins.broken.has(name) ? 'installed' : 'bundled';
}

/** The daemon's plugin list with where each comes from. */
export function withSource(list: readonly PluginStatus[], config: Config): PluginStatus[] {
  return list.map((p) => ({ ...p, source: pluginSource(config, p.name) }));
}

/** Every plugin `config` knows: bundled, installed and broken. */
function known(config: Config, deps: PluginAdminDeps): Set<string> {
  return new Set([...deps.templates.keys(), ...config.plugins.installed.keys(), ...config.plugins.broken.keys()]);
}

function notFound(name: string, names: Iterable<string>): OckleError {
  return new OckleError('OCKLE_NOT_FOUND', `no plugin "${name}"`, {
    hint: `Plugins: ${[...names].sort().join(', ') || 'none'}. An installed one must be in a [plugins] directories folder (docs/plugins.md); \`ockle config check\` names one it cannot read.`,
  });
}

/** A plugin's settings: its template, each key with the value in effect (never a secret's). */
function settingsOf(config: Config, name: string, template: Template | undefined): PluginSettingInfo[] {
  if (!template) return [];
  const values = config.plugins.settings.get(name) ?? {};
  const section = config.view.find((f) => f.file === MAIN)?.sections.find((s) => s.name === `plugins.${name}`);
  return Object.entries(template).map(([key, spec]) => {
    const secret = spec.kind === 'secret';
    const v = key in values ? values[key] : spec.default;
    return {
      key,
      kind: spec.kind,
      describe: spec.describe,
      help: spec.help,
      required: spec.required,
      default: spec.default === undefined || secret ? null : spec.format(spec.default),
      ...(spec.choices && { choices: spec.choices }),
      ...(spec.min !== undefined && { min: spec.min }),
      ...(spec.max !== undefined && { max: spec.max }),
      value: v === undefined ? null : secret ? '[secret]' : spec.format(v),
      line: section?.keys.find((k) => k.key === key)?.line ?? null,
    };
  });
}

function detail(config: Config, status: PluginStatus, deps: PluginAdminDeps): PluginDetail {
  const name = status.name;
  const installed = config.plugins.installed.get(name);
  const source = pluginSource(config, name);
  return {
    ...status,
    source,
    version: installed?.version ?? (source === 'bundled' ? deps.version : 'unknown'),
    ...(installed && { file: installed.file }),
    enabled: config.plugins.enabled.includes(name),
    settings: settingsOf(config, name, deps.templates.get(name) ?? installed?.config),
  };
}

/**
 * One plugin with its settings template and values. A plugin installed since the daemon last
 * loaded its configuration is described from the disk (`disabled` until enabled).
 * @throws OckleError OCKLE_NOT_FOUND naming the plugins there are
 */
export async function showPlugin(deps: PluginAdminDeps, name: string): Promise<PluginDetail> {
  const running = deps.running();
  const status = deps.list().find((p) => p.name === name);
  if (status) return detail(running, { ...status, source: pluginSource(running, name) }, deps);
  const disk = (await deps.check()).config;
  const found = disk && known(disk, deps).has(name);
  if (!disk || !found) throw notFound(name, new Set([...known(running, deps), ...(disk ? known(disk, deps) : [])]));
  const installed = disk.plugins.installed.get(name);
  const broken = disk.plugins.broken.get(name);
  const fresh: PluginStatus = { name, description: installed?.description ?? '', where: 'worker', state: 'disabled', lastError: broken ?? null, bugs: 0 };
  return detail(disk, fresh, deps);
}


/** Waits (a little) for a plugin that was just started or stopped to settle, so the answer says how it went. */
async function settled(deps: PluginAdminDeps, name: string, ms: number, disk: Config): Promise<PluginStatus> {
  const t0 = Date.now();
  for (;;) {
    const s = deps.list().find((p) => p.name === name);
    // Not known to the running configuration (installed since, and the reload was refused): as on disk.
    if (!s) return { name, description: disk.plugins.installed.get(name)?.description ?? '', where: 'worker', state: 'disabled', lastError: null, bugs: 0, source: pluginSource(disk, name) };
    if ((s.state !== 'starting' && s.state !== 'stopping') || Date.now() - t0 > ms) return { ...s, source: pluginSource(deps.running(), name) };
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Enables or disables plugin `name` (see the file's comment for what is refused).
 * @returns its status after the reload; `changed: false` when it already was so (nothing written)
 */
export function setPluginEnabled(deps: PluginAdminDeps, name: string, enable: boolean): Promise<PluginToggle> {
  return serialized(deps.configDir, async (): Promise<PluginToggle> => {
    const running = deps.running();
    const file = await realpath(join(deps.configDir, MAIN)).catch(() => join(deps.configDir, MAIN));
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new OckleError('OCKLE_CONFIG_UNREADABLE', `cannot read ${file}: ${toOckleError(err).message}`);
    }
    // The configuration as it is on disk now: it must be the one the daemon runs, or the reload
    // after this edit would apply other edits nobody asked for here.
    const disk = await deps.check();
    if (!disk.config)
      throw new OckleError('OCKLE_CONFIG_INVALID', `the configuration on disk does not validate as it is, so ockle does not edit it; ${new ConfigError(disk.problems).message}`, {
        hint: 'Correct it (`ockle config check` lists every problem), reload, then try again.',
      });
    const names = new Set([...known(running, deps), ...known(disk.config, deps)]);
    if (!names.has(name)) throw notFound(name, names);
    if (fingerprint(disk.config.view) !== fingerprint(running.view))
      throw new OckleError('OCKLE_CONFIG_CONFLICT', `the configuration in ${deps.configDir} was changed since the daemon loaded it; enabling or disabling ${name} would apply those changes too, so nothing was written`);
    const broken = disk.config.plugins.broken.get(name);
    if (enable && broken !== undefined) throw new OckleError('OCKLE_PLUGIN_BROKEN', `plugin "${name}" cannot be loaded: ${broken}`);
    const enabled = disk.config.plugins.enabled;
    if (enabled.includes(name) === enable) return { plugin: await settled(deps, name, 0, disk.config), changed: false, reloaded: false };

    const next = enable ? [...enabled, name] : enabled.filter((n) => n !== name);
    let newText: string;
    try {
      newText = setListKey(text, 'plugins', 'enabled', next);
    } catch (err) {
      throw new OckleError('OCKLE_CONFIG_INVALID', `${MAIN} cannot be edited safely: ${toOckleError(err).message}`, { hint: 'Correct it by hand (`ockle config check` helps), then try again.' });
    }
    // The whole configuration with the change, checked before anything is written.
    const checked = await deps.check(newText);
    if (!checked.config) throw new ConfigError(checked.problems);
    let backup: string | null;
    try {
      ({ backup } = await writeFileAtomic(file, newText));
    } catch (err) {
      throw new OckleError('OCKLE_CONFIG_UNWRITABLE', `cannot write ${file}: ${(err as Error).message}; nothing was changed`);
    }
    const reloaded = await deps.reload();
    const plugin = await settled(deps, name, reloaded ? running.plugins.startTimeoutMs + running.plugins.stopTimeoutMs + 500 : 0, checked.config);
    return { plugin, changed: true, reloaded, file, backup };
  });
}
