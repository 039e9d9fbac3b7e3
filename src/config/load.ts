/**
 * Reads a config directory (ockle.ini, devices/*.ini, servers/*.ini), validates every key
 * against the schema and the driver/plugin templates, checks what spans files (devices,
 * outlets, dependencies, cycles), reports every problem at once with file:line and a fix,
 * and returns a deeply frozen Config.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { isIPv4, isIPv6 } from 'node:net';
import { basename, join, resolve } from 'node:path';
import type { DriverRegistry } from '../../drivers/registry.js';
import type { DriverKind } from '../../drivers/types.js';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { findCycle, parseRemoteRef } from '../graph.js';
import { parseIni, type IniSection } from './ini-lines.js';
import { checkApiExposure } from './api-exposure.js';
import { resolveStateDir } from './paths.js';
import { discoverPlugins } from './plugin-discovery.js';
import type { PluginPackage } from './plugin-manifest.js';
import { sectionView, type FileView, type SectionView } from './view.js';
import {
  apiTemplate,
  controlCommonTemplate,
  daemonTemplate,
  deviceCommonTemplate,
  NAME_HELP,
  NAME_PATTERN,
  outletTemplate,
  pdudaemonTemplate,
  pluginsTemplate,
  serverDefaultsTemplate,
  serverTemplate,
  testCommonTemplate,
  tokenTemplate,
  upsCommonTemplate,
  upsPolicyTemplate,
} from './schema.js';
import { checkUpsPolicy, type UpsConfig } from './ups.js';
import { suggest, type Infer, type Template } from './types.js';

export interface DeviceConfig {
  readonly id: string;
  readonly file: string;
  readonly type: string;
  readonly common: Infer<typeof deviceCommonTemplate>;
  /** The driver's own keys, defaults applied. */
  readonly spec: Readonly<Record<string, unknown>>;
  readonly outletCount: number | undefined;
}
export interface ObjectConfig {
  readonly name: string;
  readonly type: string;
  readonly common: Infer<typeof controlCommonTemplate>;
  readonly spec: Readonly<Record<string, unknown>>;
}
export interface ServerConfig {
  readonly name: string;
  readonly file: string;
  readonly description: string;
  readonly host: string | undefined;
  /** [servers] defaults with this server's overrides applied. */
  readonly settings: Infer<typeof serverDefaultsTemplate>;
  readonly outlets: readonly { readonly name: string; readonly device: string; readonly outlet: number; readonly line: number }[];
  readonly controls: readonly ObjectConfig[];
  readonly tests: readonly ObjectConfig[];
  /** Servers of this gateway it depends on. */
  readonly dependencies: readonly string[];
  /** Servers of other gateways it depends on, `GATEWAY:SERVER` (federation through the mqtt plugin, docs/mqtt.md). */
  readonly remoteDependencies: readonly string[];
  /** Keep-alive restarts after this many consecutive failed test runs; null when off. */
  readonly keepaliveFailures: number | null;
  /** The UPS shed tier of this server (1 first); null: kept on battery until the battery runs low. */
  readonly shedPriority: number | null;
}
export interface TokenConfig {
  readonly name: string;
  readonly role: 'viewer' | 'operator' | 'admin';
  readonly sha256: string;
}
export interface Config {
  readonly dir: string;
  readonly stateDir: string;
  readonly daemon: Infer<typeof daemonTemplate>;
  readonly api: Infer<typeof apiTemplate>;
  readonly serverDefaults: Infer<typeof serverDefaultsTemplate>;
  /** The PDUDaemon-compatible face (src/faces/pdudaemon.ts). */
  readonly pdudaemon: Infer<typeof pdudaemonTemplate>;
  readonly plugins: {
    readonly enabled: readonly string[];
    readonly settings: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
    /** Worker supervision: start, heartbeat and stop deadlines (ms). */
    readonly startTimeoutMs: number;
    readonly hangTimeoutMs: number;
    readonly stopTimeoutMs: number;
    readonly maxMemoryMb: number;
    /** Plugins installed outside ockle's source (docs/plugins.md), by name. */
    readonly installed: ReadonlyMap<string, PluginPackage>;
    /** Plugins found but not loadable, by name: why (with the file). */
    readonly broken: ReadonlyMap<string, string>;
  };
  readonly tokens: readonly TokenConfig[];
  readonly devices: readonly DeviceConfig[];
  readonly servers: readonly ServerConfig[];
  /** UPS sources and their power-cut policies (config/ups/*.ini; docs/ups.md). */
  readonly ups: readonly UpsConfig[];
  readonly warnings: readonly ConfigProblem[];
  /** Every file, section and key as loaded, with the schema's help (secrets masked): the dashboard's config view. */
  readonly view: readonly FileView[];
}

export interface LoadOptions {
  readonly drivers: DriverRegistry;
  /** Plugin name → its config template. */
  readonly plugins?: ReadonlyMap<string, Template>;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Files to read from here instead of the disk (path relative to the directory → text): an
   * edited file checked before it is saved. A path not on disk is checked as a new file; a
   * path mapped to null is checked as absent (a file about to be deleted).
   */
  readonly overrides?: ReadonlyMap<string, string | null>;
}

class Collector {
  readonly problems: ConfigProblem[] = [];
  /** Each validated section with its template (the config view), by section name. */
  readonly views = new Map<string, SectionView>();
  constructor(readonly file: string) {}
  error(line: number | undefined, message: string, hint?: string, key?: string): void {
    this.problems.push({ file: this.file, ...(line !== undefined && { line }), message, ...(hint && { hint }), ...(key && { key }), severity: 'error' });
  }
  warn(line: number | undefined, message: string, hint?: string): void {
    this.problems.push({ file: this.file, ...(line !== undefined && { line }), message, ...(hint && { hint }), severity: 'warning' });
  }
}

/**
 * Validates one section against a template. Unknown keys are reported (with the nearest
 * valid key); values that do not parse are reported and left out; required keys missing
 * are reported at the section header. Secret values are never echoed.
 *
 * The values come back typed by the template. A key whose value was reported is absent, so
 * they are complete only when the section had no error; code that reads them before the
 * loader gives up on errors must treat a required key as possibly absent.
 */
function validate<T extends Template>(c: Collector, sec: IniSection, template: T, skip: readonly string[] = []): Infer<T> {
  const out: Record<string, unknown> = {};
  for (const [key, k] of sec.keys) {
    if (skip.includes(key)) continue;
    const spec = template[key];
    if (!spec) {
      const s = suggest(key, Object.keys(template));
      c.error(
        k.line,
        `unknown key "${key}" in [${sec.name}]`,
        s ? `Did you mean "${s}"?` : `Valid keys: ${Object.keys(template).join(', ')}.`,
        key,
      );
      continue;
    }
    const r = spec.parse(k.value);
    if (r.ok) out[key] = r.value;
    else c.error(k.line, spec.kind === 'secret' ? `${key}: ${r.message}` : `${key} = ${k.value}: ${r.message}`, r.hint, key);
  }
  for (const [key, spec] of Object.entries(template)) {
    if (key in out || sec.keys.has(key)) continue;
    if (spec.required && !skip.includes(key)) c.error(sec.line, `[${sec.name}] needs key "${key}"`, `Add ${key} = … (${spec.help})`, key);
    else if (spec.default !== undefined) out[key] = spec.default;
  }
  const prev = c.views.get(sec.name);
  const view = sectionView(sec, template, out);
  c.views.set(sec.name, prev ? { ...view, keys: [...prev.keys.filter((k) => !(k.key in template)), ...view.keys] } : view);
  return out as Infer<T>;
}

interface Listener {
  readonly label: string;
  readonly address: string;
  readonly port: number;
  readonly line: number;
  readonly isDefault: boolean;
}

/** The addresses a listen address may bind: every one, every IPv4 one, or these (loopback names may be either family). */
function bindSet(address: string): 'all' | 'ipv4' | readonly string[] {
  const a = address.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  // Node listens dual-stack on `::` (and on an empty host), so it takes the port on IPv4 too.
  if (a === '' || (isIPv6(a) && a.split(':').every((g) => /^0*$/.test(g)))) return 'all';
  if (a === '0.0.0.0') return 'ipv4';
  // Node binds the first address `localhost` resolves to, 127.0.0.1 or ::1: either may clash.
  if (a === 'localhost') return ['127.0.0.1', '::1'];
  return [a];
}

/** Whether two listen addresses overlap: the same address, or a wildcard covering the other. Another host name is only known to equal itself. */
export function addressesOverlap(a: string, b: string): boolean {
  const x = bindSet(a);
  const y = bindSet(b);
  if (x === 'all' || y === 'all') return true;
  if (x === 'ipv4' || y === 'ipv4') {
    const other = x === 'ipv4' ? y : x;
    return other === 'ipv4' || other.some((n) => isIPv4(n));
  }
  return x.some((n) => y.includes(n));
}

/**
 * Two listeners on one port and overlapping addresses: the second to start cannot listen. Each
 * clash is reported at the later listener's port key (its section, when the port is its default),
 * naming the earlier one. Port 0 (any free port) never clashes.
 */
function checkPorts(c: Collector, users: readonly { label: string; section: IniSection; template: Template; values: Readonly<Record<string, unknown>> }[]): void {
  const listeners: (Listener & { key: string })[] = [];
  for (const u of users)
    for (const [key, spec] of Object.entries(u.template)) {
      if (!spec.listen) continue;
      const port = u.values[key];
      // A value that did not validate is already reported; no clash on a guess.
      if (typeof port !== 'number' || (u.section.keys.has(key) && !(key in u.values))) continue;
      const addressKey = spec.listen.addressKey;
      const address = addressKey === undefined ? '' : u.values[addressKey];
      if (typeof address !== 'string') continue;
      const k = u.section.keys.get(key);
      listeners.push({ label: u.label, key, address, port, line: k?.line ?? u.section.line, isDefault: k === undefined });
    }
  const where = (l: Listener): string => (bindSet(l.address) === 'all' ? 'every address' : l.address);
  listeners.forEach((l, i) => {
    if (l.port === 0) return;
    const other = listeners.slice(0, i).find((o) => o.port === l.port && addressesOverlap(o.address, l.address));
    if (!other) return;
    c.error(
      l.line,
      `${l.label} ${l.key} ${l.port}${l.isDefault ? ' (the default)' : ''} on ${where(l)} clashes with ${other.label} ${other.key} ${other.port}${other.isDefault ? ' (the default)' : ''} on ${where(other)} (${c.file}:${other.line}): only one of them can listen`,
      `Set ${l.key} = another free port in ${l.label} (0: any free port), or make both listen on different specific addresses.`,
      l.key,
    );
  });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o) && !(o instanceof Map) && o.constructor?.name !== 'Secret') {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** An IPv4/IPv6 address, or a host name of RFC 1123 labels (not something like 256.1.1.1). */
function plausibleHost(h: string): boolean {
  if (h === '' || isIP(h) !== 0) return true;
  if (/^[\d.]+$/.test(h)) return false; // dotted digits that are not an IPv4 address
  return h.length <= 253 && h.split('.').every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/** Why a path under the config directory cannot be used, in words (ENOTDIR, ELOOP…). */
function fsTrouble(rel: string, code: string | undefined): { message: string; hint: string } {
  switch (code) {
    case 'ENOENT':
      return { message: `${rel} is missing`, hint: `Create ${rel}${rel.endsWith('/') ? ' (a lab with no entries there has it empty)' : ''}.` };
    case 'ENOTDIR':
      return { message: `${rel} is not a directory`, hint: `Make ${rel} a directory of .ini files.` };
    case 'EISDIR':
      return { message: `${rel} is a directory, not a file`, hint: `Remove it or rename it so it does not end in .ini.` };
    case 'ELOOP':
      return { message: `${rel} is a symbolic link loop`, hint: 'Point the link at a real directory or file.' };
    case 'EACCES':
    case 'EPERM':
      return { message: `${rel} cannot be read (permission denied)`, hint: 'Give the ockle user read access (and x on directories).' };
    default:
      return { message: `${rel} cannot be read (${code ?? 'unknown error'})`, hint: 'Check the path and its permissions.' };
  }
}

async function listIni(dir: string): Promise<{ files: string[]; code?: string }> {
  try {
    return { files: (await readdir(dir)).filter((f) => f.endsWith('.ini')).sort() };
  } catch (err) {
    return { files: [], code: (err as NodeJS.ErrnoException).code ?? 'EIO' };
  }
}

/** Validates without throwing: every problem (errors and warnings), and the Config when there is no error. */
/**
 * Validates a config directory. `devices` holds every device file that validated on its own,
 * even when other files have errors (for `ockle devices probe` while a config is being written).
 */
export async function checkConfig(dirIn: string, opts: LoadOptions): Promise<{ problems: ConfigProblem[]; config?: Config; devices: readonly DeviceConfig[] }> {
  const dir = resolve(dirIn);
  const problems: ConfigProblem[] = [];
  const collectors: Collector[] = [];
  const listedOnce = new Map<string, string[]>();
  const listed = async (sub: string, optional = false): Promise<string[]> => {
    const known = listedOnce.get(sub);
    if (known) return known;
    const over = [...(opts.overrides ?? [])].filter(([k]) => k.startsWith(`${sub}/`)).map(([k, t]) => [k.slice(sub.length + 1), t] as const);
    const extra = over.filter(([, t]) => t !== null).map(([k]) => k);
    const gone = new Set(over.filter(([, t]) => t === null).map(([k]) => k));
    const { files, code } = await listIni(join(dir, sub));
    // A directory that is missing, a file, a link loop…: a problem at file level, never an
    // internal error (and a reload that meets it keeps the running configuration). Both
    // devices/ and servers/ missing is a lab not built yet (ockle.ini alone, to be built from
    // the dashboard or `ockle config add`): said, not refused. One of them missing beside the
    // other is a mistake (a folder moved away), and a reload must not forget the lab for it.
    if (code === 'ENOENT' && optional) {
      // an optional folder (ups/): none is nothing configured
    } else if (code === 'ENOENT' && !existsSync(join(dir, 'devices')) && !existsSync(join(dir, 'servers'))) {
      const c = new Collector(`${sub}/`);
      c.warn(undefined, `${sub}/ does not exist: no ${sub === 'devices' ? 'devices' : 'servers'} yet`, `Create ${sub}/NAME.ini files (or add them from the dashboard or with \`ockle config add\`).`);
      problems.push(...c.problems);
    } else if (code) {
      const c = new Collector(`${sub}/`);
      const t = fsTrouble(`${sub}/`, code);
      c.error(undefined, t.message, t.hint);
      problems.push(...c.problems);
    }
    const all = [...new Set([...files, ...extra])].filter((f) => !gone.has(f)).sort();
    listedOnce.set(sub, all);
    return all;
  };
  const read = async (rel: string): Promise<{ c: Collector; sections: readonly IniSection[] } | undefined> => {
    const c = new Collector(rel);
    collectors.push(c);
    let text: string;
    try {
      const over = opts.overrides?.get(rel);
      if (over === null) throw Object.assign(new Error(`${rel} is absent`), { code: 'ENOENT' });
      text = over ?? (await readFile(join(dir, rel), 'utf8'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const t = fsTrouble(rel, code);
      c.error(undefined, t.message, code === 'ENOENT'
        ? `Create ${rel} in ${dir} (see config/ockle.ini in the ockle repository for an example) or pass the right --config.`
        : t.hint);
      problems.push(...c.problems);
      return undefined;
    }
    const parsed = parseIni(text);
    for (const p of parsed.problems) c.error(p.line, p.message, p.hint);
    problems.push(...c.problems);
    c.problems.length = 0;
    return { c, sections: parsed.sections };
  };
  const flush = (c: Collector): void => {
    problems.push(...c.problems);
    c.problems.length = 0;
  };

  // ── ockle.ini ──
  const main = await read('ockle.ini');
  const sec = (name: string): IniSection => main?.sections.find((s) => s.name === name) ?? { name, line: 1, keys: new Map() };
  const mc = main?.c ?? new Collector('ockle.ini');
  const daemon = validate(mc, sec('daemon'), daemonTemplate);
  const api = validate(mc, sec('api'), apiTemplate);
  const serverDefaults = validate(mc, sec('servers'), serverDefaultsTemplate);
  const pdudaemon = validate(mc, sec('pdudaemon'), pdudaemonTemplate);
  const pluginsSec = validate(mc, sec('plugins'), pluginsTemplate);
  const builtinPlugins = opts.plugins ?? new Map<string, Template>();
  // Plugins installed beside ockle: found by reading their package.json, never by running them.
  const discovery = discoverPlugins(dir, pluginsSec.directories ?? [], new Set(builtinPlugins.keys()));
  const where = (file: string): string => (file.startsWith(dir + '/') ? file.slice(dir.length + 1) : file);
  for (const p of discovery.problems)
    problems.push({ file: where(p.file), line: p.line, message: p.plugin ? `plugin "${p.plugin}": ${p.message}` : p.message, ...(p.hint && { hint: p.hint }), severity: 'warning' });
  const broken = new Map([...discovery.broken].map(([n, p]) => [n, `${p.message} (${where(p.file)}:${p.line})`]));
  const knownPlugins = new Map<string, Template>([...builtinPlugins, ...[...discovery.plugins].map(([n, p]) => [n, p.config] as const)]);
  const enabled = pluginsSec.enabled ?? [];
  for (const name of enabled) {
    if (broken.has(name)) {
      // Never a reason to keep the daemon or the other plugins from running: it shows as failed.
      mc.warn(sec('plugins').keys.get('enabled')?.line, `plugin "${name}" is enabled but cannot be loaded: ${broken.get(name)}`, 'Fix or reinstall the plugin; ockle runs without it meanwhile.');
      continue;
    }
    if (!knownPlugins.has(name)) {
      const s = suggest(name, knownPlugins.keys());
      mc.error(
        sec('plugins').keys.get('enabled')?.line,
        `unknown plugin "${name}" in enabled`,
        s ? `Did you mean "${s}"?` : `Available plugins: ${[...knownPlugins.keys()].join(', ') || 'none'}.`,
      );
    }
  }
  const pluginSettings = new Map<string, Readonly<Record<string, unknown>>>();
  const tokens: TokenConfig[] = [];
  const KNOWN_MAIN = ['daemon', 'api', 'servers', 'plugins', 'pdudaemon'];
  for (const s of main?.sections ?? []) {
    if (KNOWN_MAIN.includes(s.name)) continue;
    if (s.name.startsWith('plugins.')) {
      const name = s.name.slice('plugins.'.length);
      const template = knownPlugins.get(name);
      if (!template && broken.has(name)) {
        mc.warn(s.line, `[${s.name}] configures plugin "${name}", which cannot be loaded: its settings are not checked`);
        continue;
      }
      if (!template) {
        const sug = suggest(name, knownPlugins.keys());
        mc.error(s.line, `section [${s.name}] is for an unknown plugin "${name}"`, sug ? `Did you mean [plugins.${sug}]?` : 'Remove the section or install the plugin.');
        continue;
      }
      if (!enabled.includes(name)) mc.warn(s.line, `[${s.name}] configures plugin "${name}", which is not enabled`, `Add it to [plugins] enabled to run it.`);
      pluginSettings.set(name, validate(mc, s, template));
      continue;
    }
    if (s.name.startsWith('token.')) {
      const name = s.name.slice('token.'.length);
      if (!NAME_PATTERN.test(name)) mc.error(s.line, `token name "${name}" is not ${NAME_HELP}`, 'Rename the section, e.g. [token.alice].');
      const v: Partial<Infer<typeof tokenTemplate>> = validate(mc, s, tokenTemplate);
      if (v.role !== undefined && v.sha256 !== undefined) tokens.push({ name, role: v.role, sha256: v.sha256 });
      continue;
    }
    const sug = suggest(s.name, [...KNOWN_MAIN, 'token.NAME', 'plugins.NAME']);
    mc.error(s.line, `unknown section [${s.name}] in ockle.ini`, sug ? `Did you mean [${sug}]?` : `Sections are: ${KNOWN_MAIN.map((n) => `[${n}]`).join(', ')}, [token.NAME], [plugins.NAME].`);
  }
  // An enabled plugin without a [plugins.NAME] section runs on its defaults (and a required
  // setting it lacks is reported at the enabled line). Checked on a collector of its own: the
  // config view shows only the sections the file has.
  for (const name of enabled) {
    const template = knownPlugins.get(name);
    if (!template || pluginSettings.has(name)) continue;
    const scratch = new Collector('ockle.ini');
    const values = validate(scratch, { name: `plugins.${name}`, line: sec('plugins').keys.get('enabled')?.line ?? sec('plugins').line, keys: new Map() }, template);
    for (const p of scratch.problems) mc.problems.push({ ...p, message: `plugin "${name}" has no [plugins.${name}] section: ${p.message}` });
    pluginSettings.set(name, values);
  }
  // ── addresses and paths that would only fail at start ──
  const listenLine = sec('api').keys.get('listen')?.line;
  if (listenLine !== undefined && !plausibleHost(api.listen))
    mc.error(listenLine, `listen = ${api.listen} is not an IP address or a host name`, 'Use 127.0.0.1 (this machine only), ::1, an address of this machine, or 0.0.0.0 / :: (every address).', 'listen');
  mc.problems.push(...checkApiExposure(api, dir, (k) => sec('api').keys.get(k)?.line, sec('api').line));
  {
    const stateDir = resolveStateDir(dir, daemon.state_dir, opts.env);
    const line = sec('daemon').keys.get('state_dir')?.line;
    let kind: 'dir' | 'other' | 'none' = 'none';
    try {
      kind = statSync(stateDir).isDirectory() ? 'dir' : 'other';
    } catch {
      // absent: the daemon creates it
    }
    if (kind === 'other')
      mc.error(line, `state_dir = ${daemon.state_dir || stateDir} is not a directory`, 'Point state_dir at a directory ockle may create and write (e.g. /var/lib/ockle).', 'state_dir');
  }
  {
    // The PDUDaemon face: its address, and each allowed client address or CIDR block.
    const keys = sec('pdudaemon').keys;
    const listenAt = keys.get('listen')?.line;
    if (listenAt !== undefined && !plausibleHost(pdudaemon.listen))
      mc.error(listenAt, `listen = ${pdudaemon.listen} is not an IP address or a host name`, 'Use 127.0.0.1 (this machine only) or an address of this machine.', 'listen');
    const allowAt = keys.get('allow')?.line;
    for (const a of pdudaemon.allow ?? []) {
      const [ip, bits, ...rest] = a.split('/');
      const max = isIP(ip ?? '') === 4 ? 32 : 128;
      if (isIP(ip ?? '') === 0 || rest.length > 0 || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max)))
        mc.error(allowAt, `allow: "${a}" is not an IP address or a CIDR block`, 'List addresses like 127.0.0.1 or ::1, or blocks like 10.0.0.0/24.', 'allow');
    }
  }
  // ── ports: the API, the PDUDaemon face and every enabled plugin that listens ──
  const enabledLine = sec('plugins').keys.get('enabled')?.line;
  checkPorts(mc, [
    { label: '[api]', section: sec('api'), template: apiTemplate, values: api },
    ...(pdudaemon.enabled ? [{ label: '[pdudaemon]', section: sec('pdudaemon'), template: pdudaemonTemplate, values: pdudaemon }] : []),
    ...enabled.flatMap((name) => {
      const template = knownPlugins.get(name);
      const section = main?.sections.find((x) => x.name === `plugins.${name}`);
      if (!template) return [];
      const values = pluginSettings.get(name) ?? Object.fromEntries(Object.entries(template).map(([k, sp]) => [k, sp.default]));
      return [{ label: `[plugins.${name}]`, section: section ?? { name: `plugins.${name}`, line: enabledLine ?? 1, keys: new Map() }, template, values }];
    }),
  ]);
  flush(mc);

  // Common shape of devices, controls and tests: a `type` that names a driver, the common keys, the driver keys.
  const typed = (
    c: Collector,
    s: IniSection,
    kind: DriverKind,
    common: Template,
  ): { type: string; common: Record<string, unknown>; spec: Record<string, unknown>; outletCount?: number } | undefined => {
    const typeKey = s.keys.get('type');
    const types = opts.drivers.types(kind);
    if (!typeKey) {
      c.error(s.line, `[${s.name}] needs key "type"`, `Add type = one of: ${types.join(', ')}.`, 'type');
      return undefined;
    }
    const def = opts.drivers.get(kind, typeKey.value);
    if (!def) {
      const sug = suggest(typeKey.value, types);
      c.error(typeKey.line, `unknown ${kind} type "${typeKey.value}"`, `${sug ? `Did you mean "${sug}"? ` : ''}Known ${kind} types: ${types.join(', ')}.`, 'type');
      return undefined;
    }
    const merged: Template = { ...common, ...def.template };
    const all = validate(c, s, merged);
    const commonOut: Record<string, unknown> = {};
    const spec: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(all)) (k in common ? commonOut : spec)[k] = v;
    const missing = Object.entries(def.template).some(([k, sp]) => sp.required && !(k in spec));
    if (!missing && !c.problems.some((p) => p.severity === 'error') && def.check)
      for (const p of def.check(spec)) c.error(s.keys.get(p.key)?.line ?? s.line, p.message, p.hint, p.key);
    const outletCount = !missing && def.outletCount ? def.outletCount(spec) : undefined;
    return { type: typeKey.value, common: commonOut, spec, ...(outletCount !== undefined && { outletCount }) };
  };

  // ── devices/*.ini ──
  const devices: DeviceConfig[] = [];
  // Ids of every device file, valid or not: a server naming a device whose file has errors
  // gets no second, misleading "not defined" error.
  const deviceFiles = (await listed('devices')).map((f) => basename(f, '.ini'));
  for (const f of await listed('devices')) {
    const rel = `devices/${f}`;
    const id = basename(f, '.ini');
    const r = await read(rel);
    if (!r) continue;
    if (!NAME_PATTERN.test(id)) r.c.error(undefined, `device file name "${f}" is not ${NAME_HELP}`, 'Rename the file; the device id is its base name.');
    const dsec = r.sections.find((s) => s.name === 'device');
    if (!dsec) r.c.error(1, `${rel} has no [device] section`, 'Put the device keys under a [device] header.');
    for (const s of r.sections) if (s.name !== 'device') r.c.error(s.line, `unknown section [${s.name}] in a device file`, 'A device file has one [device] section.');
    const t = dsec ? typed(r.c, dsec, 'outlet', deviceCommonTemplate) : undefined;
    if (t) {
      devices.push({ id, file: rel, type: t.type, common: t.common as DeviceConfig['common'], spec: t.spec, outletCount: t.outletCount });
    }
    flush(r.c);
  }

  // ── servers/*.ini ──
  const servers: ServerConfig[] = [];
  const depLines = new Map<string, { c: Collector; line: number; deps: readonly string[] }>();
  const outletOwners = new Map<string, { file: string; line: number; server: string }>();
  const serverFiles = await listed('servers');
  const serverNames = serverFiles.map((f) => basename(f, '.ini'));
  /** This gateway's name on the broker, which a remote dependency must not name. */
  const mqttGateway = String(pluginSettings.get('mqtt')?.gateway ?? '');
  if (serverFiles.length === 0) problems.push({ file: 'servers/', message: 'no servers are configured', hint: 'Add one file per server in servers/.', severity: 'warning' });
  for (const f of serverFiles) {
    const rel = `servers/${f}`;
    const name = basename(f, '.ini');
    const r = await read(rel);
    if (!r) continue;
    const c = r.c;
    if (!NAME_PATTERN.test(name)) c.error(undefined, `server file name "${f}" is not ${NAME_HELP}`, 'Rename the file; the server name is its base name.');
    const ssec = r.sections.find((s) => s.name === 'server');
    if (!ssec) {
      c.error(1, `${rel} has no [server] section`, 'Start the file with [server] and its outlets, controls, tests and dependencies.');
      flush(c);
      continue;
    }
    const v = validate(c, ssec, serverTemplate);
    const byName = new Map(r.sections.map((s) => [s.name, s]));
    const used = new Map<string, string>();
    const refs = (listKey: 'outlets' | 'controls' | 'tests'): IniSection[] => {
      const out: IniSection[] = [];
      for (const n of v[listKey] ?? []) {
        const line = ssec.keys.get(listKey)?.line ?? ssec.line;
        const s = byName.get(n);
        if (!s || n === 'server') {
          const sug = suggest(n, [...byName.keys()].filter((x) => x !== 'server'));
          c.error(line, `${listKey} names section [${n}], which is not in this file`, sug ? `Did you mean "${sug}"?` : `Add a [${n}] section.`);
          continue;
        }
        const prev = used.get(n);
        if (prev) {
          c.error(line, `section [${n}] is named by both ${prev} and ${listKey}`, 'Give each outlet, control and test its own section.');
          continue;
        }
        used.set(n, listKey);
        out.push(s);
      }
      return out;
    };
    const outlets: { name: string; device: string; outlet: number; line: number }[] = [];
    for (const s of refs('outlets')) {
      const o: Partial<Infer<typeof outletTemplate>> = validate(c, s, outletTemplate);
      if (o.device === undefined || o.outlet === undefined) continue;
      const devLine = s.keys.get('device')!.line;
      const dev = devices.find((d) => d.id === o.device);
      if (!dev) {
        if (!deviceFiles.includes(o.device)) {
          const known = devices.map((d) => d.id);
          const sug = suggest(o.device, known);
          c.error(
            devLine,
            `outlet "${s.name}" names device "${o.device}", which is not defined (defined: ${known.join(', ') || 'none'}).`,
            `${sug ? `Did you mean "${sug}"? ` : ''}Add config/devices/${o.device}.ini or correct the name.`,
          );
        }
        continue;
      }
      const outLine = s.keys.get('outlet')!.line;
      if (dev.outletCount !== undefined && o.outlet > dev.outletCount) {
        c.error(outLine, `outlet ${o.outlet} is beyond device "${dev.id}", which has ${dev.outletCount} outlets`, `Use an outlet from 1 to ${dev.outletCount}.`);
        continue;
      }
      const key = `${dev.id}:${o.outlet}`;
      const owner = outletOwners.get(key);
      if (owner) {
        c.error(outLine, `outlet ${o.outlet} of "${dev.id}" is already given to server "${owner.server}" (${owner.file}:${owner.line})`, 'An outlet powers one server: correct one of the two.');
        continue;
      }
      outletOwners.set(key, { file: rel, line: outLine, server: name });
      outlets.push({ name: s.name, device: o.device, outlet: o.outlet, line: outLine });
    }
    const objects = (listKey: 'controls' | 'tests', kind: DriverKind, common: Template): ObjectConfig[] =>
      refs(listKey).flatMap((s) => {
        const t = typed(c, s, kind, common);
        if (t && !v.host && opts.drivers.get(kind, t.type)?.usesServerHost && t.spec.host === undefined)
          c.error(s.line, `[${s.name}] (${t.type}) needs a host, and [server] has no host either`, 'Add host = … to [server] (used by every test and control), or to this section.');
        return t ? [{ name: s.name, type: t.type, common: t.common as ObjectConfig['common'], spec: t.spec }] : [];
      });
    const controls = objects('controls', 'controller', controlCommonTemplate);
    const tests = objects('tests', 'tester', testCommonTemplate);
    for (const s of r.sections) if (s.name !== 'server' && !used.has(s.name)) c.warn(s.line, `section [${s.name}] is not used by [server]`, 'Name it in outlets, controls or tests, or remove it.');
    const depLine = ssec.keys.get('dependencies')?.line ?? ssec.line;
    const deps: string[] = [];
    const remoteDeps: string[] = [];
    for (const d of v.dependencies ?? []) {
      if (d.includes(':')) {
        const ref = parseRemoteRef(d);
        if (!ref) c.error(depLine, `dependency "${d}" is not GATEWAY:SERVER`, 'A server of another gateway is named like gw-a:storage-1: the gateway (letters, digits, _ and -) as its [plugins.mqtt] gateway says, a colon, and the server as that gateway names it.');
        else if (!enabled.includes('mqtt'))
          c.error(depLine, `dependency "${d}" is on another gateway, which needs the mqtt plugin: the broker carries its state and the requests`, 'Add mqtt to [plugins] enabled in ockle.ini and set [plugins.mqtt] broker and gateway (docs/mqtt.md), or remove the dependency.');
        else if (ref.gateway === mqttGateway) c.error(depLine, `dependency "${d}" names this gateway (${mqttGateway})`, `Name the server without the gateway: ${ref.server}.`);
        else if (!enabled.includes('auto-control')) c.error(depLine, `dependency "${d}" needs the auto-control plugin: only a sequenced action waits on another gateway`, 'Add auto-control to [plugins] enabled in ockle.ini.');
        else if (!remoteDeps.includes(d)) remoteDeps.push(d);
        continue;
      }
      deps.push(d);
      if (d === name) c.error(depLine, `server "${name}" depends on itself`, 'Remove it from its own dependencies.');
      else if (!serverNames.includes(d)) {
        const sug = suggest(d, serverNames);
        c.error(depLine, `dependency "${d}" is not a configured server`, `${sug ? `Did you mean "${sug}"? ` : ''}Servers are the files in servers/.`);
      }
    }
    depLines.set(name, { c, line: depLine, deps });
    const settings = Object.fromEntries(
      Object.keys(serverDefaultsTemplate).map((k) => [k, (v as Record<string, unknown>)[k] ?? (serverDefaults as Record<string, unknown>)[k]]),
    ) as Infer<typeof serverDefaultsTemplate>;
    if (v.keepalive && tests.length === 0)
      c.error(ssec.keys.get('keepalive')?.line ?? ssec.line, `keepalive needs tests: server "${name}" has none to notice a failure`, 'Add a test to tests, or set keepalive = false.');
    servers.push({
      name,
      file: rel,
      description: v.description,
      host: v.host,
      settings,
      outlets,
      controls,
      tests,
      dependencies: deps,
      remoteDependencies: remoteDeps,
      keepaliveFailures: v.keepalive ? v.keepalive_failures : null,
      shedPriority: v.shed_priority ?? null,
    });
    flush(c);
  }

  // ── ups/*.ini (optional) ──
  const ups: UpsConfig[] = [];
  for (const f of await listed('ups', true)) {
    const rel = `ups/${f}`;
    const id = basename(f, '.ini');
    const r = await read(rel);
    if (!r) continue;
    if (!NAME_PATTERN.test(id)) r.c.error(undefined, `UPS file name "${f}" is not ${NAME_HELP}`, 'Rename the file; the UPS name is its base name.');
    const usec = r.sections.find((s) => s.name === 'ups');
    if (!usec) r.c.error(1, `${rel} has no [ups] section`, 'Put the UPS source keys (type = nut, snmp or sim) under an [ups] header.');
    const psec = r.sections.find((s) => s.name === 'policy') ?? { name: 'policy', line: usec?.line ?? 1, keys: new Map() };
    for (const s of r.sections) if (s.name !== 'ups' && s.name !== 'policy') r.c.error(s.line, `unknown section [${s.name}] in a UPS file`, 'A UPS file has an [ups] section and a [policy] section.');
    const t = usec ? typed(r.c, usec, 'ups', upsCommonTemplate) : undefined;
    const policy = validate(r.c, psec, upsPolicyTemplate);
    // Every stage is a sequenced action: without the sequencer a power cut would do nothing.
    if (!enabled.includes('auto-control'))
      r.c.error(usec?.line ?? 1, `UPS "${id}" needs the auto-control plugin: its stages are sequenced on/off actions`, 'Add auto-control to [plugins] enabled in ockle.ini, or remove this UPS file.');
    checkUpsPolicy(r.c, psec, policy, t, serverNames, servers);
    // upsd drops a client that says nothing for 60 s: a NUT secondary polled less often loses its
    // login between polls, and the primary upsmon would no longer wait for it before cutting.
    if (t?.type === 'nut' && (t.common.poll_interval as number) >= 60_000)
      r.c.warn(usec?.keys.get('poll_interval')?.line ?? usec?.line, `poll_interval ${t.common.poll_interval as number} ms: upsd drops a client silent for 60 s, so ockle's login would lapse between polls`, 'Poll more often than every 60 s (the default is 5 s).');
    if (t) ups.push({ id, file: rel, type: t.type, common: t.common as UpsConfig['common'], spec: t.spec, policy });
    flush(r.c);
  }

  // ── across files: dependency cycles ──
  const cycle = findCycle(
    servers.map((s) => ({ name: s.name, dependencies: s.dependencies.filter((d) => d !== s.name) })),
  );
  if (cycle) {
    const first = depLines.get(cycle[0]!)!;
    first.c.error(first.line, `dependency cycle: ${cycle.join(' → ')}`, 'Servers cannot start in any order: remove one of these dependencies.');
    flush(first.c);
  }

  problems.sort((a, b) => (a.file === b.file ? (a.line ?? 0) - (b.line ?? 0) : a.file < b.file ? -1 : 1));
  if (problems.some((p) => p.severity === 'error')) return { problems, devices };
  const config: Config = deepFreeze({
    dir,
    stateDir: resolveStateDir(dir, daemon.state_dir, opts.env),
    daemon,
    api,
    serverDefaults,
    pdudaemon,
    view: collectors.map((c) => ({ file: c.file, sections: [...c.views.values()].sort((a, b) => a.line - b.line) })),
    plugins: { enabled, installed: discovery.plugins, broken, settings: pluginSettings, startTimeoutMs: pluginsSec.start_timeout, hangTimeoutMs: pluginsSec.hang_timeout, stopTimeoutMs: pluginsSec.stop_timeout, maxMemoryMb: pluginsSec.max_memory },
    tokens,
    devices,
    servers,
    ups,
    warnings: problems,
  });
  return { problems, config, devices };
}

/** Loads and validates; throws ConfigError with every problem when there is any error. */
export async function loadConfig(dir: string, opts: LoadOptions): Promise<Config> {
  const { problems, config } = await checkConfig(dir, opts);
  if (!config) throw new ConfigError(problems);
  return config;
}
