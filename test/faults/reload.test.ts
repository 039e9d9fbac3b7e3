/**
 * A reload keeps what it knows: against two real SNMP agents on 127.0.0.1 (one of them silent),
 * a SIGHUP-style reload that changes no device reads no device again, shows no server as
 * UNKNOWN for a moment, writes nothing, and restarts no plugin whose settings did not change.
 * A reload that changes one device reads that one alone.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { SimWorld } from '../../drivers/sim/world.js';
import { demoConfig, REPO } from '../support/demo.js';
import { behaviour, onSetFor } from '../support/pdu-behaviour.js';
import { loadRecording, TestAgent } from '../support/snmp-agent.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'snmp');
let root: string | undefined;
let daemon: Daemon | undefined;
const agents: TestAgent[] = [];
afterEach(async () => {
  await daemon?.stop();
  for (const a of agents.splice(0)) await a.stop();
  if (root) await rm(root, { recursive: true, force: true });
  daemon = undefined;
  root = undefined;
});

const ini = (plugins: string): string =>
  `[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n[plugins]\nenabled = auto-control, timer-example, metrics\n[plugins.metrics]\nport = 0\n${plugins}\n`;
const dev = (port: number, timeout = '500ms'): string =>
  `[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nport = ${port}\ncommunity = public\nwrite_community = private\nrequest_timeout = 300ms\ntimeout = ${timeout}\nretries = 0\npoll_interval = 1h\nconfirm_timeout = 1s\n`;

async function lab(): Promise<{ a: TestAgent; b: TestAgent; d: Daemon; dir: string }> {
  const mk = (): TestAgent => new TestAgent({ data: loadRecording(join(FIXTURES, 'apc-rpdu.snmprec')), onSet: onSetFor(behaviour('apc', [])) });
  const a = await mk().start();
  const b = await mk().start();
  agents.push(a, b);
  b.silent = true; // pdu-b does not answer: a reload that re-read it would wait for its timeout
  root = await mkdtemp(join(tmpdir(), 'ockle-reload-'));
  const dir = join(root, 'config');
  await mkdir(join(dir, 'devices'), { recursive: true });
  await mkdir(join(dir, 'servers'), { recursive: true });
  await writeFile(join(dir, 'ockle.ini'), ini('[plugins.timer-example]\nwait_time = 1h\n'));
  await writeFile(join(dir, 'devices', 'pdu-a.ini'), dev(a.port));
  await writeFile(join(dir, 'devices', 'pdu-b.ini'), dev(b.port));
  await writeFile(join(dir, 'servers', 'web-1.ini'), '[server]\noutlets = power\n[power]\ndevice = pdu-a\noutlet = 1\n');
  await writeFile(join(dir, 'servers', 'spare.ini'), '[server]\noutlets = power\n[power]\ndevice = pdu-a\noutlet = 3\n');
  await writeFile(join(dir, 'servers', 'db-1.ini'), '[server]\noutlets = power\n[power]\ndevice = pdu-b\noutlet = 1\n');
  const d = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
  daemon = d;
  return { a, b, d, dir };
}

const states = (d: Daemon): string => d.gateway.servers().map((s) => `${s.name}:${s.state}`).join(' ');

/** Every enabled worker plugin has started (they start in parallel, in any order). */
async function allPluginsRunning(d: Daemon): Promise<void> {
  for (let i = 0; i < 400 && !d.plugins().every((p) => p.state === 'running' || p.state === 'disabled'); i++) await new Promise((r) => setTimeout(r, 25));
  expect(d.plugins().filter((p) => p.state !== 'running' && p.state !== 'disabled')).toEqual([]);
}

describe('reload', () => {
  it('changing no device: nothing is read again, no server flickers to UNKNOWN, no plugin restarts', async () => {
    const { a, b, d, dir } = await lab();
    await allPluginsRunning(d);
    const before = states(d);
    expect(before).toBe('db-1:UNKNOWN spare:OFF web-1:OK');
    const seen: string[] = [];
    d.events.on('server.changed', (e) => seen.push(`${e.server}:${e.state}`));
    d.events.on('plugin.changed', (e) => seen.push(`${e.plugin}:${e.state}`));
    const reqA = a.requests;
    const reqB = b.requests;
    // A server added and one's description changed: no device of theirs changed.
    await writeFile(join(dir, 'servers', 'web-1.ini'), '[server]\ndescription = front end\noutlets = power\n[power]\ndevice = pdu-a\noutlet = 1\n');
    await writeFile(join(dir, 'servers', 'web-2.ini'), '[server]\noutlets = power\n[power]\ndevice = pdu-a\noutlet = 2\n');
    expect(await d.reload()).toBe(true);
    // The only change told is the new server: nothing went UNKNOWN and came back.
    expect(states(d)).toBe('db-1:UNKNOWN spare:OFF web-1:OK web-2:OK'); // web-2 adopted from what pdu-a read before
    expect(seen).toEqual(['web-2:OK']);
    expect(a.requests).toBe(reqA);
    expect(b.requests).toBe(reqB);
    expect(a.sets.length + b.sets.length).toBe(0);
    expect(d.gateway.server('web-1').description).toBe('front end');
  });

  it('changing one device reads that one alone; a changed plugin setting restarts that plugin alone', async () => {
    const { a, b, d, dir } = await lab();
    await allPluginsRunning(d);
    const plugins: string[] = [];
    d.events.on('plugin.changed', (e) => plugins.push(`${e.plugin}:${e.state}`));
    const reqA = a.requests;
    const reqB = b.requests;
    await writeFile(join(dir, 'devices', 'pdu-b.ini'), dev(b.port, '600ms'));
    await writeFile(join(dir, 'ockle.ini'), ini('[plugins.timer-example]\nwait_time = 2h\n'));
    expect(await d.reload()).toBe(true);
    expect(a.requests).toBe(reqA);
    expect(b.requests).toBeGreaterThan(reqB);
    expect(d.gateway.server('web-1').state).toBe('OK');
    expect(d.gateway.server('db-1').state).toBe('UNKNOWN');
    await d.events.once('plugin.changed', (e) => e.plugin === 'timer-example' && e.state === 'running');
    expect(plugins.filter((p) => p.startsWith('metrics'))).toEqual([]);
    expect(plugins.filter((p) => p.startsWith('timer-example'))).toContain('timer-example:stopped');
    expect(a.sets.length + b.sets.length).toBe(0);
  });
});

describe('reload signals that come close together', () => {
  it('a second reload during a pending one is not dropped: the config the files say last is the one that runs', async () => {
    const demo = await demoConfig();
    try {
      const d = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false });
      daemon = d;
      const world = d.shared<SimWorld>('sim-world')!;
      // A forced cycle keeps the daemon busy: a reload waits for it.
      const cycle = d.gateway.request({ kind: 'cycle', targets: ['web-1'], force: true, origin: 'api:test', reason: 'busy' });
      const web1 = await demo.read('servers/web-1.ini');
      await demo.write('servers/web-1.ini', web1.replace('outlet = 4', 'outlet = 6'));
      const first = d.reload();
      await new Promise((r) => setTimeout(r, 300)); // the first reload has read the files by now
      await demo.write('servers/web-1.ini', web1);
      const second = d.reload();
      expect(await first).toBe(true);
      expect(await second).toBe(true);
      expect((await d.gateway.waitFor(cycle.id)).status).toBe('ok');
      expect(d.gateway.server('web-1').outlets[0]!.outlet).toBe(4);
      const off = await d.gateway.waitFor(d.gateway.request({ kind: 'off', targets: ['web-1'], force: true, origin: 'api:test', reason: 'after' }).id);
      expect(off.status).toBe('ok');
      expect(world.writes('pdu-b').log.at(-1)).toMatchObject({ outlet: 4, action: 'off' });
      expect(world.writes('pdu-b').log.filter((w) => w.outlet === 6)).toEqual([]);
    } finally {
      await daemon?.stop();
      daemon = undefined;
      await demo.cleanup();
    }
  });
});
