/**
 * The metrics plugin's UPS gauges. Rendered from known UPS states and read back by the reference
 * Prometheus parser (python3-prometheus-client) and the strict line check: a UPS on battery with
 * a low battery, one on mains, one whose source is silent (only `up` 0 and its stage, never its
 * last charge). Then for real: a daemon with a simulated UPS and the metrics plugin in its worker
 * thread, scraped over HTTP before and after a drill, and while the UPS is silent.
 */
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ActionStats, render, UPS_STAGES } from '../../plugins/metrics/plugin.js';
import type { UpsStatus } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { makeLab, type Lab } from '../support/lab.js';
import { lintExposition, parseWithPython, type PromFamily } from '../support/prom-text.js';
import { describePython } from '../support/peers.js';

const ups = (name: string, o: Partial<UpsStatus>): UpsStatus => ({
  name,
  type: 'nut',
  description: '',
  power: 'mains',
  lowBattery: false,
  forcedShutdown: false,
  chargePct: 100,
  runtimeS: 1800,
  loadPct: 35,
  inputVolts: 231.5,
  flags: ['OL'],
  alarms: [],
  error: null,
  lastReadAt: '2026-11-25T10:00:00Z',
  powerSince: null,
  stage: 'normal',
  detail: '',
  event: null,
  actionId: null,
  servers: [],
  ...o,
});
const upses: UpsStatus[] = [
  ups('rack "A"', { power: 'battery', lowBattery: true, chargePct: 18.5, runtimeS: 240, loadPct: 61, inputVolts: 0, flags: ['OB', 'LB'], stage: 'low-battery' }),
  ups('small', { type: 'sim', runtimeS: null }),
  // Silent: the monitor keeps the last reading in the status; the metrics must not show it as current.
  ups('far', { type: 'snmp', power: 'unknown', stage: 'unknown', chargePct: 77, error: 'no reply to GET within 2000 ms', alarms: ['source silent: no reply'] }),
];
const exposition = (): string => render([], [], new ActionStats(), upses);
const value = (fams: readonly PromFamily[], sample: string, labels: Record<string, string>): number | undefined =>
  fams.flatMap((f) => f.samples).find((s) => s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('metrics: UPS gauges', () => {
  it('are well formed line by line, one current stage per UPS', () => {
    const text = exposition();
    expect(lintExposition(text)).toEqual([]);
    for (const u of upses) {
      const lines = text.split('\n').filter((l) => l.startsWith(`ockle_ups_stage{ups="${u.name.replace(/"/g, '\\"')}"`));
      expect(lines).toHaveLength(UPS_STAGES.length);
      expect(lines.filter((l) => l.endsWith(' 1'))).toEqual([`ockle_ups_stage{ups="${u.name.replace(/"/g, '\\"')}",stage="${u.stage}"} 1`]);
    }
  });
  it('leave the UPS families empty (HELP and TYPE only) when no UPS is configured', () => {
    const text = render([], [], new ActionStats());
    expect(lintExposition(text)).toEqual([]);
    expect(text.split('\n').filter((l) => l.startsWith('ockle_ups_'))).toEqual([]);
  });
});

describePython('metrics: UPS gauges read by the reference Prometheus parser', 'prometheus_client', 'python3-prometheus-client', (python) => {
  it('parses, with every UPS value where it should be and none for a silent source', () => {
    const fams = parseWithPython(python, exposition());
    const types = Object.fromEntries(fams.map((f) => [f.name, f.type]));
    for (const n of ['up', 'on_battery', 'low_battery', 'charge_percent', 'runtime_seconds', 'load_percent', 'input_volts', 'stage']) expect(types[`ockle_ups_${n}`], n).toBe('gauge');
    // On battery, low: every value, the quote in its name escaped and read back.
    const a = { ups: 'rack "A"' };
    expect(value(fams, 'ockle_ups_up', { ...a, type: 'nut' })).toBe(1);
    expect(value(fams, 'ockle_ups_on_battery', a)).toBe(1);
    expect(value(fams, 'ockle_ups_low_battery', a)).toBe(1);
    expect(value(fams, 'ockle_ups_charge_percent', a)).toBe(18.5);
    expect(value(fams, 'ockle_ups_runtime_seconds', a)).toBe(240);
    expect(value(fams, 'ockle_ups_load_percent', a)).toBe(61);
    expect(value(fams, 'ockle_ups_input_volts', a)).toBe(0);
    expect(value(fams, 'ockle_ups_stage', { ...a, stage: 'low-battery' })).toBe(1);
    expect(value(fams, 'ockle_ups_stage', { ...a, stage: 'normal' })).toBe(0);
    // On mains; a value the UPS does not report is absent, not 0.
    expect(value(fams, 'ockle_ups_on_battery', { ups: 'small' })).toBe(0);
    expect(value(fams, 'ockle_ups_input_volts', { ups: 'small' })).toBe(231.5);
    expect(value(fams, 'ockle_ups_runtime_seconds', { ups: 'small' })).toBeUndefined();
    // Silent: up 0, stage unknown, and nothing else (its last charge, 77, is not current).
    expect(value(fams, 'ockle_ups_up', { ups: 'far', type: 'snmp' })).toBe(0);
    expect(value(fams, 'ockle_ups_stage', { ups: 'far', stage: 'unknown' })).toBe(1);
    for (const n of ['on_battery', 'low_battery', 'charge_percent', 'runtime_seconds', 'load_percent', 'input_volts']) expect(value(fams, `ockle_ups_${n}`, { ups: 'far' }), n).toBeUndefined();
  });

  describe('under a real daemon', () => {
    let lab: Lab | undefined;
    let daemon: Daemon | undefined;
    afterEach(async () => {
      await daemon?.stop();
      await lab?.cleanup();
      daemon = lab = undefined;
    });

    it('exports the simulated UPS from the first scrape, and follows a drill and a silence', async () => {
      lab = await makeLab({ switch: { noControls: true } });
      const ini = join(lab.configDir, 'ockle.ini');
      await writeFile(ini, (await readFile(ini, 'utf8')).replace('enabled = auto-control', 'enabled = auto-control, metrics') + '\n[plugins.metrics]\nlisten = 127.0.0.1\nport = 0\n');
      await mkdir(join(lab.configDir, 'ups'));
      // on_battery_delay 1h: the drill changes the readings, no stage runs.
      await writeFile(join(lab.configDir, 'ups', 'ups-1.ini'), '[ups]\ntype = sim\npoll_interval = 50ms\ntimeout = 200ms\nretries = 0\nbattery_runtime = 1h\nread_latency = 0ms\n\n[policy]\non_battery_delay = 1h\n');
      daemon = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: true });
      const d = daemon;
      const token = (await readFile(join(lab.stateDir, 'api-token'), 'utf8')).trim();
      // 1. The plugin's own URL (port 0: a free one), once its worker has registered the command.
      let url: string | undefined;
      for (let i = 0; i < 150 && !url; i++) {
        const res = await fetch(`${d.url}/api/commands/metrics.endpoint`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
        if (res.ok) url = ((await res.json()) as { result: { url: string } }).result.url;
        else await new Promise((r) => setTimeout(r, 100));
      }
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const scrape = async (): Promise<PromFamily[]> => {
        const text = await (await fetch(url!)).text();
        expect(lintExposition(text)).toEqual([]);
        return parseWithPython(python, text);
      };
      const u = { ups: 'ups-1' };
      // 2. On mains: the state the monitor had before the plugin started.
      let fams = await scrape();
      expect(value(fams, 'ockle_ups_up', { ...u, type: 'sim' })).toBe(1);
      expect(value(fams, 'ockle_ups_on_battery', u)).toBe(0);
      expect(value(fams, 'ockle_ups_stage', { ...u, stage: 'normal' })).toBe(1);
      // 3. The drill: on battery at 42 %.
      await d.ups.simulate('ups-1', { power: 'battery', chargePct: 42 });
      fams = await scrape();
      expect(value(fams, 'ockle_ups_on_battery', u)).toBe(1);
      expect(value(fams, 'ockle_ups_charge_percent', u)).toBeCloseTo(42, 0);
      expect(value(fams, 'ockle_ups_stage', { ...u, stage: 'on-battery' })).toBe(1);
      // 4. Silent: up 0, no charge.
      await d.ups.simulate('ups-1', { power: 'silent' });
      fams = await scrape();
      expect(value(fams, 'ockle_ups_up', { ...u, type: 'sim' })).toBe(0);
      expect(value(fams, 'ockle_ups_charge_percent', u)).toBeUndefined();
      expect(value(fams, 'ockle_ups_stage', { ...u, stage: 'unknown' })).toBe(1);
      // 5. The API's refused logins are counted in the same scrape (issue 21: "counted in metrics").
      for (const auth of [undefined, 'Bearer ockle_not-a-token', 'Bearer ockle_not-a-token', 'Basic x'])
        expect((await fetch(`${d.url}/api/servers`, { headers: auth ? { authorization: auth } : {} })).status).toBe(401);
      fams = await scrape();
      expect(value(fams, 'ockle_api_auth_failures_total', { reason: 'no token' })).toBe(1);
      expect(value(fams, 'ockle_api_auth_failures_total', { reason: 'invalid token' })).toBe(2);
      expect(value(fams, 'ockle_api_auth_failures_total', { reason: 'malformed header' })).toBe(1);
      expect(value(fams, 'ockle_api_auth_throttled_total', {})).toBe(0);
    }, 30_000);
  });
});
