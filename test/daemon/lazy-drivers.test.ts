/**
 * Drivers load by the types a configuration names (drivers/builtin.ts, src/world.ts
 * `loadDrivers`): the daemon of a simulated lab loads no protocol stack, and one with an SNMP
 * PDU loads the SNMP driver and net-snmp, and nothing else. What a real daemon process loaded is
 * recorded by a loader hook in that process: every ES module as it loads, and every CommonJS
 * module in `require.cache` when it exits.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { builtinDrivers } from '../../drivers/builtin.js';
import { DriverRegistry } from '../../drivers/registry.js';
import { SNMP_PROFILE_NAMES } from '../../drivers/snmp-pdu/definition.js';
import { PROFILE_NAMES } from '../../drivers/snmp-pdu/profiles/index.js';
import { lazyDriver } from '../../drivers/types.js';
import { wolSketch } from '../../drivers/wol/definition.js';
import { API_INFO_FILE, type ApiInfo } from '../../src/config/paths.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';
import { behaviour, onSetFor } from '../support/pdu-behaviour.js';
import { loadRecording, TestAgent } from '../support/snmp-agent.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

// Runs in the loader's hook thread: appends each module URL as it loads.
const HOOKS = `import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function load(url, context, next) { appendFileSync(out, url + '\\n'); return next(url, context); }`;
// Preloaded in the daemon (--import): registers the hooks; at exit adds the CommonJS modules.
const PRELOAD = `import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';
const out = process.env.OCKLE_TEST_LOADED;
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}), { data: { out } });
process.on('exit', () => appendFileSync(out, Object.keys(createRequire(process.execPath).cache).map((f) => pathToFileURL(f).href + '\\n').join('')));`;

/** Starts the daemon on `demo` as a process, waits for its API, stops it: the modules it loaded, as paths relative to the repository or `npm:package/…`. */
async function modulesOfDaemon(demo: DemoCopy): Promise<string[]> {
  const loaded = join(demo.stateDir, '..', 'loaded.txt');
  const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(PRELOAD)}`, MAIN, 'daemon', '--config', demo.configDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NOTIFY_SOCKET: '', OCKLE_TEST_LOADED: loaded },
  });
  const out: string[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b.toString()));
  child.stderr.on('data', (b: Buffer) => out.push(b.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    for (let answered = false; !answered; ) {
      if (child.exitCode !== null) throw new Error(`daemon exited early:\n${out.join('')}`);
      const file = join(demo.stateDir, API_INFO_FILE);
      if (existsSync(file)) {
        const { url } = JSON.parse(await readFile(file, 'utf8')) as ApiInfo;
        answered = (await fetch(`${url}/api/health`).catch(() => undefined))?.ok === true;
      }
      if (!answered) await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exit, out.join('')).toBe(0);
  const root = new URL(`file://${REPO}/`).href;
  return [...new Set((await readFile(loaded, 'utf8')).split('\n').filter((u) => u.startsWith('file:')))].map((u) => {
    const npm = /\/node_modules\/(.*)$/.exec(u);
    return npm ? `npm:${npm[1]}` : u.startsWith(root) ? u.slice(root.length) : u;
  });
}

/** Every driver implementation module and the protocol packages they use (not the sim's). */
const heavy = (mods: readonly string[]): string[] =>
  mods.filter(
    (m) =>
      /^dist\/drivers\/(?!sim\/)[^/]+\/index\.js$/.test(m) ||
      /^dist\/drivers\/host\/(testers|controllers)\.js$/.test(m) ||
      /^npm:(net-snmp|serialport|@serialport|modbus-serial|ssh2)\//.test(m),
  );

describe('drivers load by the types the configuration names', () => {
  let demo: DemoCopy;
  beforeEach(async () => {
    demo = await demoConfig();
  });
  afterEach(async () => {
    await demo.cleanup();
  });

  it('the daemon of a simulated lab loads no driver implementation but the sim, nor any protocol package', async () => {
    const mods = await modulesOfDaemon(demo);
    // The recording sees what the daemon runs (the sim driver, its registry, fastify's CommonJS files).
    expect(mods).toContain('dist/drivers/sim/index.js');
    expect(mods).toContain('dist/drivers/snmp-pdu/definition.js');
    expect(mods).toContain('npm:fastify/fastify.js');
    expect(heavy(mods)).toEqual([]);
  });

  it('with an SNMP PDU it loads the SNMP driver and net-snmp, and nothing of the others; starting sends the PDU no SET', async () => {
    const agent = await new TestAgent({
      data: loadRecording(join(REPO, 'test', 'fixtures', 'snmp', 'eaton-epdu.snmprec')),
      read: ['s3cret-community'],
      onSet: onSetFor(behaviour('eaton', [])),
    }).start();
    try {
      await demo.write('devices/rack-pdu.ini', `[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nport = ${agent.port}\ncommunity = s3cret-community\n`);
      const mods = heavy(await modulesOfDaemon(demo));
      expect(mods).toContain('dist/drivers/snmp-pdu/index.js');
      expect(mods.some((m) => m.startsWith('npm:net-snmp/'))).toBe(true);
      expect(mods.filter((m) => !m.startsWith('npm:net-snmp/') && m !== 'dist/drivers/snmp-pdu/index.js')).toEqual([]);
      expect(agent.sets).toEqual([]);
    } finally {
      await agent.stop();
    }
  });
});

describe('lazy drivers', () => {
  it('a lazy driver refuses to build before it is loaded, and builds once it is', async () => {
    const wol = lazyDriver(wolSketch, async () => (await import('../../drivers/wol/index.js')).wolDriver);
    const spec = { mac: '00:11:22:33:44:55', broadcast: '127.0.0.1', port: 9, packets: 1 };
    const ctx = { id: 'wake', log: silentLogger(), stateDir: tmpdir(), shared: <T>(_k: string, init: () => T): T => init() };
    expect(() => wol.create(spec, ctx)).toThrow('outlet driver "wol" is not loaded: load() it before create()');
    await new DriverRegistry([wol]).load([['outlet', 'wol']]);
    expect(wol.create(spec, ctx)).toMatchObject({ id: 'wake', outletCount: 1, caps: { onOnly: true } });
  });

  it('a module that defines another driver than its sketch says is refused at load', async () => {
    // @ts-expect-error on purpose: the module of another driver
    const wrong = lazyDriver(wolSketch, async () => (await import('../../drivers/tasmota/index.js')).tasmotaDriver);
    await expect(wrong.load!()).rejects.toThrow('outlet driver "wol": its module defines outlet driver "tasmota" with another template');
  });

  it('every bundled driver that loads lazily loads, and completes its own sketch', async () => {
    const lazy = builtinDrivers.filter((d) => d.load);
    expect(lazy.map((d) => `${d.kind}:${d.type}`)).toEqual(expect.arrayContaining(['outlet:snmp-pdu', 'controller:ssh', 'tester:ping', 'ups:nut']));
    for (const d of lazy) await d.load!();
  });

  it('the SNMP definition names exactly the vendor profiles there are, in their order', () => {
    expect([...SNMP_PROFILE_NAMES]).toEqual(PROFILE_NAMES);
  });
});
