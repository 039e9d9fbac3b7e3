/**
 * Filesystem surprises under the config directory: `servers/` or `devices/` that is a file, a
 * symbolic link loop, or missing. Each is a config problem at file level (never an internal
 * error), and a reload that meets one keeps the running configuration and the daemon.
 */
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultRegistry, DriverRegistry } from '../../drivers/registry.js';
import type { SimWorld } from '../../drivers/sim/world.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { checkConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon.js';
import { formatProblem } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';

let demo: DemoCopy | undefined;
let daemon: Daemon | undefined;
afterEach(async () => {
  await daemon?.stop();
  await demo?.cleanup();
  daemon = demo = undefined;
});

const check = async (dir: string): Promise<string[]> =>
  (await checkConfig(dir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates })).problems.filter((p) => p.severity === 'error').map(formatProblem);

const surprises: [string, (dir: string) => Promise<void>, RegExp][] = [
  ['servers/ is a file', async (d) => (await rm(join(d, 'servers'), { recursive: true }), await writeFile(join(d, 'servers'), 'oops\n')), /^servers\/: servers\/ is not a directory/],
  ['devices/ is a symbolic link loop', async (d) => (await rm(join(d, 'devices'), { recursive: true }), await symlink('devices', join(d, 'devices'))), /^devices\/: devices\/ is a symbolic link loop/],
  ['servers/ is missing', async (d) => rm(join(d, 'servers'), { recursive: true }), /^servers\/: servers\/ is missing/],
  ['a server file is a directory', async (d) => mkdir(join(d, 'servers', 'odd.ini')), /^servers\/odd\.ini: servers\/odd\.ini is a directory, not a file/],
];

describe('config directory surprises', () => {
  for (const [what, make, expected] of surprises) {
    it(`${what}: config check names it; a reload refuses it and keeps the daemon on the old config`, async () => {
      demo = await demoConfig();
      daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false });
      const servers = daemon.gateway.servers().length;
      await make(demo.configDir);
      const errors = await check(demo.configDir);
      expect(errors.some((e) => expected.test(e)), errors.join('\n')).toBe(true);
      expect(errors.join('\n')).not.toMatch(/internal error|report it/i);
      const told: string[] = [];
      daemon.events.on('config.reloaded', (e) => told.push(`${e.ok}: ${e.message}`));
      expect(await daemon.reload()).toBe(false);
      expect(told[0]).toMatch(/^false: reload refused/);
      expect(daemon.gateway.servers().length).toBe(servers);
      expect(daemon.gateway.health().status).toBeDefined();
    });
  }
});

describe('a reload whose new world cannot be built', () => {
  it('is refused, and the old world runs on: its devices still switch', async () => {
    demo = await demoConfig();
    // The sim outlet driver, failing to build on demand (a driver that cannot be made).
    let fail = false;
    const sim = defaultRegistry().get('outlet', 'sim')!;
    const registry = new DriverRegistry(
      defaultRegistry()
        .all()
        .map((d) =>
          d.kind === 'outlet' && d.type === 'sim'
            ? {
                ...sim,
                create: (spec: never, ctx: never) => {
                  if (fail) throw new Error('cannot build the device');
                  return sim.create(spec, ctx);
                },
              }
            : d,
        ),
    );
    daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false, registry });
    await demo.write('devices/pdu-b.ini', (await demo.read('devices/pdu-b.ini')).replace('poll_interval = 2s', 'poll_interval = 3s'));
    fail = true;
    const told: string[] = [];
    daemon.events.on('config.reloaded', (e) => told.push(`${e.ok}: ${e.message}`));
    expect(await daemon.reload()).toBe(false);
    expect(told).toEqual(['false: reload refused: cannot build the device; still running on the previous configuration']);
    const world = daemon.shared<SimWorld>('sim-world')!;
    const writes = world.writes('pdu-b').count;
    const rec = await daemon.gateway.waitFor(daemon.gateway.request({ kind: 'off', targets: ['web-1'], force: true, origin: 'api:test', reason: 'still here' }).id);
    expect(rec.status).toBe('ok');
    expect(world.writes('pdu-b').count).toBe(writes + 1);
    expect(daemon.gateway.devices().find((d) => d.id === 'pdu-b')!.reachable).toBe(true);
  });
});

describe('a lab not built yet', () => {
  it('ockle.ini alone (no devices/ nor servers/) is an empty lab, said as a warning, not refused', async () => {
    demo = await demoConfig();
    await rm(join(demo.configDir, 'devices'), { recursive: true });
    await rm(join(demo.configDir, 'servers'), { recursive: true });
    await rm(join(demo.configDir, 'ups'), { recursive: true });
    const r = await checkConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(r.problems.map(formatProblem)).toEqual(expect.arrayContaining([expect.stringMatching(/^devices\/: warning: devices\/ does not exist: no devices yet/), expect.stringMatching(/^servers\/: warning: servers\/ does not exist: no servers yet/)]));
    expect(r.config!.servers).toEqual([]);
  });
});
