/**
 * `ockle`: the command line. Talks to the daemon's API (except `config check`, `token new` and
 * `daemon`). Exit codes: 0 ok, 1 the action failed, 2 bad input, 3 device error, 4 daemon
 * unreachable, 5 a plugin command failed or its plugin is down, 130 (143) interrupted by SIGINT (SIGTERM)
 * while following an action, which goes on in the daemon unless --cancel-on-interrupt.
 * `--json` prints the API's JSON for scripts.
 */
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { defaultConfigDir } from '../config/paths.js';
import { parseDuration } from '../config/types.js';
import type { CommandInfo, PluginDetail, PluginStatus, PluginToggle } from '../api/server.js';
import type { ActionRecord, DeviceStatus, OpState, Plan, ServerStatus, TreeView } from '../core/model.js';
import type { Health } from '../core/gateway.js';
import type { OckleError} from '../errors.js';
import { formatProblem, toOckleError } from '../errors.js';
import { generateToken } from '../api/auth.js';
import { packageVersion } from '../version.js';
import type { DriverRegistry } from '../../drivers/registry.js';
import type { checkConfig as CheckConfig } from '../config/load.js';
import type { Template } from '../config/types.js';

/**
 * What only some commands need, loaded when they run: every driver (net-snmp, serialport,
 * modbus-serial, ssh2) and the config loader cost most of a start, and `ockle status` needs
 * none of them.
 */
async function configTools(): Promise<{ checkConfig: typeof CheckConfig; drivers: DriverRegistry; plugins: ReadonlyMap<string, Template> }> {
  const [{ checkConfig }, { defaultRegistry }, { builtinPluginTemplates }] = await Promise.all([import('../config/load.js'), import('../../drivers/registry.js'), import('../../plugins/registry.js')]);
  return { checkConfig, drivers: defaultRegistry(), plugins: builtinPluginTemplates };
}
import { Client, resolveClient } from './client.js';
import { progress, summary } from './progress.js';
import { formatEvent, watchTypes } from './watch.js';
import { UPS_USAGE, upsCommand, upsLine, upsPlan, type UpsCliContext } from './ups.js';
import type { UpsStatus } from '../core/model.js';
import { CONFIG_EDIT_USAGE, CONFIG_EDIT_VERBS, configEditCommand } from '../config/edit/cli.js';
import { daemonModule } from './daemon-module.js';

export interface Io {
  readonly stdout: { write(s: string): unknown; isTTY?: boolean };
  readonly stderr: { write(s: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

const USAGE = `usage: ockle <command> [options]

commands:
  status                       servers with state and reason
  tree [--dot]                 the dependency graph (--dot: Graphviz DOT, coloured by state)
  test SERVER [TEST]           run a server's tests now: result and latency of each (exit 1 if one fails)
  pause SERVER…|--all [--reason TEXT]   maintenance: no keep-alive restart and no automatic action
                               (plugins) for these servers until resumed; operators still can act
  resume SERVER…|--all         end the maintenance
  devices                      devices and their outlets
  plugins                      available plugins: state, where they run, bundled or installed
  plugins show NAME            one plugin: state, version, file, and its settings (type, value, default, help)
  plugins enable|disable NAME  enable or disable a plugin without a restart: edits [plugins] enabled
                               in ockle.ini (checked first, previous file kept as ockle.ini.bak)
                               and reloads, which starts or stops only that plugin
  plugins restart NAME         restart a worker plugin
  plugins new NAME [--dir DIR] write a new plugin to start from (default dir ./ockle-plugin-NAME)
  cmd [--list] [NAME [JSON]]   list the commands plugins registered, with their arguments, or run one
                               with JSON params
                               (e.g. ockle cmd logger.query '{"last":"1h"}')
  PLUGIN COMMAND [JSON]        the same as \`ockle cmd PLUGIN.COMMAND [JSON]\` for a running plugin's command
                               (e.g. ockle mqtt status)
  devices probe DEVICE         ask one device directly (no daemon) what it is: model, profile,
                               outlets, names, states, metering; never switches
  on|off SERVER…|--all         switch in dependency order: on brings up what they need,
                               off takes down what needs them first (auto-control)
  cycle SERVER…                restart exactly these servers: power-cycle, then boot tests
  on|off|cycle SERVER… --force switch exactly these servers' outlets now, ignoring dependencies
  reset SERVER…                warm-reset exactly these servers through their BMC (ipmi, redfish)
  shutdown SERVER…             ask exactly these servers' OSes to shut down through their controls,
                               confirmed by their tests failing; the power stays on
  outlet on|off|cycle DEVICE/OUTLET   switch one outlet now, whatever it powers (forced, journaled,
                               confirmed by read-back; refused while an action holds its server)
      [--reason TEXT] [--no-wait] [--timeout 5m]
      [--queue]                wait for an action holding one of the servers, instead of refusing
      [--cancel-on-interrupt]  Ctrl-C (or SIGTERM) while waiting cancels the action; without it
                               the action continues in the daemon (its id is printed once accepted;
                               \`ockle cancel ID\` stops it). Either way it exits 130 (SIGTERM: 143)
  cancel ID                    stop a running action (operations on the wire finish)
  plan on|off SERVER…|--all    what on/off would do, without touching anything
${UPS_USAGE}  actions [--limit N] [--server S]   the action journal
  action ID                    one action with its steps
  watch [--types a,b] [--metered]   live events, a readable line each (JSON lines with --json);
                               device.metered only with --metered or named in --types
  config check [DIR]           validate a config directory (no daemon needed)
${CONFIG_EDIT_USAGE}  import-ockle OCKLE_ETC_DIR [--out DIR]   translate an Ockle installation into a new config directory
                               (default ./ockle-config); prints what it translated and what it could not
  token new NAME --role viewer|operator|admin   make an API token
  api fingerprint              the SHA-256 fingerprint of the API's TLS certificate (no daemon needed)
  daemon [--config DIR]        run the gateway in the foreground
  version

options: --config DIR (default: $OCKLE_CONFIG, ./config, /etc/ockle), --url URL ($OCKLE_URL),
         --token-file FILE ($OCKLE_TOKEN; default: the daemon's local token), --json
`;

const OPTIONS = {
  config: { type: 'string' },
  url: { type: 'string' },
  'token-file': { type: 'string' },
  json: { type: 'boolean', default: false },
  force: { type: 'boolean', default: false },
  reason: { type: 'string' },
  'no-wait': { type: 'boolean', default: false },
  'cancel-on-interrupt': { type: 'boolean', default: false },
  all: { type: 'boolean', default: false },
  queue: { type: 'boolean', default: false },
  timeout: { type: 'string' },
  limit: { type: 'string' },
  server: { type: 'string' },
  types: { type: 'string' },
  metered: { type: 'boolean', default: false },
  role: { type: 'string' },
  dir: { type: 'string' },
  out: { type: 'string' },
  list: { type: 'boolean', default: false },
  dot: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  // ockle config add server|device
  outlet: { type: 'string' },
  depends: { type: 'string' },
  type: { type: 'string' },
  charge: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const STATE_COLOUR: Partial<Record<OpState, string>> = {
  OK: '32',
  FORCED_ON: '36',
  OFF: '90',
  FORCED_OFF: '90',
  SWITCHING_ON: '33',
  SWITCHING_OFF: '33',
  UNKNOWN: '35',
};

function exitCodeFor(e: OckleError): number {
  if (e.code === 'OCKLE_DAEMON_UNREACHABLE') return 4;
  if (e.code.startsWith('OCKLE_DEVICE_')) return 3;
  if (e.code === 'OCKLE_PLUGIN_UNAVAILABLE' || e.code.startsWith('OCKLE_COMMAND_')) return 5;
  if (e.code === 'OCKLE_TLS_UNTRUSTED') return 4;
  if (['OCKLE_REQUEST_INVALID', 'OCKLE_TREE_UNKNOWN_SERVER', 'OCKLE_ACTION_UNKNOWN', 'OCKLE_CONFIG_INVALID', 'OCKLE_AUTH_REQUIRED', 'OCKLE_AUTH_FORBIDDEN', 'OCKLE_NOT_FOUND', 'OCKLE_ACTION_BUSY', 'OCKLE_ACTION_NO_SEQUENCER'].includes(e.code))
    return 2;
  return 1;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => stripAnsi(r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell + ' '.repeat(widths[c]! - stripAnsi(cell).length)).join('  ').trimEnd()).join('\n') + '\n';
}
// eslint-disable-next-line no-control-regex -- matching the ANSI escapes this file writes
const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

/** `ockle plugins show NAME`: the plugin, then its settings as a table. */
function formatPluginDetail(p: PluginDetail): string {
  let s = `${p.name} (${p.source} ${p.version}): ${p.enabled ? 'enabled' : 'not enabled'}, ${p.state}, runs in the ${p.where === 'worker' ? 'worker thread' : 'main thread'}\n`;
  if (p.description) s += `  ${p.description}\n`;
  if (p.file) s += `  file: ${p.file}\n`;
  if (p.lastError) s += `  last error: ${p.lastError}\n`;
  if (p.bugs) s += `  ${p.bugs} bug(s) reported\n`;
  if (p.settings.length === 0) return s + `  no settings\n`;
  const rows = [['SETTING', 'TYPE', 'VALUE', 'DEFAULT', 'HELP']];
  for (const k of p.settings)
    rows.push([
      k.key + (k.required ? ' *' : ''),
      k.describe,
      k.value === null ? '-' : k.line === null ? `${k.value} (default)` : `${k.value} (ockle.ini:${k.line})`,
      k.default ?? '-',
      k.help,
    ]);
  return `${s}\n[plugins.${p.name}] settings (* required):\n${table(rows)}`;
}

/** `ockle cmd`: every command with its role and arguments, then what each argument means. */
function formatCommands(commands: readonly CommandInfo[]): string {
  const args = (c: CommandInfo): string =>
    c.params === undefined ? 'any JSON object' : Object.keys(c.params).length === 0 ? '-' : Object.entries(c.params).map(([n, a]) => `${n}${a.required ? '' : '?'}:${a.type}`).join(' ');
  const rows = [['COMMAND', 'ROLE', 'ARGS', 'DESCRIPTION']];
  for (const c of commands) rows.push([c.name, c.role, args(c), c.description]);
  let s = table(rows);
  const help = [['COMMAND', 'ARG', 'TYPE', 'HELP']];
  for (const c of commands)
    for (const [n, a] of Object.entries(c.params ?? {})) help.push([c.name, n, `${a.type}${a.required ? ', required' : ''}`, a.help ?? '']);
  if (help.length > 1) s += `\narguments (NAME? is optional; pass them as a JSON object: ockle cmd NAME '{"arg": …}'):\n${table(help)}`;
  return s;
}

export async function main(argv: string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    io.stderr.write(`ockle: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: v, positionals: pos } = parsed;
  let [cmd, ...rest] = pos;
  // `ockle outlet on|off|cycle DEVICE/OUTLET`: one outlet, forced, followed like a server action.
  let outlet: { device: string; outlet: number } | undefined;
  if (cmd === 'outlet') {
    const [kind, ref, ...more] = rest;
    const m = /^([^/\s]+)\/(\d+)$/.exec(ref ?? '');
    if (!kind || !['on', 'off', 'cycle', 'reset'].includes(kind) || !m || more.length > 0)
      return (io.stderr.write(`ockle: the command is \`ockle outlet on|off|cycle DEVICE/OUTLET\` (e.g. ockle outlet off pdu-a/3)\n${USAGE}`), 2);
    outlet = { device: m[1]!, outlet: Number(m[2]) };
    [cmd, rest] = [kind, []];
    v.force = true;
  }
  if (v.help || cmd === undefined || cmd === 'help') {
    io.stdout.write(USAGE);
    return cmd === undefined && !v.help ? 2 : 0;
  }
  const colour = io.stdout.isTTY === true && !io.env.NO_COLOR && !v.json;
  const paint = (code: string | undefined, s: string): string => (colour && code ? `\x1b[${code}m${s}\x1b[0m` : s);
  const out = (s: string): void => void io.stdout.write(s);
  const json = (x: unknown): void => out(JSON.stringify(x, null, 2) + '\n');
  const configDir = v.config ? resolve(io.cwd, v.config) : defaultConfigDir(io.env, io.cwd);
  const client = (): Client =>
    new Client(
      resolveClient({
        configDir,
        env: io.env,
        ...(v.url && { url: v.url }),
        ...(v['token-file'] && { tokenFile: resolve(io.cwd, v['token-file']) }),
      }),
    );
  const usage = (msg: string): number => {
    io.stderr.write(`ockle: ${msg}\n${USAGE}`);
    return 2;
  };
  const upsCli = (): UpsCliContext => ({ client, out, json, asJson: v.json === true, paint, usage, charge: v.charge });

  try {
    switch (cmd) {
      case 'version':
        out(`ockle ${packageVersion()}\n`);
        return 0;
      case 'status': {
        const c = client();
        // UPSes beside the servers (one more request on the same connection; none configured: no line).
        const [{ servers }, ups] = await Promise.all([
          c.request<{ servers: ServerStatus[] }>('GET', '/api/servers'),
          c.request<{ ups: UpsStatus[] }>('GET', '/api/ups').then((r) => r.ups, () => [] as UpsStatus[]),
        ]);
        if (v.json) return json({ servers, ups }), 0;
        const rows = [['SERVER', 'STATE', 'OUTLETS', 'WHY']];
        for (const s of servers)
          rows.push([
            s.name,
            paint(STATE_COLOUR[s.state] ?? '31', s.state),
            s.outlets.map((o) => `${o.device}:${o.outlet}=${o.power}${o.readBack === 'assumed' ? '?' : ''}`).join(' ') || '-',
            s.reason + (s.actionId ? ` [${s.actionId}]` : '') + (s.paused ? ` ${paint('33', `[paused by ${s.paused.by}${s.paused.reason ? `: ${s.paused.reason}` : ''}]`)}` : ''),
          ]);
        out(table(rows));
        for (const u of ups) out(`${upsLine(u, paint)}\n`);
        return 0;
      }
      case 'ups':
        return await upsCommand(rest, upsCli());
      case 'tree': {
        const tree = await client().request<TreeView>('GET', '/api/tree');
        if (v.json) return json(tree), 0;
        if (v.dot) return out(treeDot(tree)), 0;
        const deps = new Map(tree.order.map((n) => [n, tree.edges.filter((e) => e.from === n).map((e) => e.to)]));
        const state = new Map(tree.nodes.map((n) => [n.name, n.state]));
        for (const n of tree.order) {
          const d = deps.get(n)!;
          out(`${n} ${paint(STATE_COLOUR[state.get(n)!] ?? '31', `(${state.get(n)})`)}\n`);
          const far = (tree.remote ?? []).filter((r) => r.neededBy.includes(n)).map((r) => r.ref);
          const all = [...d, ...far];
          all.forEach((x, i) => out(`  ${i === all.length - 1 ? '└─' : '├─'} needs ${x}${i >= d.length ? ' (another gateway)' : ''}\n`));
        }
        // Servers of other gateways (federation): their state as the broker tells it.
        for (const r of tree.remote ?? [])
          out(`${r.ref} ${paint(STATE_COLOUR[r.state as OpState] ?? '31', `(${r.state})`)} on gateway ${r.gateway}${r.state === 'UNKNOWN' ? `: ${r.reason}` : ''}${r.dependsOnHere.length ? `; needs ${r.dependsOnHere.join(', ')} here` : ''}\n`);
        return 0;
      }
      case 'pause':
      case 'resume': {
        if (rest.length === 0 && !v.all) return usage(`${cmd} needs at least one SERVER, or --all`);
        if (rest.length > 0 && v.all) return usage(`${cmd}: name servers or give --all, not both`);
        const r = await client().request<{ changed: string[]; paused: { server: string; by: string; at: string; reason: string }[] }>('POST', '/api/maintenance', {
          action: cmd,
          ...(v.all ? { all: true } : { targets: rest }),
          ...(cmd === 'pause' && { reason: v.reason ?? '' }),
        });
        if (v.json) return json(r), 0;
        const verb = cmd === 'pause' ? 'paused' : 'resumed';
        out(r.changed.length > 0 ? `${verb}: ${r.changed.join(', ')}\n` : `nothing to do: ${cmd === 'pause' ? 'already paused' : 'not paused'}\n`);
        out(r.paused.length > 0 ? `in maintenance (no keep-alive, no automatic action): ${r.paused.map((p) => p.server).join(', ')}\n` : 'no server is paused\n');
        return 0;
      }
      case 'test': {
        if (rest.length < 1 || rest.length > 2) return usage('the command is `ockle test SERVER [TEST]`');
        const { server } = await client().request<{ server: ServerStatus }>('POST', `/api/servers/${encodeURIComponent(rest[0]!)}/tests`, {});
        const tests = rest[1] === undefined ? server.tests : server.tests.filter((t) => t.name === rest[1]);
        if (rest[1] !== undefined && tests.length === 0)
          return (io.stderr.write(`ockle: server "${server.name}" has no test "${rest[1]}" (its tests: ${server.tests.map((t) => t.name).join(', ') || 'none'})\n`), 2);
        if (v.json) return json({ server: server.name, state: server.state, tests }), 0;
        if (tests.length === 0) return out(`${server.name} has no tests (${server.state}: ${server.reason})\n`), 0;
        out(table([['TEST', 'TYPE', 'RESULT', 'LATENCY', 'DETAIL'], ...tests.map((t) => [t.name, t.type, paint(t.result === 'PASSED' ? '32' : '31', t.result), t.latencyMs === null ? '' : `${t.latencyMs} ms`, t.detail])]));
        out(`${server.name}: ${server.state} (${server.reason})\n`);
        return tests.every((t) => t.result === 'PASSED') ? 0 : 1;
      }
      case 'plugins': {
        if (rest[0] === 'new') {
          if (rest.length !== 2) return usage('the command is `ockle plugins new NAME [--dir DIR]`');
          const { scaffoldPlugin } = await import('./scaffold.js');
          const made = scaffoldPlugin(rest[1]!, { cwd: io.cwd, ...(v.dir && { dir: v.dir }) });
          out(`wrote plugin ${rest[1]} in ${made.dir}: ${made.files.join(', ')}\nnext: cd ${made.dir} && npm install && npm test (its README.md says how to install it)\n`);
          return 0;
        }
        if (rest[0] === 'show') {
          if (rest.length !== 2) return usage('the command is `ockle plugins show NAME`');
          const { plugin } = await client().request<{ plugin: PluginDetail }>('GET', `/api/plugins/${encodeURIComponent(rest[1]!)}`);
          if (v.json) return json({ plugin }), 0;
          out(formatPluginDetail(plugin));
          return 0;
        }
        if (rest[0] === 'enable' || rest[0] === 'disable') {
          const verb = rest[0];
          if (rest.length !== 2) return usage(`the command is \`ockle plugins ${verb} NAME\``);
          const r = await client().request<PluginToggle>('POST', `/api/plugins/${encodeURIComponent(rest[1]!)}/${verb}`);
          if (v.json) json(r);
          const p = r.plugin;
          const state = `${p.state}${p.lastError ? `: ${p.lastError}` : ''}`;
          // `enabled, running`; a disabled plugin's state says nothing more than `disabled`.
          const now = `${verb}d${p.state === 'disabled' && !p.lastError ? '' : `, ${state}`}`;
          if (!v.json) {
            if (!r.changed) out(`${p.name}: already ${now}; nothing written\n`);
            else out(`${p.name}: ${now}; ${r.file} written${r.backup ? ` (previous version: ${r.backup})` : ''}${r.reloaded ? ', configuration reloaded' : ''}\n`);
          }
          if (r.changed && !r.reloaded) {
            io.stderr.write(`ockle: ${r.file} was written, but the daemon refused the reload and runs on the previous configuration; its log says why (\`ockle config check\`)\n`);
            return 1;
          }
          if (verb === 'enable' && (p.state === 'failed' || p.state === 'backoff')) {
            io.stderr.write(`ockle: ${p.name} is enabled but does not run: ${state}\n`);
            return 1;
          }
          return 0;
        }
        if (rest[0] === 'restart') {
          if (rest.length !== 2) return usage('the command is `ockle plugins restart NAME`');
          const { plugin } = await client().request<{ plugin: PluginStatus }>('POST', `/api/plugins/${encodeURIComponent(rest[1]!)}/restart`);
          if (v.json) return json({ plugin }), 0;
          out(`${plugin.name}: ${plugin.state}\n`);
          return 0;
        }
        if (rest.length > 0) return usage('`ockle plugins` takes no arguments, or `show|enable|disable|restart NAME`, or `new NAME`');
        const { plugins } = await client().request<{ plugins: PluginStatus[] }>('GET', '/api/plugins');
        if (v.json) return json({ plugins }), 0;
        const rows = [['PLUGIN', 'STATE', 'WHERE', 'SOURCE', 'NOTE']];
        for (const p of plugins) rows.push([p.name, p.state, p.where, p.source ?? '-', p.lastError ?? (p.bugs ? `${p.bugs} bug(s) reported` : p.description)]);
        out(table(rows));
        return 0;
      }
      case 'cmd': {
        if (v.list && rest.length > 0) return usage('`ockle cmd --list` takes no command name');
        if (rest.length === 0) {
          const { commands } = await client().request<{ commands: CommandInfo[] }>('GET', '/api/commands');
          if (v.json) return json({ commands }), 0;
          if (commands.length === 0) return out('no commands: no running plugin registered one (see `ockle plugins`)\n'), 0;
          out(formatCommands(commands));
          return 0;
        }
        if (rest.length > 2) return usage('the command is `ockle cmd NAME [JSON]` (quote the JSON as one argument)');
        let params: unknown = {};
        if (rest[1] !== undefined) {
          try {
            params = JSON.parse(rest[1]);
          } catch (err) {
            return usage(`the parameters of ${rest[0]} are not JSON (${(err as Error).message}); pass an object such as '{"last":"1h"}'`);
          }
          if (typeof params !== 'object' || params === null || Array.isArray(params)) return usage(`the parameters of ${rest[0]} must be a JSON object, such as '{"last":"1h"}'`);
        }
        const { result } = await client().request<{ result: unknown }>('POST', `/api/commands/${encodeURIComponent(rest[0]!)}`, params);
        if (typeof result === 'string' && !v.json) out(result.endsWith('\n') ? result : result + '\n');
        else json(result);
        return 0;
      }
      case 'devices': {
        if (rest[0] === 'probe') {
          if (rest.length !== 2) return usage('the probe command is `ockle devices probe DEVICE`');
          const id = rest[1]!;
          const { checkConfig, drivers, plugins } = await configTools();
          const checked = await checkConfig(configDir, { drivers, plugins });
          const dc = checked.devices.find((d) => d.id === id);
          const own = checked.problems.filter((p) => p.file === `devices/${id}.ini` && p.severity === 'error');
          if (own.length > 0 || !dc) {
            if (own.length > 0) for (const p of own) io.stderr.write(`${formatProblem(p)}\n`);
            else io.stderr.write(`ockle: no device "${id}" in ${configDir}/devices (known: ${checked.devices.map((d) => d.id).join(', ') || 'none'})\n`);
            return 2;
          }
          const timeout = v.timeout ? parseDuration(v.timeout) : 30_000;
          if (timeout === undefined) return usage(`--timeout ${v.timeout}: not a duration`);
          const { formatProbe, probeDevice } = await import('./probe.js');
          const report = await probeDevice(dc, drivers, timeout);
          if (v.json) return json(report), 0;
          out(formatProbe(report));
          return 0;
        }
        if (rest.length > 0) return usage('`ockle devices` takes no arguments, or `probe DEVICE`');
        const { devices } = await client().request<{ devices: DeviceStatus[] }>('GET', '/api/devices');
        if (v.json) return json({ devices }), 0;
        for (const d of devices) {
          const reach = d.reachable === null ? 'not contacted' : d.reachable ? 'reachable' : `UNREACHABLE: ${d.error}`;
          out(`${d.id} (${d.type}${d.readBack === 'assumed' ? ', read-back assumed' : ''}) ${reach}${d.lastPollMs !== null ? `, poll ${d.lastPollMs} ms` : ''}\n`);
          // What the driver says of itself: model, SNMP profile, which IPMI path it chose…
          const facts = [...(d.model ? [`model ${d.model}`] : []), ...(d.firmware ? [`firmware ${d.firmware}`] : []), ...Object.entries(d.details).map(([k, val]) => `${k}: ${val}`)];
          for (const f of facts) out(`  · ${f}\n`);
          for (const o of d.outlets) {
            const w = o.reading?.watts !== undefined ? `${o.reading.watts} W` : o.reading?.amps !== undefined ? `${o.reading.amps} A` : '';
            out(`  ${String(o.outlet).padStart(2)}  ${o.power.padEnd(9)} ${(o.boundTo ?? '-').padEnd(20)} ${o.name ?? ''}${w ? `  ${w}` : ''}`.trimEnd() + '\n');
          }
        }
        return 0;
      }
      case 'on':
      case 'off':
      case 'cycle':
      case 'reset':
      case 'shutdown': {
        if (rest.length === 0 && !v.all && !outlet) return usage(`${cmd} needs at least one SERVER, or --all`);
        if (rest.length > 0 && v.all) return usage(`${cmd}: name servers or give --all, not both`);
        const timeoutMs = v.timeout ? parseDuration(v.timeout) : 600_000;
        if (timeoutMs === undefined) return usage(`--timeout "${v.timeout}" is not a duration (e.g. 90s, 5m)`);
        if (v['cancel-on-interrupt'] && v['no-wait']) return usage('--cancel-on-interrupt needs the command to wait: drop --no-wait');
        const c = client();
        const body = { action: cmd, ...(v.all ? { all: true } : { targets: rest }), force: v.force, reason: v.reason ?? '', queue: v.queue };
        const what = (r: ActionRecord): string =>
          r.outlets
            ? `${r.kind} ${r.outlets.map((o) => `${o.device}/${o.outlet}`).join(', ')}${r.targets.length > 0 ? ` (powers ${r.targets.join(', ')})` : ''}`
            : `${r.kind} ${r.targets.length > 3 ? `${r.targets.length} servers` : r.targets.join(', ')}`;
        // Ctrl-C (or a SIGTERM) while following: the action runs in the daemon, not here, so
        // say so with its id, or cancel it with --cancel-on-interrupt. A signal during the
        // request itself waits for the answer: the daemon may have accepted it already.
        const follow = new AbortController();
        let interrupted: NodeJS.Signals | undefined;
        const onSignal = (sig: NodeJS.Signals): void => {
          interrupted ??= sig;
          follow.abort();
        };
        const signals = v['no-wait'] ? [] : (['SIGINT', 'SIGTERM'] as const);
        for (const sig of signals) process.on(sig, onSignal);
        try {
          const { action } = outlet
            ? await c.request<{ action: ActionRecord }>('POST', `/api/devices/${encodeURIComponent(outlet.device)}/outlets/${outlet.outlet}/actions`, { action: cmd, reason: v.reason ?? '' })
            : await c.request<{ action: ActionRecord }>('POST', '/api/actions', body);
          if (v['no-wait']) return v.json ? (json(action), 0) : (out(`${action.id} started\n`), 0);
          const mode = action.kind === 'shutdown' ? 'OS shutdown, no power cut' : action.force ? 'forced' : action.kind === 'reset' ? 'BMC reset' : 'sequenced';
          (v.json ? io.stderr : io.stdout).write(`action ${action.id} accepted: ${what(action)} (${mode})\n`);
          const deadline = Date.now() + timeoutMs;
          let rec = action;
          let shown = 0;
          // In a terminal, a sequence shows one live progress line (failures still get their own
          // lines); elsewhere every step is printed as it is journaled. Polled once a second.
          const live = io.stdout.isTTY === true && !v.json && !v.force;
          const t0 = Date.now();
          const show = (r: ActionRecord): void => {
            if (v.json) return;
            const fresh = r.steps.slice(shown);
            shown = r.steps.length;
            if (!live) {
              for (const s of fresh) out(`  ${s.ok ? '✓' : '✗'} ${s.server ?? ''} ${s.op}: ${s.detail}\n`);
              return;
            }
            out('\r\x1b[2K');
            for (const s of fresh.filter((x) => !x.ok)) out(`  ✗ ${s.server ?? ''} ${s.op}: ${s.detail}\n`);
            out(r.status === 'running' ? progress(r, Date.now() - t0).line : `${progress(r, Date.now() - t0).line}\n`);
          };
          if (!interrupted) show(rec);
          while (!interrupted && rec.status === 'running' && Date.now() < deadline) {
            try {
              rec = await c.request<ActionRecord>('GET', `/api/actions/${rec.id}?wait=1`, undefined, follow.signal);
            } catch (err) {
              if (interrupted) break;
              throw err;
            }
            show(rec);
          }
          // The action may have ended since the last answer: only a running one "continues".
          if (interrupted && rec.status === 'running' && !v['cancel-on-interrupt'])
            rec = await c.request<ActionRecord>('GET', `/api/actions/${encodeURIComponent(rec.id)}`, undefined, AbortSignal.timeout(5000)).catch(() => rec);
          if (interrupted && rec.status === 'running') {
            if (live) out('\n');
            const code = 128 + (interrupted === 'SIGINT' ? 2 : 15);
            const continues = `action ${rec.id} continues in the daemon; \`ockle cancel ${rec.id}\` stops it`;
            if (!v['cancel-on-interrupt']) {
              if (v.json) json(rec);
              io.stderr.write(`${continues}\n`);
              return code;
            }
            let after: ActionRecord;
            try {
              ({ action: after } = await c.request<{ action: ActionRecord }>('POST', `/api/actions/${encodeURIComponent(rec.id)}/cancel`, {}, AbortSignal.timeout(10_000)));
            } catch (err) {
              if (v.json) json(rec);
              io.stderr.write(`ockle: could not cancel action ${rec.id}: ${toOckleError(err).message}\n${continues}\n`);
              return code;
            }
            if (v.json) json(after);
            io.stderr.write(
              after.status === 'running'
                ? `action ${after.id} cancelled: ${what(after)} (operations on the wire finish first; \`ockle action ${after.id}\` shows where it stopped)\n`
                : `action ${after.id} had already ended: ${what(after)}: ${after.status}\n`,
            );
            return code;
          }
          if (interrupted && live) out('\n');
          if (v.json) json(rec);
          else {
            out(`${rec.id} ${cmd} ${rec.targets.length > 3 ? `${rec.targets.length} servers` : rec.targets.join(', ')}: ${rec.status}${rec.error ? ` — ${rec.error.message}` : ''}\n`);
            if (rec.status !== 'running') out(`${summary(rec)}\n`);
          }
          if (rec.status === 'running') {
            io.stderr.write(`ockle: ${rec.id} still running after ${v.timeout ?? '10m'}; follow it with \`ockle action ${rec.id}\`\n`);
            return 1;
          }
          return rec.status === 'ok' ? 0 : rec.error?.code.startsWith('OCKLE_DEVICE_') ? 3 : 1;
        } finally {
          for (const sig of signals) process.off(sig, onSignal);
        }
      }
      case 'actions': {
        const limit = v.limit ?? '20';
        if (!/^\d+$/.test(limit)) return usage(`--limit "${limit}" is not a number`);
        const q = `?limit=${limit}${v.server ? `&server=${encodeURIComponent(v.server)}` : ''}`;
        const { actions } = await client().request<{ actions: ActionRecord[] }>('GET', `/api/actions${q}`);
        if (v.json) return json({ actions }), 0;
        const rows = [['ID', 'WHEN', 'WHO', 'WHAT', 'RESULT', 'WHY']];
        for (const a of actions)
          rows.push([a.id, a.requestedAt.replace('T', ' ').slice(0, 19), a.origin, actionWhat(a), a.status + (a.error ? `: ${a.error.message}` : ''), a.reason]);
        out(table(rows));
        // What the journal itself went through: a record torn by a crash, a disk it cannot write.
        const health = await client().request<Health>('GET', '/api/health');
        if (health.journal && !health.journal.writable) io.stderr.write(`ockle: warning: ${health.journal.error ?? 'the journal cannot be written'}; new actions are refused\n`);
        for (const r of health.journal?.repairs ?? []) io.stderr.write(`ockle: note: ${r}\n`);
        return 0;
      }
      case 'plan': {
        const [kind, ...names] = rest;
        if (kind === 'ups') return names.length > 1 ? usage('the command is `ockle plan ups NAME`') : await upsPlan(names[0], upsCli());
        if (kind !== 'on' && kind !== 'off') return usage('the plan command is `ockle plan on|off SERVER…|--all` or `ockle plan ups NAME`');
        if ((names.length === 0) === !v.all) return usage('plan needs SERVER… or --all (not both)');
        const q = v.all ? 'all=true' : `targets=${encodeURIComponent(names.join(','))}`;
        const p = await client().request<Plan>('GET', `/api/plan?action=${kind}&${q}`);
        if (v.json) return json(p), 0;
        if (p.servers.length === 0) return out(`nothing to do: ${p.skipped.join(', ')} already ${kind}\n`), 0;
        const exp = new Map(p.expected.map((e) => [e.server, e]));
        const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
        p.waves.forEach((w, i) =>
          out(`wave ${i + 1}: ${w.map((n) => `${n} (${exp.get(n)!.source === 'none' ? 'direct' : `${exp.get(n)!.source === 'learned' ? '' : '≤ '}${secs(exp.get(n)!.ms)}`})`).join(', ')}\n`),
        );
        for (const d of p.devices) out(`${d.device}${d.staggerMs > 0 ? ` (stagger ${secs(d.staggerMs)})` : ''}: ${d.order.join(' → ')}\n`);
        out(`critical path: ${p.criticalPath.servers.join(' → ')} (${secs(p.criticalPath.ms)}${p.expected.some((e) => e.source === 'timeout') ? (kind === 'on' ? ', at most: some servers were never seen booting, their boot_timeout counts' : ', at most: shutdown_timeout of each server with controls') : ''})\n`);
        if (p.skipped.length > 0) out(`already ${kind}: ${p.skipped.join(', ')}\n`);
        for (const r of p.remote ?? [])
          out(
            `${kind === 'on' ? 'first' : 'stopped first'}, on another gateway: ${r.ref} (${r.state}${r.state === 'UNKNOWN' ? `: ${r.reason}` : ''}) for ${r.for.join(', ')}: ${r.state === 'UNKNOWN' ? 'waited on, nothing switched on a guess' : r.ask ? `its gateway is asked to switch it ${kind}` : `already ${kind === 'on' ? 'serving' : 'off'}`}\n`,
          );
        return 0;
      }
      case 'cancel': {
        if (!rest[0]) return usage('cancel needs an action ID');
        const { action } = await client().request<{ action: ActionRecord }>('POST', `/api/actions/${encodeURIComponent(rest[0])}/cancel`, {});
        if (v.json) return json({ action }), 0;
        out(`${action.id}: ${action.status === 'running' ? 'cancelling (operations on the wire finish first)' : `already ${action.status}`}\n`);
        return 0;
      }
      case 'action': {
        if (!rest[0]) return usage('action needs an ID');
        const a = await client().request<ActionRecord>('GET', `/api/actions/${encodeURIComponent(rest[0])}`);
        if (v.json) return json(a), 0;
        out(`${a.id} ${a.force ? 'forced ' : ''}${a.kind} ${a.targets.join(', ')} by ${a.origin}${a.reason ? ` (${a.reason})` : ''}: ${a.status}\n`);
        for (const s of a.steps) out(`  ${s.at.slice(11, 23)} ${s.ok ? '✓' : '✗'} ${s.server ?? ''} ${s.op}: ${s.detail}\n`);
        if (a.stepsDropped) out(`  (${a.stepsDropped} more steps not kept: for an old action the journal keeps only its failures and learned boot times)\n`);
        if (a.error) out(`  error ${a.error.code}: ${a.error.message}\n`);
        return 0;
      }
      case 'watch': {
        const ac = new AbortController();
        const onInt = (): void => ac.abort();
        process.once('SIGINT', onInt);
        try {
          for await (const e of client().events(watchTypes(v.types, v.metered), ac.signal)) {
            out((v.json ? JSON.stringify(e) : formatEvent(e, new Date(), paint, (s) => paint(STATE_COLOUR[s as OpState] ?? (s.includes('FAIL') ? '31' : undefined), s))) + '\n');
          }
        } finally {
          process.off('SIGINT', onInt);
        }
        return 0;
      }
      case 'import-ockle': {
        const { importOckleCommand } = await import('../import/cli.js');
        return await importOckleCommand(rest, v.out, io);
      }
      case 'config': {
        if ((CONFIG_EDIT_VERBS as readonly string[]).includes(rest[0] ?? '')) {
          const c = client();
          return await configEditCommand(rest, {
            // Client.request sends any method as it is; its type names only the two others use.
            request: (method, path, body) => c.request(method as 'POST', path, body),
            out,
            err: (s) => void io.stderr.write(s),
            json: v.json,
            flags: { ...(v.outlet !== undefined && { outlet: v.outlet }), ...(v.depends !== undefined && { depends: v.depends }), ...(v.type !== undefined && { type: v.type }), ...(v.limit !== undefined && { limit: v.limit }) },
          });
        }
        if (rest[0] !== 'check') return usage('the config command is `ockle config check [DIR]` or `ockle config set|unset|add|rm|undo|history …`');
        const dir = rest[1] ? resolve(io.cwd, rest[1]) : configDir;
        const { checkConfig, drivers, plugins } = await configTools();
        const { problems } = await checkConfig(dir, { drivers, plugins });
        if (v.json) json({ problems });
        else for (const p of problems) (p.severity === 'error' ? io.stderr : io.stdout).write(formatProblem(p) + '\n');
        const errors = problems.filter((p) => p.severity === 'error').length;
        if (!v.json) out(`${errors} error${errors === 1 ? '' : 's'}, ${problems.length - errors} warning${problems.length - errors === 1 ? '' : 's'} in ${dir}\n`);
        return errors > 0 ? 2 : 0;
      }
      case 'token': {
        const name = rest[1];
        if (rest[0] !== 'new' || !name) return usage('the token command is `ockle token new NAME --role viewer|operator|admin`');
        if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) return usage(`token name "${name}" must be lowercase letters, digits, "-" and "_"`);
        if (!v.role || !['viewer', 'operator', 'admin'].includes(v.role)) return usage('--role must be viewer, operator or admin');
        const t = generateToken();
        if (v.json) return json({ name, role: v.role, token: t.token, sha256: t.sha256 }), 0;
        out(`token (give it to its user; it is not stored anywhere):\n  ${t.token}\n\nadd to ockle.ini, then reload (systemctl reload ockle):\n[token.${name}]\nrole = ${v.role}\nsha256 = ${t.sha256}\n`);
        return 0;
      }
      case 'api': {
        if (rest[0] !== 'fingerprint' || rest.length > 1) return usage('the api command is `ockle api fingerprint`');
        const { apiFingerprint } = await import('./fingerprint.js');
        const c = apiFingerprint(configDir, io.env);
        if (v.json) return json(c), 0;
        out(`${c.fingerprint}\n  SHA-256 of ${c.file}, valid until ${c.validTo}, for ${c.names.join(', ') || 'no subjectAltName'}\n`);
        return 0;
      }
      case 'daemon': {
        const daemon = await daemonModule();
        await daemon.runDaemon({ configDir, onReady: () => daemon.started(), codeCache: daemon.codeCache });
        daemon.stopped();
        return typeof process.exitCode === 'number' ? process.exitCode : 0;
      }
      default: {
        // `ockle PLUGIN COMMAND [JSON]`: a running plugin's command (`ockle mqtt status`), asked
        // of the daemon only when the word is no command of ockle's own.
        if (/^[a-z][a-z0-9-]{0,39}$/.test(cmd) && rest.length >= 1 && rest.length <= 2) {
          const name = `${cmd}.${rest[0]}`;
          const { commands } = await client().request<{ commands: CommandInfo[] }>('GET', '/api/commands');
          if (commands.some((c) => c.name === name)) {
            // The same words and options, with `PLUGIN COMMAND` read as `cmd PLUGIN.COMMAND`.
            const i = argv.indexOf(cmd);
            const j = argv.indexOf(rest[0]!, i + 1);
            return main([...argv.slice(0, i), 'cmd', name, ...argv.slice(i + 1, j), ...argv.slice(j + 1)], io);
          }
        }
        return usage(`unknown command "${cmd}"`);
      }
    }
  } catch (err) {
    const e = toOckleError(err);
    io.stderr.write(`ockle: ${e.message}\n${e.hint ? `  ${e.hint}\n` : ''}`);
    return exitCodeFor(e);
  }
}

const DOT_FILL: Partial<Record<OpState, string>> = {
  OK: '#b7e4c7',
  FORCED_ON: '#a9def9',
  OFF: '#e0e0e0',
  FORCED_OFF: '#cfd8dc',
  SWITCHING_ON: '#fff3b0',
  SWITCHING_OFF: '#fff3b0',
  NOT_SERVING: '#ffd6a5',
};

/** The dependency graph in Graphviz DOT: an edge from a server to what it needs, nodes filled by state. */
export function treeDot(tree: TreeView): string {
  const esc = (s: string): string => s.replace(/["\\]/g, '\\$&');
  const q = (s: string): string => `"${esc(s)}"`;
  const lines = ['digraph ockle {', '  rankdir=BT;', '  node [shape=box, style="rounded,filled", fontname="sans-serif"];'];
  // \n in a DOT label is a line break: the name above the state.
  for (const n of tree.nodes) lines.push(`  ${q(n.name)} [label="${esc(n.name)}\\n${n.state}", fillcolor=${q(DOT_FILL[n.state] ?? '#ffadad')}];`);
  for (const e of tree.edges) lines.push(`  ${q(e.from)} -> ${q(e.to)}; // ${e.from} needs ${e.to}`);
  // Servers of other gateways: dashed, with their gateway; edges to and from them dashed too.
  for (const r of tree.remote ?? []) {
    lines.push(`  ${q(r.ref)} [label="${esc(r.server)}\n${esc(r.gateway)}\n${esc(r.state)}", style="rounded,dashed,filled", fillcolor=${q(DOT_FILL[r.state as OpState] ?? '#e0e0e0')}];`);
    for (const n of r.neededBy) lines.push(`  ${q(n)} -> ${q(r.ref)} [style=dashed]; // ${n} needs ${r.ref}`);
    for (const n of r.dependsOnHere) lines.push(`  ${q(r.ref)} -> ${q(n)} [style=dashed]; // ${r.ref} needs ${n}`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** What an action did, in a few words: `force off web-1`, `cycle pdu-a/3 (web-1)`, `config`. */
function actionWhat(a: ActionRecord): string {
  if (a.kind === 'config') return 'config';
  // A power event's record: `ups start (10 on)`, `ups mains-back`; its stages: `off web-2 [tier-1]`.
  if (a.kind === 'ups') return `ups ${a.event?.stage ?? 'event'}${a.event?.stage === 'start' ? ` (${a.targets.length} on)` : ''}`;
  const stage = a.event ? ` [${a.event.stage}]` : '';
  if (a.outlets) return `${a.kind} ${a.outlets.map((o) => `${o.device}/${o.outlet}`).join(',')}${a.targets.length > 0 ? ` (${a.targets.join(',')})` : ''}`;
  return `${a.force && a.kind !== 'shutdown' ? 'force ' : ''}${a.kind} ${a.targets.join(',')}${stage}`;
}
