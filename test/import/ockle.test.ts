/**
 * `ockle import-ockle`: Ockle's etc directory → an ockle config directory. The fixtures are
 * Ockle's own example files (test/fixtures/ockle/README.md says which); every result must pass
 * `config check` with zero errors, keep the Ockle directory byte for byte, and never print a
 * secret.
 */
import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { defaultRegistry } from '../../drivers/registry.js';
import { checkConfig } from '../../src/config/load.js';
import { main } from '../../src/cli/commands.js';
import { readOckleEtc } from '../../src/import/cli.js';
import { normaliseName, translateOckle, type ImportResult } from '../../src/import/ockle.js';
import { parsePythonIni } from '../../src/import/python-ini.js';
import { REPO } from '../support/demo.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'ockle');
const SECRETS = ['r3ad-Community', 'wr1te;Community', 'wr1te', 'pa ss#word'];

/** The problems `config check` finds in a translation, checked from memory (overrides) in an empty directory. */
async function check(result: ImportResult): Promise<{ errors: string[]; warnings: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'ockle-import-check-'));
  try {
    await mkdir(join(dir, 'devices'));
    await mkdir(join(dir, 'servers'));
    const overrides = new Map([...result.files].map(([p, f]) => [p, f.text]));
    const { problems } = await checkConfig(dir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates, overrides });
    const fmt = (p: (typeof problems)[number]): string => `${p.file}:${p.line ?? ''} ${p.message}`;
    return { errors: problems.filter((p) => p.severity === 'error').map(fmt), warnings: problems.filter((p) => p.severity === 'warning').map(fmt) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function fixture(name: string): Promise<Map<string, string>> {
  const r = await readOckleEtc(join(FIXTURES, name));
  if ('error' in r) throw new Error(r.error);
  return r.files;
}

/** Every file under a directory with its bytes and mode, for before/after comparison. */
async function snapshot(dir: string, rel = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of (await readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      out.set(`${p}/`, String((await stat(join(dir, p))).mode));
      for (const [k, v] of await snapshot(dir, p)) out.set(k, v);
    } else out.set(p, `${(await stat(join(dir, p))).mode}:${(await readFile(join(dir, p))).toString('base64')}`);
  }
  return out;
}

const text = (r: ImportResult, kind?: string): string =>
  r.report
    .filter((l) => !kind || l.kind === kind)
    .map((l) => l.text)
    .join('\n');

describe('translateOckle (pure: text in, files and report out)', () => {
  it('translates Ockle’s own example (etc/config.ini.example, etc/dummyservers) into a config that passes config check', async () => {
    const r = translateOckle(await fixture('dummyservers'));
    expect([...r.files.keys()].sort()).toEqual(['devices/pdu2.ini', 'ockle.ini', 'servers/server1.ini', 'servers/server2.ini', 'servers/server3.ini', 'servers/server4.ini']);
    expect(await check(r)).toEqual({ errors: [], warnings: [] });
    // The oldest format: `outlet = pdu2` names the PDU, the test's type is inline.
    expect(r.files.get('servers/server1.ini')!.text).toContain('[outlet1]\ndevice = pdu2\noutlet = 1\n');
    expect(r.files.get('servers/server1.ini')!.text).toContain('[test1]\ntype = ping\n');
    expect(r.files.get('servers/server1.ini')!.text).toContain('host = 127.0.0.1');
    expect(r.files.get('servers/server2.ini')!.text).toContain('dependencies = server3');
    expect(r.files.get('devices/pdu2.ini')!.text).toContain('type = sim');
    // server4 shares pdu2 outlet 1 with server1 in Ockle; an ockle outlet powers one server.
    expect(text(r, 'not-carried')).toContain('servers/server4.ini [outlet1] pdu2 socket 1: already server "server1"’s');
    expect(r.files.get('servers/server4.ini')!.text).toContain('outlets = outlet2\n');
  });

  it('translates an installation as Ockle’s web interface wrote it: PDUs, testers, controllers, plugins, timings', async () => {
    const r = translateOckle(await fixture('lab'));
    const { errors, warnings } = await check(r);
    expect(errors).toEqual([]);
    // The SSH control that has neither password nor key is written but not listed.
    expect(warnings).toEqual(['servers/backup.ini:20 section [shutdown] is not used by [server]']);

    const ini = r.files.get('ockle.ini')!.text;
    expect(ini).toContain('[plugins]\nenabled = auto-control, logger\n');
    expect(ini).toContain('[plugins.logger]\nlog_resolution = 10s\n');
    expect(ini).toContain('[servers]\nmax_attempts = 3\nboot_timeout = 2s\n');

    const raritan = r.files.get('devices/raritan1.ini')!;
    expect(raritan.text).toContain('type = snmp-pdu\n');
    expect(raritan.text).toContain('host = 127.0.0.1\n');
    expect(raritan.text).toContain('profile = raritan-px1\n');
    // Secrets are written as values (quoted where `;` would start a comment), never reported.
    expect(raritan.text).toContain('community = r3ad-Community\n');
    expect(raritan.text).toContain('write_community = "wr1te;Community"\n');
    expect(raritan.secret).toBe(true);
    expect(r.files.get('devices/lab-dummy.ini')!.text).toContain('outlets = 12\n');

    const web = r.files.get('servers/web-server.ini')!;
    expect(web.text).toContain('description = Web Server: Front end\n');
    expect(web.text).toContain('host = 127.0.0.20\n');
    expect(web.text).toContain('dependencies = db\n');
    expect(web.text).toContain('[shutdown]\ntype = ssh\ndescription = Clean shutdown over SSH\nuser = root\npassword = "pa ss#word"\n');
    expect(web.text).toContain('known_hosts = /etc/ssh/ssh_known_hosts\nconnect_timeout = 21s\n');
    // A Dummy tester on a server powered by a real PDU: a command that always passes.
    expect(web.text).toContain('[up]\ntype = command\ncommand = true\n');
    expect(web.secret).toBe(true);
    // On a simulated server the Dummy tester and controller become sim ones.
    expect(r.files.get('servers/core-switch.ini')!.text).toContain('[alive]\ntype = sim\n');
    expect(r.files.get('servers/core-switch.ini')!.text).toContain('[halt]\ntype = sim\n');

    const all = text(r);
    for (const s of SECRETS) expect(all).not.toContain(s);
    expect(all).toContain('read_community = [secret] → community');
    expect(all).toContain('password = [secret]');
  });

  it('normalises names with spaces and capitals, keeps the original as the description, and maps the dependencies', async () => {
    const r = translateOckle(await fixture('lab'));
    expect([...r.files.keys()].filter((f) => f.startsWith('servers/')).sort()).toEqual(['servers/backup.ini', 'servers/core-switch.ini', 'servers/db.ini', 'servers/web-server.ini']);
    expect(text(r, 'translated')).toContain('servers/Web Server.ini → servers/web-server.ini (name normalised; original kept as description, with the comment)');
    expect(text(r, 'translated')).toContain('servers/Core Switch.ini → servers/core-switch.ini (name normalised; original kept as description)');
    expect(text(r, 'translated')).toContain('outlets/Lab Dummy.ini → devices/lab-dummy.ini');
    expect(r.files.get('servers/core-switch.ini')!.text).toContain('description = Core Switch\n');
    expect(r.files.get('servers/db.ini')!.text).toContain('dependencies = core-switch\n');
    expect(r.files.get('servers/backup.ini')!.text).toContain('[power]\ndevice = lab-dummy\noutlet = 12\n');

    expect(normaliseName('Web Server')).toBe('web-server');
    expect(normaliseName('  Café  Ünïcode!! ')).toBe('cafe-unicode');
    expect(normaliseName('_db_01_')).toBe('db_01_');
    // Two Ockle names that normalise alike get distinct ockle names.
    const twins = translateOckle(
      new Map([
        ['servers/Web Server.ini', '[server]\noutlets = []\ndependencies = []\n'],
        ['servers/web-server.ini', '[server]\ndependencies = ["Web Server"]\n'],
      ]),
    );
    expect([...twins.files.keys()].sort()).toEqual(['ockle.ini', 'servers/web-server-2.ini', 'servers/web-server.ini']);
    expect(twins.files.get('servers/web-server-2.ini')!.text).toContain('dependencies = web-server\n');
    expect(twins.files.get('servers/web-server-2.ini')!.text).toContain('description = web-server\n');
    expect((await check(twins)).errors).toEqual([]);
  });

  it('reports every setting it cannot carry, with why', async () => {
    const r = translateOckle(await fixture('lab'));
    const lost = text(r, 'not-carried');
    expect(lost).toContain('config.ini [plugins] pluginlist SocketListener: ');
    expect(lost).toContain('config.ini [plugins] pluginlist CoreCommunicationCommands: ');
    expect(lost).toContain('config.ini [plugins.AutoControl] wait_time = 2: ');
    expect(lost).toContain('config.ini [plugins.Logger] log_db = sqlite:////~~HOME~~logger.db: ');
    expect(lost).toContain('outlets/raritan1.ini [pdu] agent_name = Ockle: ');
    expect(lost).toContain('servers/backup.ini [server] dependencies: "NAS" is no server in servers/: left out');
    expect(lost).toContain('servers/Web Server.ini [shutdown] allow_agent = true: ');
    expect(lost).toMatch(/servers\/backup.ini \[shutdown\] .*written but not in controls: it has neither password nor key_filename/);
    for (const l of r.report) expect(l.text.length).toBeGreaterThan(10);
  });

  it('carries pluginlist, the [servers] timings and the logger settings; masks a database password', () => {
    const r = translateOckle(
      new Map([
        [
          'config.ini',
          [
            '[main]',
            'server_dir = srv',
            '[servers]',
            'max_startup_time = 90',
            'max_attempts = 0',
            '[plugins]',
            'pluginlist = ["Logger", "TimerPluginExample", "GraphTester"]',
            '[plugins.Logger]',
            'log_resolution = 0',
            'log_db = postgresql://ockle:hunter2@db/ockle',
            '[plugins.TimerPluginExample]',
            'wait_time = 30',
          ].join('\n'),
        ],
        ['srv/a.ini', '[server]\n'],
      ]),
    );
    const ini = r.files.get('ockle.ini')!.text;
    expect(ini).toContain('enabled = logger, timer-example\n');
    expect(ini).toContain('max_attempts = 20\nboot_timeout = 90s\n');
    expect(ini).toContain('[plugins.logger]\nlog_resolution = 1s\n');
    expect(ini).toContain('[plugins.timer-example]\nwait_time = 30s\n');
    expect(text(r)).toContain('max_attempts = 0 → ockle.ini [servers] max_attempts = 20 (Ockle’s 0 was no limit');
    expect(text(r)).toContain('pluginlist GraphTester: ');
    expect(text(r)).toContain('log_db = postgresql://ockle:[secret]@db/ockle');
    expect(text(r)).not.toContain('hunter2');
    expect(r.files.has('servers/a.ini')).toBe(true);
  });

  it('breaks a dependency cycle (ockle refuses one) and says which dependency it left out', async () => {
    const r = translateOckle(
      new Map([
        ['servers/a.ini', '[server]\ndependencies = ["b"]\n'],
        ['servers/b.ini', '[server]\ndependencies = ["a"]\n'],
      ]),
    );
    expect(text(r, 'not-carried')).toContain('servers/a.ini [server] dependencies: "b" closes the cycle a → b → a');
    expect((await check(r)).errors).toEqual([]);
  });

  it('leaves out what it cannot translate: an unknown PDU type and the outlets on it, an unknown tester', async () => {
    const r = translateOckle(
      new Map([
        ['outlets/apc.ini', '[pdu]\ntype = APC\npdu_ip = 127.0.0.9\n'],
        ['testers/http.ini', '[tester]\ntype = HTTP\n'],
        ['servers/s.ini', '[server]\noutlets = ["p"]\ntests = ["t"]\ndependencies = ["broken"]\n\n[p]\npdu = apc\nsocket = 1\n\n[t]\ntester = http\n'],
        ['servers/broken.ini', '[sever]\noutlets = []\n'],
      ]),
    );
    const lost = text(r, 'not-carried');
    expect(lost).toContain('outlets/apc.ini: PDU type "APC" has no ockle translation');
    expect(lost).toContain('servers/s.ini [p] pdu = apc: Ockle PDU type "APC" has no ockle translation: outlet left out');
    expect(lost).toContain('servers/s.ini [t] (tester http, HTTP): tester type "HTTP" has no ockle translation');
    expect(lost).toContain('servers/broken.ini: no [server] section (Ockle could not load it): not carried');
    expect(lost).toContain('servers/s.ini [server] dependencies: "broken" is no server in servers/: left out');
    expect(r.files.has('servers/broken.ini')).toBe(false);
    expect((await check(r)).errors).toEqual([]);
  });
});

describe('parsePythonIni: Ockle’s files as Python’s SafeConfigParser read them', () => {
  it('lowercases keys, continues indented lines, cuts `;` comments after a space, interpolates %% and %(x)s, merges [DEFAULT]', () => {
    const p = parsePythonIni(['[DEFAULT]', 'base = /srv', '[a]', 'Key_Filename: %(base)s/id_rsa', 'pct = 100%%', 'semi = x;y', 'cut = a ; comment', 'long = one', '  two', '# comment', '[a]', 'more = 1'].join('\n'));
    const a = p.sections.find((s) => s.name === 'a')!;
    expect(a.keys.get('key_filename')?.value).toBe('/srv/id_rsa');
    expect(a.keys.get('pct')?.value).toBe('100%');
    expect(a.keys.get('semi')?.value).toBe('x;y');
    expect(a.keys.get('cut')?.value).toBe('a');
    expect(a.keys.get('long')?.value).toBe('one\ntwo');
    expect(a.keys.get('more')?.value).toBe('1');
    expect(a.keys.get('base')?.value).toBe('/srv');
    expect(p.problems).toEqual([]);
  });
});

describe('ockle import-ockle (the command)', () => {
  let tmp: string;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ockle-import-'));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });
  const cli = async (...argv: string[]) => {
    let out = '';
    let err = '';
    const code = await main(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {}, cwd: tmp });
    return { code, out, err };
  };

  it('writes a valid config, prints every translation with secrets masked, and leaves the Ockle directory byte for byte', async () => {
    const src = join(tmp, 'ockle-etc');
    await cp(join(FIXTURES, 'lab'), src, { recursive: true });
    const before = await snapshot(src);
    const r = await cli('import-ockle', src, '--out', 'imported');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(await snapshot(src)).toEqual(before);
    expect(r.out).toContain('servers/Web Server.ini → servers/web-server.ini (name normalised; original kept as description, with the comment)');
    expect(r.out).toContain('outlets/raritan1.ini → devices/raritan1.ini (type snmp-pdu, profile raritan-px1');
    expect(r.out).toMatch(/\nnot carried \(\d+\):\n/);
    expect(r.out).toContain('config check: 0 errors, 1 warning');
    expect(r.out).toContain('[secret]');
    for (const s of SECRETS) expect(r.out + r.err).not.toContain(s);

    const out = join(tmp, 'imported');
    expect((await readdir(out)).sort()).toEqual(['devices', 'ockle.ini', 'servers']);
    expect(await readFile(join(out, 'devices', 'raritan1.ini'), 'utf8')).toContain('community = r3ad-Community');
    expect((await stat(join(out, 'devices', 'raritan1.ini'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(out, 'servers', 'db.ini'))).mode & 0o077).not.toBe(0);
    const { problems } = await checkConfig(out, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
    // No temporary directory is left beside it.
    expect((await readdir(tmp)).sort()).toEqual(['imported', 'ockle-etc']);
  });

  it('writes to ./ockle-config by default, and into an empty directory', async () => {
    expect((await cli('import-ockle', join(FIXTURES, 'dummyservers'))).code).toBe(0);
    expect((await readdir(join(tmp, 'ockle-config', 'servers'))).sort()).toEqual(['server1.ini', 'server2.ini', 'server3.ini', 'server4.ini']);
    await mkdir(join(tmp, 'empty'));
    expect((await cli('import-ockle', join(FIXTURES, 'dummyservers'), '--out', 'empty')).code).toBe(0);
    expect(await readdir(join(tmp, 'empty'))).toContain('ockle.ini');
  });

  it('refuses an output directory that exists and is not empty: exit 2, nothing written', async () => {
    const out = join(tmp, 'taken');
    await mkdir(out);
    await writeFile(join(out, 'notes.txt'), 'mine\n');
    const r = await cli('import-ockle', join(FIXTURES, 'lab'), '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toContain('exists and is not empty');
    expect(r.out).toBe('');
    expect(await readdir(out)).toEqual(['notes.txt']);
    expect((await readdir(tmp)).sort()).toEqual(['taken']);
  });

  it('refuses to write inside the Ockle directory, a missing source, and a directory that is not Ockle’s (exit 2)', async () => {
    const src = join(tmp, 'etc');
    await cp(join(FIXTURES, 'dummyservers'), src, { recursive: true });
    const before = await snapshot(src);
    const inside = await cli('import-ockle', src, '--out', join(src, 'new'));
    expect(inside.code).toBe(2);
    expect(inside.err).toContain('inside the Ockle directory');
    expect(await snapshot(src)).toEqual(before);
    expect((await cli('import-ockle', join(tmp, 'nope'))).code).toBe(2);
    await mkdir(join(tmp, 'plain'));
    const plain = await cli('import-ockle', join(tmp, 'plain'), '--out', 'x');
    expect(plain.code).toBe(2);
    expect(plain.err).toContain('is it Ockle’s etc directory?');
    expect((await cli('import-ockle')).code).toBe(2);
  });

  it('runs from the built CLI (dist/src/cli/main.js)', () => {
    const out = join(tmp, 'built');
    const r = spawnSync(process.execPath, [join(REPO, 'dist', 'src', 'cli', 'main.js'), 'import-ockle', join(FIXTURES, 'lab'), '--out', out], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('servers/Core Switch.ini → servers/core-switch.ini');
    expect(r.stdout).toContain('config check: 0 errors');
    for (const s of SECRETS) expect(r.stdout).not.toContain(s);
  });
});
