/**
 * The metrics plugin's exposition: rendered from a known lab and read back by the reference
 * Prometheus parser (python3-prometheus-client) and a strict line check; label escaping;
 * histogram buckets cumulative.
 */
import { describe, expect, it } from 'vitest';
import { ActionStats, DURATION_BUCKETS, render } from '../../plugins/metrics/plugin.js';
import type { ActionRecord, DeviceStatus, ServerStatus } from '../../src/core/model.js';
import { lintExposition, parseWithPython, type PromFamily } from '../support/prom-text.js';
import { describePython } from '../support/peers.js';

const server = (name: string, state: ServerStatus['state'], outlets: [string, number][], tests: ServerStatus['tests'] = []): ServerStatus => ({
  name,
  description: '',
  host: null,
  state,
  reason: '',
  outlets: outlets.map(([device, outlet]) => ({ name: 'psu', device, outlet, power: 'on', readBack: 'real' })),
  controls: [],
  tests,
  dependencies: [],
  dependents: [],
  remoteDependencies: [],
  remoteDependents: [],
  actionId: null,
  paused: null,
});
const devices: DeviceStatus[] = [
  {
    id: 'pdu-a',
    type: 'snmp-pdu',
    description: '',
    reachable: true,
    error: null,
    readBack: 'real',
    outletCount: 2,
    outlets: [
      { outlet: 1, power: 'on', name: 'web "1"', boundTo: 'web-1/psu', reading: { watts: 181.5, amps: 0.79, volts: 230, energyWh: 1234 } },
      { outlet: 2, power: 'switching', name: null, boundTo: null, reading: null },
    ],
    model: 'AP8641',
    firmware: null,
    details: {},
    lastPollAt: '2026-11-25T10:00:00Z',
    lastPollMs: 12,
  },
  { id: 'relay-1', type: 'serial-relay', description: '', reachable: false, error: 'timeout', readBack: 'assumed', outletCount: 1, outlets: [{ outlet: 1, power: 'unknown', name: null, boundTo: null, reading: null }], model: null, firmware: null, details: {}, lastPollAt: null, lastPollMs: null },
];
const servers = [
  server('web-1', 'OK', [['pdu-a', 1]], [{ name: 'http', type: 'http', result: 'PASSED', detail: '200', latencyMs: 25, at: 'x' }, { name: 'ssh', type: 'tcp', result: 'NOT_RUN', detail: '', latencyMs: null, at: null }]),
  server('db\\1\n', 'FAILED_TO_START', [['relay-1', 1]], [{ name: 'ping', type: 'ping', result: 'FAILED', detail: 'no reply', latencyMs: null, at: 'x' }]),
];
const action = (kind: ActionRecord['kind'], status: ActionRecord['status'], origin: string, seconds: number): ActionRecord => ({
  id: 'x',
  kind,
  targets: [],
  force: false,
  origin,
  reason: '',
  requestedAt: '2026-11-25T10:00:00.000Z',
  finishedAt: new Date(Date.parse('2026-11-25T10:00:00.000Z') + seconds * 1000).toISOString(),
  status,
  steps: [],
});

function exposition(): string {
  const stats = new ActionStats();
  for (let i = 0; i < 3; i++) stats.started();
  stats.finished(action('on', 'ok', 'api:alice', 0.3));
  stats.finished(action('on', 'ok', 'cli:local', 42));
  stats.finished(action('off', 'failed', 'plugin:timer', 4000));
  return render(servers, devices, stats);
}

const value = (fams: readonly PromFamily[], sample: string, labels: Record<string, string>): number | undefined =>
  fams.flatMap((f) => f.samples).find((s) => s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('metrics exposition', () => {
  it('is well formed line by line', () => {
    expect(lintExposition(exposition())).toEqual([]);
  });
  it('holds one current state per server and outlet, and histogram buckets that only grow', () => {
    const text = exposition();
    const lines = text.split('\n');
    expect(lines.filter((l) => l.startsWith('ockle_server_state{server="web-1"') && l.endsWith(' 1'))).toEqual(['ockle_server_state{server="web-1",state="OK"} 1']);
    const buckets = lines.filter((l) => l.startsWith('ockle_action_duration_seconds_bucket{kind="on"')).map((l) => Number(l.split(' ').at(-1)));
    expect(buckets).toHaveLength(DURATION_BUCKETS.length + 1);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(buckets.at(-1)).toBe(2);
  });
});

describePython('metrics read by the reference Prometheus parser', 'prometheus_client', 'python3-prometheus-client', (python) => {
  it('parses, with every value where it should be', () => {
    const fams = parseWithPython(python, exposition());
    const types = Object.fromEntries(fams.map((f) => [f.name, f.type]));
    expect(types).toMatchObject({ ockle_server_state: 'gauge', ockle_outlet_state: 'gauge', ockle_actions: 'counter', ockle_action_duration_seconds: 'histogram', ockle_outlet_energy_watthours: 'counter' });
    expect(value(fams, 'ockle_server_state', { server: 'web-1', state: 'OK' })).toBe(1);
    expect(value(fams, 'ockle_server_state', { server: 'web-1', state: 'OFF' })).toBe(0);
    // A label with a backslash and a newline survives escaping.
    expect(value(fams, 'ockle_server_state', { server: 'db\\1\n', state: 'FAILED_TO_START' })).toBe(1);
    expect(value(fams, 'ockle_outlet_state', { device: 'pdu-a', outlet: '1', server: 'web-1', state: 'on' })).toBe(1);
    expect(value(fams, 'ockle_outlet_state', { device: 'pdu-a', outlet: '2', server: '', state: 'switching' })).toBe(1);
    expect(value(fams, 'ockle_outlet_power_watts', { device: 'pdu-a', outlet: '1' })).toBe(181.5);
    expect(value(fams, 'ockle_outlet_energy_watthours_total', { device: 'pdu-a', outlet: '1' })).toBe(1234);
    expect(value(fams, 'ockle_outlet_power_watts', { device: 'pdu-a', outlet: '2' })).toBeUndefined();
    expect(value(fams, 'ockle_device_up', { device: 'pdu-a', type: 'snmp-pdu' })).toBe(1);
    expect(value(fams, 'ockle_device_up', { device: 'relay-1' })).toBe(0);
    expect(value(fams, 'ockle_device_poll_duration_seconds', { device: 'pdu-a' })).toBe(0.012);
    expect(value(fams, 'ockle_device_read_back_assumed', { device: 'relay-1' })).toBe(1);
    expect(value(fams, 'ockle_test_passed', { server: 'web-1', test: 'http' })).toBe(1);
    expect(value(fams, 'ockle_test_passed', { server: 'web-1', test: 'ssh' })).toBeUndefined();
    expect(value(fams, 'ockle_test_latency_seconds', { server: 'web-1', test: 'http' })).toBe(0.025);
    expect(value(fams, 'ockle_actions_total', { kind: 'on', status: 'ok', origin: 'api' })).toBe(1);
    expect(value(fams, 'ockle_actions_total', { kind: 'on', status: 'ok', origin: 'cli' })).toBe(1);
    expect(value(fams, 'ockle_actions_total', { kind: 'off', status: 'failed', origin: 'plugin' })).toBe(1);
    expect(value(fams, 'ockle_actions_running', {})).toBe(0);
    expect(value(fams, 'ockle_action_duration_seconds_bucket', { kind: 'on', le: '0.5' })).toBe(1);
    expect(value(fams, 'ockle_action_duration_seconds_bucket', { kind: 'on', le: '60' })).toBe(2);
    expect(value(fams, 'ockle_action_duration_seconds_bucket', { kind: 'off', le: '1800' })).toBe(0);
    expect(value(fams, 'ockle_action_duration_seconds_bucket', { kind: 'off', le: '+Inf' })).toBe(1);
    expect(value(fams, 'ockle_action_duration_seconds_sum', { kind: 'on' })).toBeCloseTo(42.3, 6);
  });
});
