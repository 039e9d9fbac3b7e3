/**
 * A plugin from outside ockle's source: an npm package (published, packed, or just a directory
 * with a package.json) whose `package.json` carries an `ockle` field:
 *
 *   {
 *     "name": "ockle-plugin-hello", "version": "1.0.0", "type": "module",
 *     "keywords": ["ockle-plugin"],
 *     "ockle": {
 *       "name": "hello",                 // default: the package name without "ockle-plugin-"
 *       "apiVersion": 1,                 // the plugin API it was written for (PLUGIN_API_VERSION)
 *       "description": "Says hello.",
 *       "main": "dist/plugin.js",        // the worker module (start(ctx), stop(reason)); default: package "main", else index.js
 *       "role": "viewer",                // the least role its ctx.calls need (default operator)
 *       "settings": { "greeting": { "type": "string", "default": "hi", "help": "What it says." } },
 *       "template": "hello.ini"          // or: an Ockle plugin INI template (KEY=["int",1]) instead of settings
 *     }
 *   }
 *
 * Everything here is read as data (JSON, INI): no plugin code runs in the daemon's thread to
 * learn what it is. Its code runs only in its worker.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Secret} from './types.js';
import { bool, duration, int, list, multilist, parseDuration, secret, select, str, type KeySpec, type Template } from './types.js';

/**
 * The version of the plugin API: the `ctx` a worker plugin gets (src/plugin-host/types.ts) and
 * this manifest. A plugin states the version it was written for; a mismatch is refused.
 */
export const PLUGIN_API_VERSION = 1;

export type PluginRole = 'viewer' | 'operator' | 'admin';
const ROLES: readonly PluginRole[] = ['viewer', 'operator', 'admin'];

/** A plugin found on disk, validated; its code not loaded. */
export interface PluginPackage {
  readonly name: string;
  readonly description: string;
  readonly version: string;
  readonly apiVersion: number;
  readonly role: PluginRole;
  /** Absolute path of the worker module. */
  readonly module: string;
  readonly config: Template;
  /** The package.json it was read from. */
  readonly file: string;
  /** Its mtime and the module's: a reload restarts a plugin whose files changed (an upgrade). */
  readonly stamp: string;
}

export interface ManifestProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
  readonly hint?: string;
  /** The plugin's name when it is known (for "enabled but broken" messages). */
  readonly plugin?: string;
}

/** A plugin's name: what [plugins] enabled and [plugins.NAME] use. */
export const PLUGIN_NAME = /^[a-z][a-z0-9-]{0,39}$/;

function lineOf(text: string, needle: string): number {
  const i = text.indexOf(needle);
  return i < 0 ? 1 : text.slice(0, i).split('\n').length;
}

/** True when a package.json declares an ockle plugin (an `ockle` field, or the `ockle-plugin` keyword). */
export function declaresPlugin(pkg: unknown): boolean {
  if (typeof pkg !== 'object' || pkg === null) return false;
  const p = pkg as { ockle?: unknown; keywords?: unknown };
  return p.ockle !== undefined || (Array.isArray(p.keywords) && p.keywords.includes('ockle-plugin'));
}

/**
 * Reads and validates the plugin in `dir` (its package.json). Returns the plugin, or the
 * problems that keep it from loading, each at the file and line to fix.
 */
export function readPluginPackage(dir: string): { plugin?: PluginPackage; problems: ManifestProblem[] } {
  const file = join(dir, 'package.json');
  let text: string;
  let pkg: Record<string, unknown>;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { problems: [{ file, line: 1, message: `cannot read the plugin's package.json: ${(err as Error).message}`, hint: 'A plugin directory holds a package.json with an "ockle" field (docs/plugins.md).' }] };
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    pkg = parsed as Record<string, unknown>;
  } catch (err) {
    return { problems: [{ file, line: 1, message: `package.json is not valid JSON: ${(err as Error).message}` }] };
  }
  const o = (typeof pkg.ockle === 'object' && pkg.ockle !== null && !Array.isArray(pkg.ockle) ? pkg.ockle : {}) as Record<string, unknown>;
  const at = (key: string): number => lineOf(text, `"${key}"`);
  const problems: ManifestProblem[] = [];
  const pkgName = typeof pkg.name === 'string' ? pkg.name : '';
  const name = typeof o.name === 'string' ? o.name : pkgName.replace(/^@[^/]+\//, '').replace(/^ockle-plugin-/, '');
  const fail = (line: number, message: string, hint?: string): void => void problems.push({ file, line, message, ...(hint && { hint }), ...(name && { plugin: name }) });
  if (!PLUGIN_NAME.test(name))
    fail(at('ockle'), `plugin name "${name}" is not valid`, 'Name it in "ockle": { "name": … }: lower-case letters, digits and dashes, starting with a letter (at most 40).');
  if (pkg.ockle === undefined) fail(1, `package.json has no "ockle" field`, 'Declare the plugin: "ockle": { "apiVersion": 1, "description": …, "main": … } (docs/plugins.md).');
  const apiVersion = o.apiVersion;
  if (apiVersion !== PLUGIN_API_VERSION)
    fail(
      at('apiVersion'),
      apiVersion === undefined ? 'the plugin does not say which plugin API it was written for' : `the plugin is written for plugin API ${JSON.stringify(apiVersion)}; this ockle has ${PLUGIN_API_VERSION}`,
      apiVersion === undefined ? `Add "apiVersion": ${PLUGIN_API_VERSION} to its "ockle" field.` : 'Install a version of the plugin made for this ockle, or an ockle it was made for.',
    );
  const description = typeof o.description === 'string' ? o.description : typeof pkg.description === 'string' ? pkg.description : '';
  const role = o.role ?? 'operator';
  if (!ROLES.includes(role as PluginRole)) fail(at('role'), `role "${String(role)}" is not one of: ${ROLES.join(', ')}`);
  const mainRel = typeof o.main === 'string' ? o.main : typeof pkg.main === 'string' ? pkg.main : 'index.js';
  const module = resolve(dir, mainRel);
  if (isAbsolute(mainRel) || relative(dir, module).startsWith('..')) fail(at('main'), `the plugin's main "${mainRel}" is outside its directory`);
  else if (!existsSync(module)) fail(at('main'), `the plugin's main file ${mainRel} does not exist`, 'Build the plugin (npm run build), or point "main" at its worker module.');
  let config: Template = {};
  if (o.settings !== undefined && o.template !== undefined) fail(at('template'), 'give either "settings" or "template", not both');
  else if (o.settings !== undefined) {
    const t = templateFromJson(o.settings);
    for (const p of t.problems) fail(at(p.key ?? 'settings'), p.message, p.hint);
    config = t.template;
  } else if (typeof o.template === 'string') {
    const tfile = resolve(dir, o.template);
    let ttext = '';
    try {
      ttext = readFileSync(tfile, 'utf8');
    } catch (err) {
      fail(at('template'), `cannot read the settings template ${o.template}: ${(err as Error).message}`);
    }
    const t = templateFromOckleIni(ttext, name);
    for (const p of t.problems) problems.push({ file: tfile, line: p.line, message: p.message, ...(p.hint && { hint: p.hint }), ...(name && { plugin: name }) });
    config = t.template;
  }
  if (problems.length > 0) return { problems };
  const mtime = (f: string): number => (existsSync(f) ? statSync(f).mtimeMs : 0);
  return {
    plugin: {
      name,
      description,
      version: typeof pkg.version === 'string' ? pkg.version : '0.0.0',
      apiVersion: PLUGIN_API_VERSION,
      role: role as PluginRole,
      module,
      config,
      file,
      stamp: `${mtime(file)}:${mtime(module)}`,
    },
    problems: [],
  };
}

// ── settings templates ─────────────────────────────────────────────────────────────────

interface TemplateProblem {
  readonly key?: string;
  readonly line: number;
  readonly message: string;
  readonly hint?: string;
}

const KEY = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const SETTING_TYPES = ['string', 'int', 'bool', 'duration', 'select', 'multiselect', 'secret', 'list'] as const;

/** A plugin's settings declared as JSON (package.json "ockle".settings) → a template. */
export function templateFromJson(settings: unknown): { template: Template; problems: TemplateProblem[] } {
  const problems: TemplateProblem[] = [];
  const template: Record<string, KeySpec<unknown>> = {};
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings))
    return { template, problems: [{ line: 1, message: '"settings" must be an object: setting name → { "type": …, "default": …, "help": … }' }] };
  for (const [key, raw] of Object.entries(settings)) {
    const bad = (message: string, hint?: string): void => void problems.push({ key, line: 1, message: `setting "${key}": ${message}`, ...(hint && { hint }) });
    if (!KEY.test(key)) {
      bad('is not a valid key name', 'Use letters, digits and underscores, starting with a letter.');
      continue;
    }
    if (typeof raw !== 'object' || raw === null) {
      bad('must be an object with a "type"');
      continue;
    }
    const s = raw as Record<string, unknown>;
    const help = typeof s.help === 'string' ? s.help : '';
    const required = s.required === true;
    const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
    const choices = Array.isArray(s.choices) && s.choices.every((c) => typeof c === 'string') ? (s.choices as string[]) : undefined;
    try {
      template[key] = build(String(s.type), { help, required, def: s.default, min: s.min, max: s.max, choices, num });
    } catch (err) {
      bad((err as Error).message, `Types: ${SETTING_TYPES.join(', ')}.`);
    }
  }
  return { template: Object.freeze(template), problems };
}

function build(
  type: string,
  o: { help: string; required: boolean; def: unknown; min: unknown; max: unknown; choices: string[] | undefined; num: (v: unknown) => number | undefined },
): KeySpec<unknown> {
  const { help, required } = o;
  const defaults = <T>(d: T | undefined) => (d === undefined ? (required ? { required: true as const } : {}) : { default: d });
  const ms = (v: unknown): number | undefined => (typeof v === 'string' ? parseDuration(v) : o.num(v));
  const need = (c: string[] | undefined): readonly string[] => {
    if (!c || c.length === 0) throw new Error(`type ${type} needs "choices": a list of strings`);
    return c;
  };
  const checkDefault = <T>(spec: KeySpec<T>, d: unknown): KeySpec<T> => {
    if (d === undefined) return spec;
    const text = Array.isArray(d) ? d.join(', ') : typeof d === 'number' && spec.kind === 'duration' ? `${d}ms` : String(d);
    const r = spec.parse(text);
    if (!r.ok) throw new Error(`its default is not valid: ${r.message}`);
    return spec;
  };
  switch (type) {
    case 'string':
      return checkDefault(str({ help, ...defaults(typeof o.def === 'string' ? o.def : undefined) }), o.def);
    case 'int': {
      const min = o.num(o.min);
      const max = o.num(o.max);
      return checkDefault(int({ help, ...(min !== undefined && { min }), ...(max !== undefined && { max }), ...defaults(o.num(o.def)) }), o.def);
    }
    case 'bool':
      return bool({ help, ...defaults(typeof o.def === 'boolean' ? o.def : undefined) });
    case 'duration': {
      const min = ms(o.min);
      const max = ms(o.max);
      return checkDefault(duration({ help, ...(min !== undefined && { min }), ...(max !== undefined && { max }), ...defaults(ms(o.def)) }), o.def);
    }
    case 'select':
      return checkDefault(select({ help, choices: need(o.choices), ...defaults(typeof o.def === 'string' ? o.def : undefined) }), o.def);
    case 'multiselect':
      return checkDefault(multilist({ help, choices: need(o.choices), ...defaults(Array.isArray(o.def) ? (o.def as string[]) : undefined) }), o.def);
    case 'list':
      return list({ help, ...defaults(Array.isArray(o.def) ? (o.def as string[]) : undefined) });
    case 'secret':
      if (o.def !== undefined) throw new Error('a secret has no default (it would sit in the package for anyone to read)');
      return secret({ help, ...(required && { required: true as const }) }) as KeySpec<Secret>;
    default:
      throw new Error(`unknown type "${type}"`);
  }
}

/**
 * An Ockle plugin INI template (src/config/plugins/NAME.ini in Ockle): `[plugins.NAME]` with one
 * line per setting, `KEY=["type", default, …]` as in Ockle's INITemplates: string, int, bool,
 * intrange (`["intrange", 1, "1-8"]`), select and multilist (their choices, when given, as a
 * third element: a list or a comma-separated string; without one a select is free text and a
 * multilist a free list).
 */
export function templateFromOckleIni(text: string, plugin: string): { template: Template; problems: TemplateProblem[] } {
  const problems: TemplateProblem[] = [];
  const template: Record<string, KeySpec<unknown>> = {};
  let section: string | null = null;
  text.split(/\r?\n/).forEach((rawLine, i) => {
    const line = i + 1;
    const t = rawLine.trim();
    if (t === '' || t.startsWith(';') || t.startsWith('#')) return;
    const sec = /^\[(.+)\]$/.exec(t);
    if (sec) {
      section = sec[1]!.trim();
      return;
    }
    const eq = t.indexOf('=');
    if (eq < 0) return void problems.push({ line, message: `"${t}" is not KEY=["type", default]` });
    const key = t.slice(0, eq).trim();
    if (section !== null && !/^plugins\./i.test(section))
      return void problems.push({ line, message: `[${section}] is not a plugin settings section`, hint: `Put the settings under [plugins.${plugin}].` });
    let v: unknown;
    try {
      v = JSON.parse(t.slice(eq + 1).trim());
    } catch {
      return void problems.push({ line, message: `${key}: the value is not a JSON list like ["int", 1]` });
    }
    if (!Array.isArray(v) || typeof v[0] !== 'string') return void problems.push({ line, message: `${key}: the value is not a JSON list like ["int", 1]` });
    const [type, def, extra] = v as [string, unknown, unknown];
    const choices = Array.isArray(extra) ? extra.map(String) : typeof extra === 'string' && type !== 'intrange' ? extra.split(',').map((c) => c.trim()).filter(Boolean) : undefined;
    const help = `${key} (from the plugin's Ockle template)`;
    try {
      if (!KEY.test(key)) throw new Error('is not a valid key name');
      if (type === 'intrange') {
        const m = typeof extra === 'string' ? /^\s*(-?\d+)\s*-\s*(-?\d+)\s*$/.exec(extra) : null;
        if (!m) throw new Error(`intrange needs a range like "1-8" as its third element`);
        template[key] = build('int', { help, required: false, def, min: Number(m[1]), max: Number(m[2]), choices: undefined, num: (x) => (typeof x === 'number' ? x : undefined) });
      } else {
        const mapped = type === 'multilist' ? (choices ? 'multiselect' : 'list') : type === 'select' && !choices ? 'string' : type;
        const d = type === 'select' && typeof def === 'boolean' ? undefined : def; // Ockle's ["select", false] says "not disabled", not a default
        template[key] = build(mapped, { help, required: false, def: d, min: undefined, max: undefined, choices, num: (x) => (typeof x === 'number' ? x : undefined) });
      }
    } catch (err) {
      problems.push({ line, message: `${key}: ${(err as Error).message}`, hint: 'Types: string, int, bool, intrange, select, multilist.' });
    }
  });
  return { template: Object.freeze(template), problems };
}
