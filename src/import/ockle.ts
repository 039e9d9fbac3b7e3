/**
 * Ockle → ockle: translates an Ockle installation's etc directory (config.ini, servers/,
 * outlets/, testers/, controllers/) into an ockle config directory (ockle.ini, devices/,
 * servers/). Pure: the files come in as text and go out as text, with one report line for
 * every translation made and every setting that could not be carried (and why). Secret values
 * (communities, passwords) go into the files but never into the report: it shows `[secret]`.
 *
 * Ockle's formats (its src/networkTree/ServerNetworkFactory.py and src/config/conf_*):
 *  - servers/NAME.ini: [server] outlets, tests, controls (a JSON list or one name), dependencies
 *    (a JSON list of server file names), comment; each listed name is a section of the file:
 *    an outlet section has `pdu = PDU` (`outlet = PDU` in the oldest files) and `socket = N`; a
 *    test section `tester = TESTER` and the tester's keys (Ping: hostname; Dummy: succeed); a
 *    control section `controller = CONTROLLER` and its keys (SSHController: host, username,
 *    password, key_filename, timeout, allow_agent, look_for_keys, compress). The oldest files
 *    name a test's type inline (`type = ping`, `host = …`).
 *  - outlets/PDU.ini [pdu] type (Raritan, Dummy, DummyWithCPU), comment, and for Raritan pdu_ip,
 *    pdu_port, read_community, write_community, agent_name.
 *  - testers/TESTER.ini [tester] type (Ping, Dummy), comment; controllers/CONTROLLER.ini
 *    [controller] type (SSHController, Dummy, DummyWithCPU), comment.
 *  - config.ini: [main] the directories, [plugins] pluginlist (a JSON list), [servers]
 *    max_startup_time and max_attempts, [plugins.NAME] each plugin's settings.
 * A server, PDU, tester or controller is named by its file's base name.
 */
import { findCycle } from '../graph.js';
import { NAME_PATTERN } from '../config/schema.js';
import { formatDuration } from '../config/types.js';
import { writeIni, type OutSection } from './ini-write.js';
import { parsePythonIni, type PyKey, type PySection } from './python-ini.js';

export type ReportKind = 'translated' | 'not-carried' | 'note';
export interface ReportLine {
  readonly kind: ReportKind;
  readonly text: string;
}
export interface OutFile {
  readonly text: string;
  /** It holds a secret (a community, a password): write it readable by its owner only. */
  readonly secret: boolean;
}
export interface ImportResult {
  /** Path in the new config directory (ockle.ini, devices/ID.ini, servers/NAME.ini) → content. */
  readonly files: ReadonlyMap<string, OutFile>;
  readonly report: readonly ReportLine[];
}
export interface OckleDirs {
  readonly servers: string;
  readonly outlets: string;
  readonly testers: string;
  readonly controllers: string;
}

/** What the report shows instead of a secret value. */
export const SECRET = '[secret]';
/** Where Ockle's SSH trust came from has no path ockle can know: the system-wide known_hosts. */
export const SSH_KNOWN_HOSTS = '/etc/ssh/ssh_known_hosts';

const SECRET_KEY = /pass|secret|community|token|credential|private|apikey|auth/i;
/** A value as the report may show it: secrets (by their key's name) masked. */
const shown = (key: string, value: string): string => (SECRET_KEY.test(key) ? SECRET : value === '' ? '""' : value);
/** A database URL with any password masked (postgresql://user:[secret]@host/db). */
const maskUrl = (url: string): string => url.replace(/^([a-z0-9+.-]+:\/\/[^:/@]*):[^@/]*@/i, `$1:${SECRET}@`);

/** The config file: Ockle's config.ini, or its template config.ini.example when that is all there is. */
export function configFileOf(names: Iterable<string>): string | undefined {
  const all = new Set(names);
  return all.has('config.ini') ? 'config.ini' : all.has('config.ini.example') ? 'config.ini.example' : undefined;
}

/** The directories config.ini [main] names (Ockle's defaults when it does not), relative to the etc directory or absolute. */
export function ockleDirs(configText: string | undefined): OckleDirs {
  const main = configText === undefined ? undefined : parsePythonIni(configText).sections.find((s) => s.name === 'main');
  const dir = (key: string, fallback: string): string => main?.keys.get(key)?.value.trim().replace(/\/+$/, '') || fallback;
  return { servers: dir('server_dir', 'servers'), outlets: dir('outlet_dir', 'outlets'), testers: dir('tester_dir', 'testers'), controllers: dir('controller_dir', 'controllers') };
}

/** An ockle name (lowercase letters, digits, - and _) for an Ockle one: `Web Server` → `web-server`. */
export function normaliseName(raw: string): string {
  return raw
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-_]+/, '')
    .replace(/-+$/, '');
}

/** Hands out distinct ockle names: the normalised name, then NAME-2, NAME-3… */
class Names {
  readonly #used = new Set<string>();
  constructor(reserved: readonly string[] = []) {
    for (const r of reserved) this.#used.add(r);
  }
  take(raw: string, fallback: string): string {
    const base = normaliseName(raw) || fallback;
    let name = base;
    for (let i = 2; this.#used.has(name) || !NAME_PATTERN.test(name); i++) name = `${base}-${i}`;
    this.#used.add(name);
    return name;
  }
}

/** Python's int(): optional sign and spaces. */
function pyInt(v: string | undefined): number | undefined {
  return v !== undefined && /^\s*[+-]?\d+\s*$/.test(v) ? Number(v) : undefined;
}
/** Python's float() on the forms Ockle's files use. */
function pyFloat(v: string | undefined): number | undefined {
  return v !== undefined && /^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$/.test(v) ? Number(v) : undefined;
}
/** json.loads of a true/false setting (Ockle stored them as JSON). */
function pyBool(v: string | undefined): boolean | undefined {
  const t = v?.trim().toLowerCase();
  return t === 'true' || t === '1' || t === 'yes' || t === 'on' ? true : t === 'false' || t === '0' || t === 'no' || t === 'off' ? false : undefined;
}
/** Seconds → an ockle duration within [min, max] ms, saying when it had to be moved into range. */
function seconds(s: number, min: number, max: number): { text: string; clamped: boolean } {
  const ms = Math.round(s * 1000);
  const v = Math.min(max, Math.max(min, ms));
  return { text: formatDuration(v), clamped: v !== ms };
}

/** Ockle's lists: a JSON list, or one bare name (how its oldest files wrote one outlet). */
function pyList(v: string | undefined): { items: string[]; json: boolean; bad?: boolean } {
  const t = v?.trim() ?? '';
  if (t === '') return { items: [], json: false };
  if (!t.startsWith('[')) return { items: [t], json: false };
  try {
    const parsed: unknown = JSON.parse(t);
    if (Array.isArray(parsed)) return { items: parsed.map((x) => String(x)), json: true };
  } catch {
    // reported below
  }
  return { items: [], json: true, bad: true };
}

/** A section's keys, remembering which were read: the rest are reported as not carried. */
class Keys {
  readonly #used = new Set<string>();
  constructor(readonly sec: PySection) {}
  get(k: string): string | undefined {
    this.#used.add(k);
    return this.sec.keys.get(k)?.value;
  }
  has(k: string): boolean {
    return this.sec.keys.has(k);
  }
  /** A `name` key that only repeats the name Ockle took from the file or section is no setting. */
  skipName(expected: string): void {
    if (this.sec.keys.get('name')?.value.trim() === expected) this.#used.add('name');
  }
  skip(...k: string[]): void {
    for (const x of k) this.#used.add(x);
  }
  rest(): [string, PyKey][] {
    return [...this.sec.keys].filter(([k]) => !this.#used.has(k));
  }
}

const OCKLE_PLUGINS: Readonly<Record<string, string>> = { AutoControl: 'auto-control', Logger: 'logger', TimerPluginExample: 'timer-example' };
const PLUGINS_GONE: Readonly<Record<string, string>> = {
  CoreCommunicationCommands: 'its commands (servers, states, switching) are ockle’s HTTP API, always on',
  EditingCommunicationCommands: 'ockle edits no config through a plugin: edit the files and run `ockle config check`',
  SocketListener: 'Ockle’s socket protocol for its web interface; ockle’s API and dashboard are HTTP on [api] listen and port',
  PowerTester: 'a developer’s test plugin (it switched every server on); `ockle on --all` does that',
  GraphTester: 'a developer’s test plugin for Ockle’s graph code',
};

interface Device {
  readonly file: string;
  readonly id: string;
  readonly type: 'snmp-pdu' | 'sim';
  readonly ockleType: string;
  readonly description: string;
  readonly keys: [string, string][];
  readonly secret: boolean;
  /** Highest socket bound to it (sim devices are sized to it). */
  maxSocket: number;
}
interface ObjectFile {
  readonly file: string;
  readonly type: string;
  readonly comment: string;
  used: number;
}
interface OutObject {
  readonly section: string;
  readonly keys: [string, string][];
  /** Why it is written but not listed in [server] (ockle warns that it is unused), if it is. */
  readonly parked?: string;
  readonly secret: boolean;
}
interface Server {
  readonly file: string;
  readonly ockleName: string;
  readonly name: string;
  readonly description: string;
  readonly outlets: { section: string; device: Device; outlet: number }[];
  readonly tests: OutObject[];
  readonly controls: OutObject[];
  readonly dependencies: string[];
  host: string | undefined;
}

const basenameOf = (path: string): string => path.slice(path.lastIndexOf('/') + 1);
/** Python's os.path.splitext(basename)[0]. */
const stemOf = (path: string): string => {
  const b = basenameOf(path);
  const dot = b.lastIndexOf('.');
  return dot > 0 ? b.slice(0, dot) : b;
};

/**
 * Translates the files of an Ockle etc directory, keyed by their path in it (`config.ini`,
 * `servers/Web Server.ini`, `outlets/raritan1.ini`… with the directories config.ini names).
 */
export function translateOckle(input: ReadonlyMap<string, string>): ImportResult {
  const report: ReportLine[] = [];
  const done = (text: string): void => void report.push({ kind: 'translated', text });
  const lost = (text: string): void => void report.push({ kind: 'not-carried', text });
  const note = (text: string): void => void report.push({ kind: 'note', text });
  const parse = (file: string): PySection[] => {
    const p = parsePythonIni(input.get(file) ?? '');
    for (const x of p.problems) note(`${file}:${x.line}: ${x.message}`);
    return [...p.sections];
  };
  const restLost = (where: string, keys: Keys, why: string): void => {
    for (const [k, v] of keys.rest()) lost(`${where} ${v.raw} = ${shown(k, v.value)}: ${why}`);
  };

  // ── config.ini ──
  const cfgFile = configFileOf(input.keys());
  const cfg = cfgFile ? parse(cfgFile) : [];
  const dirs = ockleDirs(cfgFile ? input.get(cfgFile) : undefined);
  if (!cfgFile) note('no config.ini: Ockle’s default directories are read, no plugin is enabled and the [servers] defaults are ockle’s');
  else if (cfgFile !== 'config.ini') note(`no config.ini: ${cfgFile} (Ockle’s template of it) is read instead`);
  const filesIn = (dir: string): string[] =>
    [...input.keys()].filter((k) => k.startsWith(`${dir}/`) && !k.slice(dir.length + 1).includes('/')).sort();

  const mainSections: OutSection[] = [];
  const pluginSections: OutSection[] = [];
  const enabled: string[] = [];
  const cfgSec = (name: string): PySection | undefined => cfg.find((s) => s.name === name);
  if (cfgFile) {
    const main = cfgSec('main');
    if (main) {
      const k = new Keys(main);
      const dirKeys = ['server_dir', 'outlet_dir', 'tester_dir', 'controller_dir'].filter((x) => k.has(x));
      k.skip(...dirKeys);
      if (dirKeys.length > 0) note(`${cfgFile} [main] ${dirKeys.join(', ')}: used to find the files (ockle’s layout is fixed: devices/, servers/)`);
      const pluginDir = k.get('plugin_dir');
      if (pluginDir !== undefined) lost(`${cfgFile} [main] plugin_dir = ${pluginDir}: Ockle’s plugins are Python, ockle’s are JavaScript ([plugins] directories)`);
      const logFile = k.get('log_file_path');
      if (logFile !== undefined) lost(`${cfgFile} [main] log_file_path = ${logFile}: ockle logs to its standard error (the systemd journal)`);
      restLost(`${cfgFile} [main]`, k, 'not a setting Ockle read');
    }

    // [servers]: defaults of every server
    const serverDefaults: [string, string][] = [];
    const servers = cfgSec('servers');
    if (servers) {
      const k = new Keys(servers);
      const attemptsRaw = k.get('max_attempts');
      if (attemptsRaw !== undefined) {
        const n = pyInt(attemptsRaw);
        if (n === undefined) lost(`${cfgFile} [servers] max_attempts = ${attemptsRaw}: not a whole number (Ockle used 3)`);
        else {
          const v = n === 0 ? 20 : Math.min(20, Math.max(1, n));
          serverDefaults.push(['max_attempts', String(v)]);
          done(`${cfgFile} [servers] max_attempts = ${attemptsRaw} → ockle.ini [servers] max_attempts = ${v}${n === 0 ? ' (Ockle’s 0 was no limit; ockle’s most is 20)' : v !== n ? ' (ockle’s range is 1–20)' : ''}`);
        }
      }
      const startupRaw = k.get('max_startup_time');
      if (startupRaw !== undefined) {
        const s = pyFloat(startupRaw);
        if (s === undefined) lost(`${cfgFile} [servers] max_startup_time = ${startupRaw}: not a number of seconds`);
        else {
          const d = seconds(s, 1000, 24 * 86_400_000);
          serverDefaults.push(['boot_timeout', d.text]);
          done(
            `${cfgFile} [servers] max_startup_time = ${startupRaw} → ockle.ini [servers] boot_timeout = ${d.text} (Ockle waited this long after switching, then tested once; ockle waits up to it for the tests to pass${d.clamped ? '; moved into ockle’s range 1s–24d' : ''})`,
          );
          if (s < 30)
            note(`boot_timeout = ${d.text} is short for a real server: one that has not passed its tests by then is power-cycled (ockle’s default: 5m); raise it in ockle.ini [servers]`);
        }
      }
      restLost(`${cfgFile} [servers]`, k, 'not a setting Ockle read');
    }
    if (serverDefaults.length > 0) mainSections.push({ name: 'servers', comments: ['Defaults for every server, from Ockle’s config.ini [servers].'], keys: serverDefaults });

    // [plugins] pluginlist
    const plugins = cfgSec('plugins');
    let listed: string[] = [];
    if (plugins) {
      const k = new Keys(plugins);
      const raw = k.get('pluginlist');
      if (raw !== undefined) {
        const l = pyList(raw);
        if (l.bad || !l.json) lost(`${cfgFile} [plugins] pluginlist = ${raw}: not a JSON list (Ockle loaded no plugin)`);
        else listed = l.items;
      }
      restLost(`${cfgFile} [plugins]`, k, 'not a setting Ockle read');
    }
    for (const p of listed) {
      const to = OCKLE_PLUGINS[p];
      if (to) {
        if (!enabled.includes(to)) enabled.push(to);
      } else lost(`${cfgFile} [plugins] pluginlist ${p}: ${PLUGINS_GONE[p] ?? 'no ockle plugin does what it did'}`);
    }
    if (enabled.length > 0)
      done(`${cfgFile} [plugins] pluginlist → ockle.ini [plugins] enabled = ${enabled.join(', ')} (${listed.filter((p) => OCKLE_PLUGINS[p]).map((p) => `${p} → ${OCKLE_PLUGINS[p]}`).join(', ')})`);

    // [plugins.NAME]
    const pluginSecs = cfg.filter((s) => s.name.startsWith('plugins.'));
    for (const s of pluginSecs) {
      const p = s.name.slice('plugins.'.length);
      const to = OCKLE_PLUGINS[p];
      const where = `${cfgFile} [${s.name}]`;
      if (!to || !enabled.includes(to)) {
        const keys = [...s.keys.values()].map((k) => k.raw).join(', ');
        lost(`${where} ${keys || '(empty)'}: ${to ? `${p} is not in pluginlist (not enabled)` : `plugin ${p} is not carried`}`);
        continue;
      }
      const k = new Keys(s);
      const out: [string, string][] = [];
      const secs = (key: string, toKey: string, min: number, max: number): void => {
        const raw = k.get(key);
        if (raw === undefined) return;
        const n = pyFloat(raw);
        if (n === undefined) return lost(`${where} ${key} = ${raw}: not a number of seconds`);
        const d = seconds(n, min, max);
        out.push([toKey, d.text]);
        done(`${where} ${key} = ${raw} → ockle.ini [plugins.${to}] ${toKey} = ${d.text}${d.clamped ? ' (moved into ockle’s range)' : ''}`);
      };
      if (to === 'logger') {
        secs('log_resolution', 'log_resolution', 1000, 86_400_000);
        const db = k.get('log_db');
        if (db !== undefined)
          lost(
            `${where} log_db = ${maskUrl(db)}: ockle’s logger keeps its own SQLite file (database = logger.sqlite in <state_dir>/plugins/logger), in its own tables; Ockle’s history stays in its database, not imported`,
          );
      } else if (to === 'auto-control') {
        const wait = k.get('wait_time');
        if (wait !== undefined) lost(`${where} wait_time = ${wait}: ockle’s auto-control is driven by events, it has no polling interval`);
        const tries = k.get('max_start_attepmts') ?? k.get('max_start_attempts');
        if (tries !== undefined) lost(`${where} max_start_attepmts = ${tries}: ockle’s sequences have no loop limit; each server’s power-on attempts are [servers] max_attempts`);
      } else if (to === 'timer-example') {
        secs('wait_time', 'wait_time', 100, 24 * 86_400_000);
      }
      restLost(where, k, `not a setting of Ockle’s ${p}`);
      if (out.length > 0) pluginSections.push({ name: `plugins.${to}`, keys: out });
    }
    // Ockle's templates gave an enabled plugin without a section its defaults; ockle's differ for the logger.
    if (enabled.includes('logger') && !pluginSecs.some((s) => s.name === 'plugins.Logger')) {
      pluginSections.push({ name: 'plugins.logger', keys: [['log_resolution', '10s']] });
      done(`${cfgFile} (no [plugins.Logger]: Ockle’s default log_resolution 10) → ockle.ini [plugins.logger] log_resolution = 10s`);
    }
    for (const s of cfg) if (!['main', 'servers', 'plugins'].includes(s.name) && !s.name.startsWith('plugins.')) lost(`${cfgFile} [${s.name}]: a section Ockle did not read`);
  }
  pluginSections.sort((a, b) => enabled.indexOf(a.name.slice(8)) - enabled.indexOf(b.name.slice(8)));

  // ── outlets/*.ini: PDUs → devices/*.ini ──
  const deviceNames = new Names();
  const devices = new Map<string, Device | { file: string; why: string }>();
  const skipNonIni = (dir: string, what: string): string[] =>
    filesIn(dir).filter((f) => {
      if (f.endsWith('.ini')) return true;
      note(`${f}: skipped, not an .ini file (${what})`);
      return false;
    });
  for (const file of skipNonIni(dirs.outlets, 'Ockle reads PDU.ini')) {
    const ockleName = stemOf(file);
    const sec = parse(file).find((s) => s.name === 'pdu');
    if (!sec) {
      devices.set(ockleName, { file, why: `${file} has no [pdu] section` });
      lost(`${file}: no [pdu] section (Ockle could not load it); its outlets are not carried`);
      continue;
    }
    const k = new Keys(sec);
    k.skipName(ockleName);
    const type = k.get('type')?.trim() ?? '';
    const comment = k.get('comment')?.trim() ?? '';
    const where = `${file} [pdu]`;
    if (type === 'Raritan') {
      const host = k.get('pdu_ip')?.trim() ?? '';
      if (!host) {
        devices.set(ockleName, { file, why: `${file} has no pdu_ip` });
        lost(`${file}: a Raritan PDU without pdu_ip: not carried, nor the outlets on it`);
        continue;
      }
      const id = deviceNames.take(ockleName, 'pdu');
      const keys: [string, string][] = [['type', 'snmp-pdu']];
      if (comment) keys.push(['description', comment]);
      keys.push(['host', host]);
      const what: string[] = ['pdu_ip → host'];
      const portRaw = k.get('pdu_port');
      const port = pyInt(portRaw);
      if (port !== undefined && port >= 1 && port <= 65535) {
        if (port !== 161) keys.push(['port', String(port)]);
        what.push(`pdu_port ${port} → port${port === 161 ? ' (the default)' : ''}`);
      } else if (portRaw !== undefined && portRaw.trim() !== '') lost(`${where} pdu_port = ${portRaw}: not a UDP port; ockle uses 161`);
      keys.push(['version', '2c']);
      const read = k.get('read_community') ?? '';
      const write = k.get('write_community') ?? '';
      if (read) {
        keys.push(['community', read]);
        what.push(`read_community = ${SECRET} → community`);
      } else lost(`${where} read_community is empty: ockle reads with the community "public"`);
      if (write && write !== read) {
        keys.push(['write_community', write]);
        what.push(`write_community = ${SECRET} → write_community`);
      } else if (write) what.push(`write_community = ${SECRET} (the same) → community`);
      else lost(`${where} write_community is empty: ockle switches with the read community`);
      keys.push(['profile', 'raritan-px1']);
      const agent = k.get('agent_name');
      if (agent !== undefined) lost(`${where} agent_name = ${agent}: pysnmp’s local name for the community, never sent to the PDU; ockle needs none`);
      restLost(where, k, 'not a setting of Ockle’s Raritan PDU');
      devices.set(ockleName, { file, id, type: 'snmp-pdu', ockleType: type, description: comment, keys, secret: !!(read || write), maxSocket: 0 });
      done(
        `${file} → devices/${id}.ini (type snmp-pdu, profile raritan-px1: Ockle’s Raritan spoke the PX1 PDU-MIB over SNMP v2c; ${what.join(', ')}${id !== ockleName ? `; name normalised from "${ockleName}"` : ''})`,
      );
    } else if (type === 'Dummy' || type === 'DummyWithCPU') {
      const id = deviceNames.take(ockleName, 'pdu');
      const keys: [string, string][] = [['type', 'sim']];
      if (comment) keys.push(['description', comment]);
      restLost(where, k, `not a setting of Ockle’s ${type} PDU`);
      devices.set(ockleName, { file, id, type: 'sim', ockleType: type, description: comment, keys, secret: false, maxSocket: 0 });
      done(
        `${file} → devices/${id}.ini (type sim: Ockle’s ${type} outlets${type === 'DummyWithCPU' ? '; its CPU readings become simulated metering' : ', without metering'}${id !== ockleName ? `; name normalised from "${ockleName}"` : ''})`,
      );
    } else {
      devices.set(ockleName, { file, why: `Ockle PDU type "${type}" has no ockle translation` });
      lost(`${file}: PDU type "${type || '(none)'}" has no ockle translation (ockle’s snmp-pdu has profiles for APC, Eaton, HPE and more): write devices/${normaliseName(ockleName) || 'pdu'}.ini by hand; its outlets are not carried`);
    }
  }

  // ── testers/*.ini, controllers/*.ini: types, folded into the servers that use them ──
  const objectFiles = (dir: string, section: string, what: string): Map<string, ObjectFile | { file: string; why: string }> => {
    const m = new Map<string, ObjectFile | { file: string; why: string }>();
    for (const file of skipNonIni(dir, `Ockle reads ${what.toUpperCase()}.ini`)) {
      const name = stemOf(file);
      const sec = parse(file).find((s) => s.name === section);
      if (!sec) {
        m.set(name, { file, why: `${file} has no [${section}] section` });
        continue;
      }
      const k = new Keys(sec);
      k.skipName(name);
      const type = k.get('type')?.trim() ?? '';
      const comment = k.get('comment')?.trim() ?? '';
      if (type === 'Dummy' && section === 'controller') {
        const v = k.get('controlervariable');
        if (v !== undefined) lost(`${file} [controller] controlervariable = ${v}: Ockle’s Dummy controller never read it`);
      }
      restLost(`${file} [${section}]`, k, `not a setting of Ockle’s ${what}s`);
      m.set(name, { file, type, comment, used: 0 });
    }
    return m;
  };
  const testers = objectFiles(dirs.testers, 'tester', 'tester');
  const controllers = objectFiles(dirs.controllers, 'controller', 'controller');

  // ── servers/*.ini ──
  const serverFiles = skipNonIni(dirs.servers, 'Ockle read every file there, but a backup or editor file is no server');
  const serverNames = new Names();
  const parsedServers = serverFiles.map((file) => {
    const ockleName = stemOf(file);
    return { file, ockleName, name: serverNames.take(ockleName, 'server'), sections: parse(file) };
  });
  // Only servers that are carried can be depended on.
  const byOckleName = new Map(parsedServers.filter((s) => s.sections.some((x) => x.name === 'server')).map((s) => [s.ockleName, s.name]));
  const servers: Server[] = [];
  const owners = new Map<string, string>();
  for (const ps of parsedServers) {
    const { file, ockleName, name } = ps;
    const to = `servers/${name}.ini`;
    const sv = ps.sections.find((s) => s.name === 'server');
    if (!sv) {
      lost(`${file}: no [server] section (Ockle could not load it): not carried`);
      continue;
    }
    const k = new Keys(sv);
    const legacyName = k.get('name');
    if (legacyName !== undefined && legacyName !== ockleName) lost(`${file} [server] name = ${legacyName}: Ockle named the server after its file, "${ockleName}", and so does ockle`);
    const comment = k.get('comment')?.trim() ?? '';
    const renamed = name !== ockleName;
    const description = renamed ? (comment ? `${ockleName}: ${comment}` : ockleName) : comment;
    done(
      `${file} → ${to}${renamed ? ` (name ${[normaliseName(ockleName) !== ockleName && 'normalised', normaliseName(ockleName) !== name && 'made unique'].filter(Boolean).join(' and ')}; original kept as description${comment ? ', with the comment' : ''})` : comment ? ' (comment → description)' : ''}`,
    );
    const sectionNames = new Names(['server']);
    const byName = new Map(ps.sections.map((s) => [s.name, s]));
    const list = (key: 'outlets' | 'tests' | 'controls'): { ockle: string; sec: PySection; out: string }[] => {
      const raw = k.get(key);
      const l = pyList(raw);
      if (l.bad) {
        lost(`${file} [server] ${key} = ${raw}: not a JSON list (Ockle could not load the server); none carried`);
        return [];
      }
      const seen = new Set<string>();
      return l.items.flatMap((n) => {
        if (seen.has(n)) {
          note(`${file} [server] ${key} lists "${n}" twice: once carried`);
          return [];
        }
        seen.add(n);
        const sec = byName.get(n);
        if (!sec || n === 'server') {
          lost(`${file} [server] ${key} names section [${n}], which is not in the file (Ockle could not load the server): left out`);
          return [];
        }
        return [{ ockle: n, sec, out: sectionNames.take(n, key.slice(0, -1)) }];
      });
    };
    const secLabel = (ockle: string, out: string): string => `${file} [${ockle}] → ${to} [${out}]`;

    // Outlets
    const outlets: Server['outlets'] = [];
    for (const o of list('outlets')) {
      const ok = new Keys(o.sec);
      ok.skipName(o.ockle);
      const legacy = !ok.has('pdu') && ok.has('outlet');
      const pdu = (ok.get('pdu') ?? ok.get('outlet'))?.trim() ?? '';
      const socketRaw = ok.get('socket');
      const socket = pyInt(socketRaw);
      restLost(`${file} [${o.ockle}]`, ok, 'not a setting of an Ockle outlet');
      const dev = devices.get(pdu);
      if (!pdu || !dev) {
        lost(`${file} [${o.ockle}] ${pdu ? `pdu = ${pdu}: there is no ${dirs.outlets}/${pdu}.ini` : 'names no pdu'}: outlet left out`);
        continue;
      }
      if (!('id' in dev)) {
        lost(`${file} [${o.ockle}] pdu = ${pdu}: ${dev.why}: outlet left out`);
        continue;
      }
      if (socket === undefined || socket < 1) {
        lost(`${file} [${o.ockle}] socket = ${socketRaw ?? '(none)'}: not an outlet number from 1: outlet left out`);
        continue;
      }
      if (dev.type === 'sim' && socket > 64) {
        lost(`${file} [${o.ockle}] socket = ${socket}: a sim device has 64 outlets at most: outlet left out`);
        continue;
      }
      const owner = owners.get(`${dev.id}:${socket}`);
      if (owner) {
        lost(`${file} [${o.ockle}] ${dev.id} socket ${socket}: already server "${owner}"’s, and an ockle outlet powers one server (Ockle let two share it): outlet left out`);
        continue;
      }
      owners.set(`${dev.id}:${socket}`, name);
      dev.maxSocket = Math.max(dev.maxSocket, socket);
      outlets.push({ section: o.out, device: dev, outlet: socket });
      done(`${secLabel(o.ockle, o.out)} device = ${dev.id}, outlet = ${socket}${legacy ? ` (from the old key outlet = ${pdu})` : ''}`);
    }
    const simulated = outlets.length > 0 && outlets.every((o) => o.device.type === 'sim');

    // Tests
    const tests: OutObject[] = [];
    for (const t of list('tests')) {
      const tk = new Keys(t.sec);
      tk.skipName(t.ockle);
      const testerName = tk.get('tester')?.trim();
      let type: string;
      let desc = '';
      let via: string;
      if (testerName !== undefined) {
        const tf = testers.get(testerName);
        if (!tf || !('type' in tf)) {
          lost(`${file} [${t.ockle}] tester = ${testerName}: ${tf ? tf.why : `there is no ${dirs.testers}/${testerName}.ini`}: test left out`);
          continue;
        }
        tf.used++;
        type = tf.type;
        desc = tf.comment;
        via = `tester ${testerName}, ${tf.type}`;
      } else {
        // The oldest files: the type in the section itself.
        type = tk.get('type')?.trim() ?? '';
        via = `type = ${type}`;
      }
      const keys: [string, string][] = [];
      let parked: string | undefined;
      let what: string;
      const kind = type.toLowerCase();
      if (kind === 'ping') {
        const host = (tk.get('hostname') ?? tk.get('host'))?.trim() ?? '';
        keys.push(['type', 'ping']);
        if (desc) keys.push(['description', desc]);
        if (host) keys.push(['host', host]);
        else parked = 'Ockle’s ping had no hostname (it always failed); give it host = … and list it in tests';
        what = `type ping${host ? `, host = ${host}` : ''}`;
      } else if (kind === 'dummy') {
        const succeedRaw = tk.get('succeed');
        const succeed = pyBool(succeedRaw) ?? true;
        if (simulated) {
          keys.push(['type', 'sim']);
          if (desc) keys.push(['description', desc]);
          if (!succeed) keys.push(['fault', 'never_boots']);
          what = `type sim${succeed ? '' : ', fault = never_boots (succeed = false)'}: passes once the simulated server has power and has booted`;
        } else {
          keys.push(['type', 'command']);
          if (desc) keys.push(['description', desc]);
          keys.push(['command', succeed ? 'true' : 'false']);
          what = `type command, command = ${succeed ? 'true' : 'false'}: like Ockle’s Dummy it ${succeed ? 'always passes' : 'never passes'} (sim tests follow sim outlets, and this server has other outlets)`;
        }
      } else {
        lost(`${file} [${t.ockle}] (${via}): tester type "${type || '(none)'}" has no ockle translation (ockle tests: ping, tcp, http, command): test left out`);
        continue;
      }
      restLost(`${file} [${t.ockle}]`, tk, `not a setting of Ockle’s ${type} tester`);
      tests.push({ section: t.out, keys, ...(parked && { parked }), secret: false });
      if (parked) lost(`${file} [${t.ockle}] (${via}) → ${to} [${t.out}], written but not in tests: ${parked}`);
      else done(`${secLabel(t.ockle, t.out)} (${via}) ${what}${desc ? ', comment → description' : ''}`);
    }

    // Controls
    const controls: OutObject[] = [];
    for (const c of list('controls')) {
      const ck = new Keys(c.sec);
      ck.skipName(c.ockle);
      const ctrlName = ck.get('controller')?.trim();
      let type: string;
      let desc = '';
      let via: string;
      if (ctrlName !== undefined) {
        const cf = controllers.get(ctrlName);
        if (!cf || !('type' in cf)) {
          lost(`${file} [${c.ockle}] controller = ${ctrlName}: ${cf ? cf.why : `there is no ${dirs.controllers}/${ctrlName}.ini`}: control left out, so ockle cuts this server’s power without a clean shutdown`);
          continue;
        }
        cf.used++;
        type = cf.type;
        desc = cf.comment;
        via = `controller ${ctrlName}, ${cf.type}`;
      } else {
        type = ck.get('type')?.trim() ?? '';
        via = `type = ${type}`;
      }
      const keys: [string, string][] = [];
      let parked: string | undefined;
      let secret = false;
      let what: string;
      if (type === 'SSHController' || type.toLowerCase() === 'ssh') {
        keys.push(['type', 'ssh']);
        if (desc) keys.push(['description', desc]);
        const parts: string[] = ['type ssh'];
        const host = ck.get('host')?.trim() ?? '';
        if (host) {
          keys.push(['host', host]);
          parts.push(`host = ${host}`);
        }
        const user = ck.get('username')?.trim() ?? '';
        if (user) {
          keys.push(['user', user]);
          parts.push('username → user');
        }
        const password = ck.get('password') ?? '';
        if (password) {
          keys.push(['password', password]);
          secret = true;
          parts.push(`password = ${SECRET}`);
        }
        const keyFile = ck.get('key_filename')?.trim() ?? '';
        if (keyFile) {
          keys.push(['key_file', keyFile]);
          parts.push(`key_filename → key_file = ${keyFile}`);
        }
        keys.push(['command', 'shutdown now']);
        parts.push('command = shutdown now (what Ockle ran)');
        keys.push(['known_hosts', SSH_KNOWN_HOSTS]);
        parts.push(`known_hosts = ${SSH_KNOWN_HOSTS}`);
        const timeoutRaw = ck.get('timeout');
        const timeout = pyFloat(timeoutRaw);
        if (timeout !== undefined) {
          const d = seconds(timeout, 100, 120_000);
          keys.push(['connect_timeout', d.text]);
          parts.push(`timeout ${timeoutRaw?.trim()} → connect_timeout = ${d.text}${d.clamped ? ' (moved into ockle’s range 100ms–2m)' : ''}`);
        } else if (timeoutRaw !== undefined && timeoutRaw.trim() !== '') lost(`${file} [${c.ockle}] timeout = ${timeoutRaw}: not a number of seconds`);
        for (const [flag, why] of [
          ['allow_agent', 'ockle logs in with key_file or password only, never through an ssh-agent'],
          ['look_for_keys', 'ockle does not search ~/.ssh for keys: it uses key_file'],
          ['compress', 'ockle’s SSH sends one short command and does not compress'],
        ] as const) {
          const v = ck.get(flag);
          if (v !== undefined && pyBool(v) !== false) lost(`${file} [${c.ockle}] ${flag} = ${v}: ${why}`);
        }
        lost(
          `${file} [${c.ockle}] host key: Ockle trusted the known_hosts of the user it ran as (~/.ssh/known_hosts); ockle reads known_hosts = ${SSH_KNOWN_HOSTS}: put the host’s key there, or set host_key = SHA256:… (ssh-keyscan HOST | ssh-keygen -lf -)`,
        );
        if (!host) parked = 'Ockle’s host was empty (its login always failed); give it host = … and list it in controls';
        else if (!user) parked = 'Ockle’s username was empty (paramiko logged in as the local user); give it user = … and list it in controls';
        else if (!password && !keyFile) parked = 'it has neither password nor key_filename (Ockle found a key in ~/.ssh or the ssh-agent); give it key_file = … and list it in controls';
        what = parts.join(', ');
      } else if (type === 'Dummy' || type === 'DummyWithCPU' || type.toLowerCase() === 'dummy') {
        const fail = ck.get('simulate_shutdown_fail');
        if (fail !== undefined) lost(`${file} [${c.ockle}] simulate_shutdown_fail = ${fail}: Ockle’s Dummy controller never read it`);
        if (simulated) {
          keys.push(['type', 'sim']);
          if (desc) keys.push(['description', desc]);
          what = 'type sim: the simulated server halts when asked';
        } else {
          keys.push(['type', 'command']);
          if (desc) keys.push(['description', desc]);
          keys.push(['command', 'true']);
          what = 'type command, command = true: like Ockle’s Dummy it accepts and does nothing (sim controls follow sim outlets, and this server has other outlets)';
        }
      } else {
        lost(`${file} [${c.ockle}] (${via}): controller type "${type || '(none)'}" has no ockle translation (ockle controls: ssh, ipmi-soft, redfish-graceful, command): control left out, so ockle cuts this server’s power without a clean shutdown`);
        continue;
      }
      restLost(`${file} [${c.ockle}]`, ck, `not a setting of Ockle’s ${type}`);
      controls.push({ section: c.out, keys, ...(parked && { parked }), secret });
      if (parked) lost(`${file} [${c.ockle}] (${via}) → ${to} [${c.out}], written but not in controls: ${parked}; until then ockle cuts this server’s power without a clean shutdown`);
      else done(`${secLabel(c.ockle, c.out)} (${via}) ${what}${desc ? ', comment → description' : ''}`);
    }

    // Dependencies: Ockle server (file) names → ockle names
    const depRaw = k.get('dependencies');
    const deps = pyList(depRaw);
    const dependencies: string[] = [];
    if (deps.bad) lost(`${file} [server] dependencies = ${depRaw}: not a JSON list (Ockle could not load it): none carried`);
    for (const d of deps.items) {
      const to2 = byOckleName.get(d);
      if (d === ockleName) lost(`${file} [server] dependencies: "${d}" is the server itself: left out`);
      else if (!to2) lost(`${file} [server] dependencies: "${d}" is no server in ${dirs.servers}/: left out`);
      else if (!dependencies.includes(to2)) dependencies.push(to2);
    }
    if (dependencies.length > 0) {
      const renamedDeps = deps.items.filter((d) => byOckleName.get(d) !== undefined && byOckleName.get(d) !== d);
      done(
        `${file} [server] dependencies → ${to} dependencies = ${dependencies.join(', ')}${renamedDeps.length ? ` (${renamedDeps.map((d) => `"${d}" → ${byOckleName.get(d)}`).join(', ')})` : ''}${!deps.json ? ' (one name, not a JSON list)' : ''}`,
      );
    }
    restLost(`${file} [server]`, k, 'not a setting of an Ockle server');
    const listed = new Set([...k.sec.keys.keys()].flatMap((key) => (['outlets', 'tests', 'controls'].includes(key) ? pyList(k.sec.keys.get(key)!.value).items : [])));
    for (const s of ps.sections) if (s.name !== 'server' && !listed.has(s.name)) lost(`${file} [${s.name}]: no list of [server] names it (Ockle ignored it)`);

    servers.push({ file, ockleName, name, description, outlets, tests, controls, dependencies, host: undefined });
  }

  // ── dependency cycles: ockle refuses them ──
  for (let cycle = findCycle(servers); cycle; cycle = findCycle(servers)) {
    const [from, dep] = cycle as [string, string];
    const s = servers.find((x) => x.name === from)!;
    s.dependencies.splice(s.dependencies.indexOf(dep), 1);
    lost(`${s.file} [server] dependencies: "${dep}" closes the cycle ${cycle.join(' → ')}, which ockle refuses (no order could start them): left out`);
  }

  // ── [server] host: the one host a server's ping tests and ssh controls use ──
  for (const s of servers) {
    const objects = [...s.tests, ...s.controls].filter((o) => o.keys.some(([k, v]) => k === 'type' && (v === 'ping' || v === 'ssh')));
    const hosts = new Set(objects.flatMap((o) => o.keys.filter(([k]) => k === 'host').map(([, v]) => v)));
    if (hosts.size !== 1) continue;
    s.host = [...hosts][0]!;
    for (const o of objects) {
      const i = o.keys.findIndex(([k]) => k === 'host');
      if (i >= 0) o.keys.splice(i, 1);
    }
  }

  // ── files ──
  const files = new Map<string, OutFile>();
  const ockleIni: OutSection[] = [
    {
      name: 'api',
      comments: ['Loopback only: put a reverse proxy with TLS in front before exposing it (docs/config.md).'],
      keys: [
        ['listen', '127.0.0.1'],
        ['port', '8420'],
      ],
    },
    ...mainSections,
    { name: 'plugins', keys: [['enabled', enabled.join(', ')]] },
    ...pluginSections,
  ];
  files.set(
    'ockle.ini',
    {
      text: writeIni([`ockle configuration imported from Ockle${cfgFile ? `’s ${cfgFile}` : ''} by \`ockle import-ockle\`.`, 'Every key is documented in docs/config.md; `ockle config check DIR` validates this directory.'], ockleIni),
      secret: false,
    },
  );
  const devList = [...devices.values()].filter((d): d is Device => 'id' in d);
  for (const d of devList) {
    const keys = [...d.keys];
    if (d.type === 'sim') {
      const n = Math.max(8, d.maxSocket);
      keys.push(['outlets', String(n)], ['metering', d.ockleType === 'DummyWithCPU' ? 'true' : 'false']);
    }
    files.set(`devices/${d.id}.ini`, { text: writeIni([`Imported from Ockle’s ${d.file} (type ${d.ockleType}).`], [{ name: 'device', keys }]), secret: d.secret });
  }
  for (const s of servers) {
    const head: [string, string][] = [];
    if (s.description) head.push(['description', s.description]);
    if (s.host) head.push(['host', s.host]);
    const live = (xs: readonly OutObject[]): string => xs.filter((x) => !x.parked).map((x) => x.section).join(', ');
    head.push(['outlets', s.outlets.map((o) => o.section).join(', ')], ['tests', live(s.tests)], ['controls', live(s.controls)], ['dependencies', s.dependencies.join(', ')]);
    const sections: OutSection[] = [
      { name: 'server', keys: head },
      ...s.outlets.map((o) => ({
        name: o.section,
        keys: [
          ['device', o.device.id],
          ['outlet', String(o.outlet)],
        ] as [string, string][],
      })),
      ...[...s.tests, ...s.controls].map((o) => ({ name: o.section, ...(o.parked && { comments: [`Not listed in [server]: ${o.parked}.`] }), keys: o.keys })),
    ];
    files.set(`servers/${s.name}.ini`, {
      text: writeIni([`Imported from Ockle’s ${s.file}.`], sections),
      secret: [...s.tests, ...s.controls].some((o) => o.secret),
    });
  }

  // ── testers and controllers: where they went ──
  for (const [m, what, dir] of [
    [testers, 'test', 'tests'],
    [controllers, 'control', 'controls'],
  ] as const) {
    for (const f of m.values()) {
      if (!('type' in f)) lost(`${f.file}: ${f.why} (Ockle could not load it)`);
      else if (f.used === 0) lost(`${f.file} (${f.type}): no server uses it, and ockle keeps ${dir} in the server files: nothing to write`);
      else done(`${f.file} (${f.type}) → the ${what} sections of the ${f.used} server file${f.used === 1 ? '' : 's'} that use it`);
    }
  }
  if (servers.length === 0) note(`no server was carried (${dirs.servers}/ has none that Ockle could load)`);

  return { files, report };
}
