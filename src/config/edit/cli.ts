/**
 * `ockle config set|unset|add|rm|undo|history`: config editing from the command line, through
 * the daemon's API (admin: the local token by default), like every other command that changes
 * something. Each prints what it changed (file:line) or refuses with the problems.
 *
 *   ockle config set SERVER.KEY VALUE                 servers/SERVER.ini, [server] KEY
 *   ockle config set FILE:SECTION.KEY VALUE           any file: devices/pdu-a.ini:device.timeout 3s,
 *                                                     ockle.ini:plugins.logger.retention 7d
 *   ockle config unset SERVER.KEY | FILE:SECTION.KEY
 *   ockle config add server NAME [--outlet DEVICE:N] [--depends a,b]
 *   ockle config add device NAME --type TYPE [KEY=VALUE…]
 *   ockle config rm server|device NAME
 *   ockle config undo
 *   ockle config history [--limit N]
 */
import { OckleError } from '../../errors.js';
import type { ConfigChange, ConfigFileText, HistoryEntry } from './editor.js';
import { encodeValue } from './text.js';

export interface EditCli {
  request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T>;
  out(s: string): void;
  err(s: string): void;
  readonly json: boolean;
  readonly flags: { readonly outlet?: string; readonly depends?: string; readonly type?: string; readonly limit?: string };
}

export const CONFIG_EDIT_VERBS = ['set', 'unset', 'add', 'rm', 'undo', 'history'] as const;

export const CONFIG_EDIT_USAGE = `  config set SERVER.KEY VALUE  set a key of servers/SERVER.ini [server]; FILE:SECTION.KEY for any
                               file (devices/pdu-a.ini:device.timeout 3s); checked whole, written
                               in place (comments kept), recorded, reloaded; prints file:line
  config unset SERVER.KEY|FILE:SECTION.KEY   remove a key
  config add server NAME [--outlet DEVICE:N] [--depends a,b]   write servers/NAME.ini
  config add device NAME --type TYPE [KEY=VALUE…]              write devices/NAME.ini
  config rm server|device NAME remove its file (refused while a server depends on it or uses it)
  config undo                  undo the last change made through ockle (again: the one before)
  config history [--limit N]   changes made through ockle: when, who, file, lines
`;

const NAME = /^[a-z0-9][a-z0-9_-]*$/;
const usage = (m: string): OckleError => new OckleError('OCKLE_REQUEST_INVALID', m, { hint: 'See `ockle help` (config set|unset|add|rm|undo|history).' });
const filesPath = (file: string): string => `/api/config/files/${file.split('/').map(encodeURIComponent).join('/')}`;

/** `SERVER.KEY` or `FILE:SECTION.KEY` → file, section and key. */
export function parseTarget(t: string): { file: string; section: string; key: string } {
  const colon = t.indexOf(':');
  if (colon >= 0) {
    const file = t.slice(0, colon);
    const rest = t.slice(colon + 1);
    const dot = rest.lastIndexOf('.');
    if (file === '' || dot <= 0 || dot === rest.length - 1) throw usage(`"${t}" is not FILE:SECTION.KEY (e.g. devices/pdu-a.ini:device.timeout)`);
    return { file, section: rest.slice(0, dot), key: rest.slice(dot + 1) };
  }
  const dot = t.indexOf('.');
  if (dot <= 0 || dot === t.length - 1) throw usage(`"${t}" is not SERVER.KEY (e.g. web-1.boot_timeout) or FILE:SECTION.KEY`);
  const server = t.slice(0, dot);
  if (!NAME.test(server)) throw usage(`"${server}" is not a server name`);
  return { file: `servers/${server}.ini`, section: 'server', key: t.slice(dot + 1) };
}

function printChange(cli: EditCli, c: ConfigChange): void {
  if (cli.json) return cli.out(JSON.stringify(c, null, 2) + '\n');
  if (!c.changed) return cli.out(`${c.file}: already so, nothing written\n`);
  const verb = c.op === 'create' ? 'created' : c.op === 'delete' ? 'deleted' : c.op === 'undo' ? 'restored (undo)' : 'edited';
  cli.out(`${c.file} ${verb}: ${c.diff.removed} line(s) removed, ${c.diff.added} added\n`);
  // Removed lines at their old number, added ones at their new number.
  for (const l of c.diff.lines) cli.out(`  ${c.file}:${l.line}: ${l.op} ${l.text}\n`);
  for (const w of c.warnings) cli.out(`  ${w.file}${w.line === undefined ? '' : `:${w.line}`}: warning: ${w.message}\n`);
  if (c.reloaded) cli.out(`reloaded (change ${c.id ?? '-'}; \`ockle config undo\` reverts it)\n`);
  else cli.err(`ockle: written, but the daemon did not apply it (it runs on the previous configuration; see its log)\n`);
}

export async function configEditCommand(args: readonly string[], cli: EditCli): Promise<number> {
  const [verb, ...rest] = args;
  const read = (file: string) => cli.request<ConfigFileText>('GET', filesPath(file));
  switch (verb) {
    case 'set':
    case 'unset': {
      if (rest.length !== (verb === 'set' ? 2 : 1)) throw usage(verb === 'set' ? 'the command is `ockle config set SERVER.KEY VALUE` (or FILE:SECTION.KEY VALUE)' : 'the command is `ockle config unset SERVER.KEY` (or FILE:SECTION.KEY)');
      const { file, section, key } = parseTarget(rest[0]!);
      const f = await read(file);
      if (!f.exists) throw new OckleError('OCKLE_NOT_FOUND', `${file} does not exist`, { hint: file.startsWith('servers/') ? 'Create it with `ockle config add server NAME`.' : 'Create it first (`ockle config add`).' });
      const edit = verb === 'set' ? { op: 'set', section, key, value: rest[1]! } : { op: 'unset', section, key };
      printChange(cli, await cli.request<ConfigChange>('POST', '/api/config/edit', { file, version: f.version, edits: [edit] }));
      return 0;
    }
    case 'add': {
      const [kind, name, ...pairs] = rest;
      if ((kind !== 'server' && kind !== 'device') || !name) throw usage('the command is `ockle config add server NAME [--outlet DEVICE:N] [--depends a,b]` or `ockle config add device NAME --type TYPE [KEY=VALUE…]`');
      if (!NAME.test(name)) throw usage(`"${name}" is not a name of lowercase letters, digits, "-" and "_"`);
      let text: string;
      if (kind === 'server') {
        if (pairs.length > 0) throw usage(`unexpected ${pairs.join(' ')}: a new server takes --outlet and --depends (then \`ockle config set ${name}.KEY VALUE\`)`);
        const lines = ['[server]'];
        const m = cli.flags.outlet === undefined ? null : /^([a-z0-9][a-z0-9_-]*):(\d+)$/.exec(cli.flags.outlet);
        if (cli.flags.outlet !== undefined && !m) throw usage(`--outlet "${cli.flags.outlet}" is not DEVICE:N (e.g. pdu-a:3)`);
        if (m) lines.push('outlets = power');
        const deps = (cli.flags.depends ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        for (const d of deps) if (!NAME.test(d)) throw usage(`--depends: "${d}" is not a server name`);
        if (deps.length > 0) lines.push(`dependencies = ${deps.join(', ')}`);
        if (m) lines.push('', '[power]', `device = ${m[1]}`, `outlet = ${m[2]}`);
        text = lines.join('\n') + '\n';
      } else {
        if (!cli.flags.type) throw usage('a device needs --type TYPE (`ockle config check` lists the types when it is wrong)');
        const lines = ['[device]', `type = ${encodeValue(cli.flags.type)}`];
        for (const p of pairs) {
          const eq = p.indexOf('=');
          if (eq <= 0) throw usage(`"${p}" is not KEY=VALUE`);
          lines.push(`${p.slice(0, eq).trim()} = ${encodeValue(p.slice(eq + 1))}`);
        }
        text = lines.join('\n') + '\n';
      }
      const file = `${kind === 'server' ? 'servers' : 'devices'}/${name}.ini`;
      printChange(cli, await cli.request<ConfigChange>('POST', filesPath(file), { text }));
      return 0;
    }
    case 'rm': {
      const [kind, name] = rest;
      if ((kind !== 'server' && kind !== 'device') || !name || rest.length !== 2) throw usage('the command is `ockle config rm server|device NAME`');
      if (!NAME.test(name)) throw usage(`"${name}" is not a ${kind} name`);
      const file = `${kind === 'server' ? 'servers' : 'devices'}/${name}.ini`;
      const f = await read(file);
      if (!f.exists) throw new OckleError('OCKLE_NOT_FOUND', `there is no ${kind} "${name}" (${file})`);
      printChange(cli, await cli.request<ConfigChange>('DELETE', `${filesPath(file)}?version=${f.version}`));
      return 0;
    }
    case 'undo': {
      if (rest.length > 0) throw usage('the command is `ockle config undo`');
      printChange(cli, await cli.request<ConfigChange>('POST', '/api/config/undo', {}));
      return 0;
    }
    case 'history': {
      const limit = cli.flags.limit ?? '20';
      if (!/^\d+$/.test(limit)) throw usage(`--limit "${limit}" is not a number`);
      const { changes } = await cli.request<{ changes: HistoryEntry[] }>('GET', `/api/config/history?limit=${limit}`);
      if (cli.json) return cli.out(JSON.stringify({ changes }, null, 2) + '\n'), 0;
      if (changes.length === 0) return cli.out('no configuration change was made through ockle yet\n'), 0;
      for (const c of changes) {
        const lines = c.diff.lines.map((l) => `${l.op}${l.line}`).join(' ');
        cli.out(`${c.id}  ${c.at.replace('T', ' ').slice(0, 19)}  ${c.who}  ${c.op}${c.undoes ? ` of ${c.undoes}` : ''}  ${c.file}  (${lines || 'no line'})\n`);
      }
      return 0;
    }
    default:
      throw usage(`unknown config command "${verb ?? ''}"`);
  }
}
