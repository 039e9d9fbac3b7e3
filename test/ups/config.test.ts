/**
 * UPS files at `config check`: each mistake reported at its file and line with the fix, the
 * daemon refused; the demo's UPS and its tiers as documented; no ups/ folder is no UPS.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../drivers/registry.js';
import { checkConfig } from '../../src/config/load.js';
import { formatProblem } from '../../src/errors.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { demoConfig } from '../support/demo.js';
import { makeLab } from '../support/lab.js';

const check = (dir: string) => checkConfig(dir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });

async function withUps(text: string, o: { plugins?: string } = {}): Promise<string[]> {
  const lab = await makeLab({ switch: { outlet: 'pdu-1:1', noControls: true }, web: { outlet: 'pdu-1:2', deps: ['switch'], extra: 'shed_priority = 1' } });
  try {
    if (o.plugins !== undefined) {
      const main = join(lab.configDir, 'ockle.ini');
      await writeFile(main, (await readFile(main, 'utf8')).replace('enabled = auto-control', `enabled = ${o.plugins}`));
    }
    await mkdir(join(lab.configDir, 'ups'));
    await writeFile(join(lab.configDir, 'ups', 'ups-1.ini'), text);
    const { problems } = await check(lab.configDir);
    return problems.filter((p) => p.severity === 'error').map(formatProblem);
  } finally {
    await lab.cleanup();
  }
}

describe('UPS files at config check', () => {
  it('the demo UPS loads with its tiers and keep_on', async () => {
    const demo = await demoConfig();
    try {
      const { config, problems } = await check(demo.configDir);
      expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
      const u = config!.ups.find((x) => x.id === 'rack-ups')!;
      expect(u).toMatchObject({ type: 'sim', policy: { keep_on: ['core-switch'], on_battery_delay: 30_000, servers: [] } });
      const tiers = Object.fromEntries(config!.servers.filter((s) => s.shedPriority !== null).map((s) => [s.name, s.shedPriority]));
      expect(tiers).toEqual({ backup: 1, 'vm-3': 1, 'web-2': 1, 'vm-1': 2, 'vm-2': 2, 'web-1': 2, 'storage-2': 3 });
    } finally {
      await demo.cleanup();
    }
  });

  it('no ups/ folder: no UPS, and nothing said about it', async () => {
    const lab = await makeLab({ a: {} });
    try {
      const { config, problems } = await check(lab.configDir);
      expect(config!.ups).toEqual([]);
      expect(problems.filter((p) => p.file.startsWith('ups'))).toEqual([]);
    } finally {
      await lab.cleanup();
    }
  });

  it.each([
    ['no [ups] section', '[policy]\nmin_charge = 20\n', 'ups/ups-1.ini:1: ups/ups-1.ini has no [ups] section Put the UPS source keys (type = nut, snmp or sim) under an [ups] header.'],
    ['an unknown source type', '[ups]\ntype = apcupsd\n', 'ups/ups-1.ini:2: unknown ups type "apcupsd" Known ups types: nut, sim, snmp.'],
    ['a server that does not exist', '[ups]\ntype = sim\n\n[policy]\nservers = web, swtich\n', 'ups/ups-1.ini:5: servers names "swtich", which is not a configured server Did you mean "switch"? Servers are the files in servers/.'],
    [
      'keep_on outside the fed servers',
      '[ups]\ntype = sim\n\n[policy]\nservers = web\nkeep_on = switch\n',
      'ups/ups-1.ini:6: keep_on names "switch", which this UPS does not feed (it is not in servers) Add "switch" to servers, or remove it from keep_on.',
    ],
    [
      'a kept server whose dependency is not fed',
      '[ups]\ntype = sim\n\n[policy]\nservers = web\nkeep_on = web\n',
      'ups/ups-1.ini:6: keep_on "web" depends on "switch", which this UPS does not feed Add "switch" to servers too (a kept server keeps what it needs), or remove "web" from keep_on.',
    ],
    ['fsd without a NUT primary', '[ups]\ntype = sim\n\n[policy]\nfsd = true\n', 'ups/ups-1.ini:5: fsd = true needs a NUT source in primary mode (this UPS is type sim) Only upsd (NUT) has forced shutdown; set fsd = false.'],
    ['a charge out of range', '[ups]\ntype = sim\n\n[policy]\nmin_charge = 120\n', 'ups/ups-1.ini:5: min_charge = 120: 120 is out of range Use an integer 0–100.'],
    ['an unknown section', '[ups]\ntype = sim\n\n[polcy]\nmin_charge = 20\n', 'ups/ups-1.ini:4: unknown section [polcy] in a UPS file A UPS file has an [ups] section and a [policy] section.'],
  ])('%s', async (_what, text, expected) => {
    expect(await withUps(text)).toContain(expected);
  });

  it('a NUT source polled every minute or less often is warned about: upsd would drop its login between polls', async () => {
    const lab = await makeLab({ a: {} });
    try {
      await mkdir(join(lab.configDir, 'ups'));
      await writeFile(join(lab.configDir, 'ups', 'nut-1.ini'), '[ups]\ntype = nut\nhost = 127.0.0.1\nups = rack\npoll_interval = 2m\n');
      const { config, problems } = await check(lab.configDir);
      expect(config).toBeDefined();
      expect(problems.map(formatProblem)).toContain(
        'ups/nut-1.ini:5: warning: poll_interval 120000 ms: upsd drops a client silent for 60 s, so ockle\'s login would lapse between polls Poll more often than every 60 s (the default is 5 s).',
      );
    } finally {
      await lab.cleanup();
    }
  });

  it('a UPS without auto-control is refused: its stages could not run', async () => {
    expect(await withUps('[ups]\ntype = sim\n', { plugins: '' })).toContain(
      'ups/ups-1.ini:1: UPS "ups-1" needs the auto-control plugin: its stages are sequenced on/off actions Add auto-control to [plugins] enabled in ockle.ini, or remove this UPS file.',
    );
  });
});
