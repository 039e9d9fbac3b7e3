/**
 * Finds the plugins installed outside ockle's source, in each plugins directory of
 * `[plugins] directories` (default: `plugins` beside ockle.ini, then /usr/lib/ockle/plugins):
 *
 * - `DIR/NAME/` with a package.json carrying an `ockle` field: a plugin dropped in as a folder;
 * - `DIR/node_modules/PKG` and `DIR/node_modules/@SCOPE/PKG` whose package.json has an `ockle`
 *   field or the `ockle-plugin` keyword: installed with `npm install --prefix DIR PKG`.
 *
 * A broken plugin (unreadable, invalid, wrong apiVersion, missing main, a name taken) is a
 * problem naming it and its file; the others are found as if it were not there.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { declaresPlugin, readPluginPackage, type ManifestProblem, type PluginPackage } from './plugin-manifest.js';

export interface Discovery {
  readonly plugins: ReadonlyMap<string, PluginPackage>;
  /** Plugins found but not loadable (the name, when known, maps to why). */
  readonly broken: ReadonlyMap<string, ManifestProblem>;
  readonly problems: readonly ManifestProblem[];
}

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

function entries(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  } catch {
    return [];
  }
}

/** Directories of candidate plugins in one plugins directory, and whether each must be one (a drop-in) or may not be (an npm dependency). */
function candidates(dir: string): { path: string; dropIn: boolean }[] {
  const out: { path: string; dropIn: boolean }[] = [];
  for (const n of entries(dir)) {
    if (n === 'node_modules' || !isDir(join(dir, n))) continue;
    out.push({ path: join(dir, n), dropIn: true });
  }
  const nm = join(dir, 'node_modules');
  for (const n of entries(nm)) {
    if (n.startsWith('@')) for (const m of entries(join(nm, n))) out.push({ path: join(nm, n, m), dropIn: false });
    else out.push({ path: join(nm, n), dropIn: false });
  }
  return out;
}

/**
 * @param dirs plugins directories, absolute or relative to `base` (the config directory)
 * @param taken names already in use (the built-in plugins): a plugin with one is refused
 */
export function discoverPlugins(base: string, dirs: readonly string[], taken: ReadonlySet<string>): Discovery {
  const plugins = new Map<string, PluginPackage>();
  const broken = new Map<string, ManifestProblem>();
  const problems: ManifestProblem[] = [];
  for (const d of dirs) {
    const dir = resolve(base, d);
    if (!isDir(dir)) continue;
    for (const c of candidates(dir)) {
      const file = join(c.path, 'package.json');
      if (!existsSync(file)) {
        // A folder in the plugins directory that is not a plugin is worth a word; one of
        // node_modules (a .bin, a stray folder) is not.
        if (c.dropIn) problems.push({ file: c.path, line: 1, message: `${c.path} has no package.json, so it is not a plugin`, hint: 'A plugin directory holds a package.json with an "ockle" field (docs/plugins.md); remove the folder otherwise.' });
        continue;
      }
      if (!c.dropIn) {
        // An npm package that is not a plugin (a dependency of one) is skipped quietly.
        try {
          if (!declaresPlugin(JSON.parse(readFileSync(file, 'utf8')))) continue;
        } catch {
          continue;
        }
      }
      const r = readPluginPackage(c.path);
      if (!r.plugin) {
        problems.push(...r.problems);
        const named = r.problems.find((p) => p.plugin);
        if (named?.plugin && !broken.has(named.plugin) && !plugins.has(named.plugin)) broken.set(named.plugin, named);
        continue;
      }
      const p = r.plugin;
      const clash = taken.has(p.name) ? 'a built-in plugin' : plugins.has(p.name) ? plugins.get(p.name)!.file : null;
      if (clash) {
        problems.push({
          file,
          line: 1,
          plugin: p.name,
          message: `plugin "${p.name}" is already taken by ${clash}; this one is not loaded`,
          hint: `Rename it ("ockle": { "name": … }) or remove one of them.`,
        });
        continue;
      }
      plugins.set(p.name, p);
    }
  }
  return { plugins, broken, problems };
}
