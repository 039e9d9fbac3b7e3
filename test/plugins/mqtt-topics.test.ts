/**
 * The mqtt plugin's pure parts: command parsing (topics, payloads, limits), where a reply may
 * go, the role table, the retained state it publishes, and the Home Assistant schema check
 * the broker tests rely on (it must reject what HA rejects).
 */
import { describe, expect, it } from 'vitest';
import { discoveryFromShape, discoveryMessages, discoveryShape } from '../../plugins/mqtt/discovery.js';
import { parseRoles } from '../../plugins/mqtt/plugin.js';
import { fallbackReplyTopic, followedTopic, isStateTopic, parseCommand, remoteView, responseTopicAllowed, stateMessages, upsMessages, type Followed } from '../../plugins/mqtt/topics.js';
import type { DeviceStatus, ServerStatus, UpsStatus } from '../../src/core/model.js';
import { checkDiscovery } from '../support/ha-discovery-schema.js';
import { UPS } from '../support/mqtt-fixtures.js';

const n = { prefix: 'ockle', gateway: 'gw-a' };
const parse = (topic: string, payload: string | Buffer, max = 4096) => parseCommand(n, topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload), max);

describe('mqtt command parsing', () => {
  it('reads on, off and cycle in any case, and JSON with reason and request id', () => {
    expect(parse('ockle/gw-a/server/web-1/set', 'ON')).toEqual({ ok: true, command: { action: 'on', user: null, target: { server: 'web-1' }, reason: null, requestId: null } });
    expect(parse('ockle/gw-a/user/alice/outlet/pdu-1/12/set', ' {"action":"Cycle","reason":"hung","request_id":"r9"} ')).toEqual({
      ok: true,
      command: { action: 'cycle', user: 'alice', target: { device: 'pdu-1', outlet: 12 }, reason: 'hung', requestId: 'r9' },
    });
  });
  it('refuses malformed JSON, unknown actions and fields, too large payloads, foreign topics, naming why', () => {
    expect(parse('ockle/gw-a/server/web-1/set', '{"action":')).toMatchObject({ ok: false, message: expect.stringMatching(/not valid JSON/) as string });
    expect(parse('ockle/gw-a/server/web-1/set', 'reboot')).toMatchObject({ ok: false, message: expect.stringMatching(/"reboot" is not a command/) as string });
    expect(parse('ockle/gw-a/server/web-1/set', '{"action":"on","force":true,"request_id":"x"}')).toMatchObject({ ok: false, requestId: 'x', message: expect.stringMatching(/unknown field "force"/) as string });
    expect(parse('ockle/gw-a/server/web-1/set', Buffer.alloc(5000, 0x20))).toMatchObject({ ok: false, message: expect.stringMatching(/5000 bytes; at most 4096/) as string });
    expect(parse('ockle/gw-b/server/web-1/set', 'on')).toMatchObject({ ok: false });
    expect(parse('ockle/gw-a/outlet/pdu-1/0/set', 'on')).toMatchObject({ ok: false });
  });
  it('replies only where a reply may go: not onto our states nor Home Assistant configs', () => {
    expect(responseTopicAllowed(n, 'homeassistant', 'clients/alice/replies')).toBe(true);
    expect(responseTopicAllowed(n, 'homeassistant', 'ockle/gw-a/user/alice/r1/reply')).toBe(true);
    expect(responseTopicAllowed(n, 'homeassistant', 'ockle/gw-a/server/web-1/state')).toBe(false);
    expect(responseTopicAllowed(n, 'homeassistant', 'homeassistant/switch/x/y/config')).toBe(false);
    expect(responseTopicAllowed(n, 'homeassistant', 'a/+/b')).toBe(false);
    expect(fallbackReplyTopic('ockle/gw-a/server/web-1/set')).toBe('ockle/gw-a/server/web-1/reply');
  });
  it('reads the role table and refuses a bad entry', () => {
    expect([...parseRoles(['alice=operator', 'ha=viewer'])]).toEqual([['alice', 'operator'], ['ha', 'viewer']]);
    expect(() => parseRoles(['alice:operator'])).toThrow(/USER=viewer\|operator\|admin/);
  });
});

const server = (name: string, state: ServerStatus['state'], power: 'on' | 'off', outlet: number): ServerStatus => ({
  name,
  description: '',
  host: null,
  state,
  reason: 'r',
  outlets: [{ name: 'psu', device: 'pdu-1', outlet, power, readBack: 'real' }],
  controls: [],
  tests: [],
  dependencies: [],
  dependents: [],
  remoteDependencies: [],
  remoteDependents: [],
  actionId: null,
  paused: null,
});
const pdu: DeviceStatus = {
  id: 'pdu-1',
  type: 'sim',
  description: '',
  reachable: true,
  error: null,
  readBack: 'real',
  outletCount: 2,
  outlets: [
    { outlet: 1, power: 'on', name: null, boundTo: 'web-1/psu', reading: { watts: 120.5, amps: 0.52, volts: 231, energyWh: 4000 } },
    { outlet: 2, power: 'off', name: null, boundTo: null, reading: null },
  ],
  model: null,
  firmware: null,
  details: {},
  lastPollAt: null,
  lastPollMs: null,
};

describe('mqtt state and discovery messages', () => {
  it('publishes readings as numbers and one topic per server, outlet and device', () => {
    const m = stateMessages(n, [server('web-1', 'OK', 'on', 1)], [pdu]);
    expect([...m.keys()].every((t) => isStateTopic(n, t))).toBe(true);
    // No server here depends on another gateway: an empty `needs`, retained all the same.
    expect(m.get('ockle/gw-a/needs')).toBe('{}');
    expect(JSON.parse(m.get('ockle/gw-a/outlet/pdu-1/1/state')!)).toEqual({ power: 'on', server: 'web-1', watts: 120.5, amps: 0.52, volts: 231, energy_wh: 4000 });
    expect(JSON.parse(m.get('ockle/gw-a/server/web-1/state')!)).toMatchObject({ state: 'OK', serving: true, power: 'on' });
    expect(JSON.parse(m.get('ockle/gw-a/device/pdu-1/state')!)).toMatchObject({ reachable: true, watts: 120.5 });
  });
  it('gives Home Assistant only configs its schema accepts, meters only where the outlet measures', () => {
    const m = discoveryMessages(n, { haPrefix: 'homeassistant', outletSwitches: true, version: '0.1.0' }, [server('web-1', 'OK', 'on', 1)], [pdu]);
    for (const [t, p] of m) expect(checkDiscovery(t, JSON.parse(p) as Record<string, unknown>), t).toEqual([]);
    const topics = [...m.keys()];
    expect(topics.filter((t) => /outlet_1[_/]/.test(t))).toHaveLength(5); // switch + 4 meters
    expect(topics.filter((t) => t.includes('outlet_2_'))).toHaveLength(0);
    expect(topics).toContain('homeassistant/switch/ockle_gw-a/device_pdu-1_outlet_2/config');
    const off = discoveryMessages(n, { haPrefix: 'homeassistant', outletSwitches: false, version: '' }, [], [pdu]);
    expect([...off.keys()].some((t) => t.startsWith('homeassistant/switch/'))).toBe(false);
  });
  it('makes the configs again only when the lab changes shape, not when states or readings change', () => {
    const o = { haPrefix: 'homeassistant', outletSwitches: true, version: '0.1.0' };
    const key = (servers: ServerStatus[], devices: DeviceStatus[], ups: UpsStatus[] = []) => JSON.stringify(discoveryShape(servers, devices, ups));
    const base = key([server('web-1', 'OK', 'on', 1)], [pdu]);
    // States, powers, reachability and the values of readings: the same configs.
    const moved: DeviceStatus = { ...pdu, reachable: false, outlets: pdu.outlets.map((x) => ({ ...x, power: 'off', ...(x.reading && { reading: { ...x.reading, watts: 0, energyWh: 4100 } }) })) };
    expect(key([server('web-1', 'FAILED_TO_START', 'off', 1)], [moved])).toBe(base);
    // What a config says: a meter that appears, a model learned, a description, a server, an outlet's owner.
    const metered: DeviceStatus = { ...pdu, outlets: pdu.outlets.map((x) => (x.outlet === 2 ? { ...x, reading: { watts: 3 } } : x)) };
    for (const other of [
      key([server('web-1', 'OK', 'on', 1)], [metered]),
      key([server('web-1', 'OK', 'on', 1)], [{ ...pdu, model: 'AP8641' }]),
      key([server('web-1', 'OK', 'on', 1)], [{ ...pdu, description: 'rack A' }]),
      key([server('web-1', 'OK', 'on', 1), server('db-1', 'OK', 'on', 2)], [pdu]),
      key([server('web-1', 'OK', 'on', 1)], [{ ...pdu, outlets: pdu.outlets.map((x) => (x.outlet === 2 ? { ...x, boundTo: 'db-1/psu' } : x)) }]),
      key([server('web-1', 'OK', 'on', 1)], [pdu], [{ ...UPS, loadPct: null }]),
    ])
      expect(other).not.toBe(base);
    // The configs made from the shape are those made from the lab.
    const m = discoveryMessages(n, o, [server('web-1', 'OK', 'on', 1)], [metered]);
    expect(discoveryFromShape(n, o, discoveryShape([server('web-1', 'OK', 'on', 1)], [metered]))).toEqual(m);
    expect([...m.keys()].filter((t) => t.includes('outlet_2_'))).toEqual(['homeassistant/sensor/ockle_gw-a/device_pdu-1_outlet_2_power/config']);
  });
  it('the schema check rejects what Home Assistant rejects', () => {
    const device = { identifiers: ['x'] };
    const sensor = (p: Record<string, unknown>) => checkDiscovery('homeassistant/sensor/n/o/config', { unique_id: 'u', state_topic: 's', device, ...p });
    expect(sensor({ device_class: 'energy', unit_of_measurement: 'Wh', state_class: 'measurement' })).toEqual([expect.stringMatching(/energy takes state_class total or total_increasing/)]);
    expect(sensor({ device_class: 'power', unit_of_measurement: 'A' })).toEqual([expect.stringMatching(/power needs a unit/)]);
    expect(checkDiscovery('homeassistant/switch/n/o/config', { unique_id: 'u', device })).toEqual([expect.stringMatching(/command_topic is required/)]);
    expect(checkDiscovery('homeassistant/binary_sensor/n/o/config', { unique_id: 'u', state_topic: 's', device, device_class: 'serving' })).toEqual([expect.stringMatching(/device_class serving/)]);
    expect(sensor({ stat_topic: 'x' })).toEqual([expect.stringMatching(/unknown key stat_topic/)]);
  });
  it('publishes a UPS as numbers, with sensors Home Assistant accepts for what it reports', () => {
    const u: UpsStatus = { ...UPS, chargePct: 87, runtimeS: 1260, loadPct: 31, inputVolts: null };
    const m = upsMessages(n, [u]);
    expect([...m.keys()]).toEqual(['ockle/gw-a/ups/rack-ups/state']);
    expect(isStateTopic(n, 'ockle/gw-a/ups/rack-ups/state')).toBe(true);
    expect(JSON.parse(m.get('ockle/gw-a/ups/rack-ups/state')!)).toMatchObject({ power: 'battery', on_battery: true, charge_pct: 87, runtime_s: 1260, load_pct: 31, input_volts: null });
    const d = discoveryMessages(n, { haPrefix: 'homeassistant', outletSwitches: true, version: '' }, [], [], [u]);
    for (const [t, p] of d) expect(checkDiscovery(t, JSON.parse(p) as Record<string, unknown>), t).toEqual([]);
    expect([...d.keys()].map((t) => t.split('/')[3]).sort()).toEqual(['ups_rack-ups_charge', 'ups_rack-ups_load', 'ups_rack-ups_low_battery', 'ups_rack-ups_on_battery', 'ups_rack-ups_runtime']);
  });
});

describe('other gateways as this one sees them', () => {
  const followed = (): Map<string, Followed> =>
    new Map([
      ['gw-a', { availability: 'online', servers: new Map([['storage-1', { state: 'OK', serving: true, reason: 'tests pass', power: 'on', actionId: null, dependencies: [] }]]) }],
      ['gw-b', { availability: 'offline', servers: new Map([['vm-1', { state: 'OK', serving: true, reason: 'tests pass', power: 'on', actionId: null, dependencies: ['gw-a:storage-1'] }]]) }],
    ]);
  it('gives the retained state of an online gateway, UNKNOWN with why for an offline one', () => {
    expect(remoteView(followed(), { connected: true, lastError: null })).toEqual([
      { gateway: 'gw-a', name: 'storage-1', state: 'OK', serving: true, reason: 'tests pass' },
      { gateway: 'gw-b', name: 'vm-1', state: 'UNKNOWN', serving: false, reason: 'gateway gw-b is offline' },
    ]);
  });
  it('gives UNKNOWN for every one while the broker is unreachable, never the last state', () => {
    expect(remoteView(followed(), { connected: false, lastError: 'connect ECONNREFUSED' }).map((x) => [x.state, x.serving, x.reason])).toEqual([
      ['UNKNOWN', false, 'the broker is unreachable (connect ECONNREFUSED)'],
      ['UNKNOWN', false, 'the broker is unreachable (connect ECONNREFUSED)'],
    ]);
  });
  it('reads only availability and server state topics', () => {
    expect(followedTopic('ockle', 'ockle/gw-a/availability')).toEqual(['gw-a', null]);
    expect(followedTopic('ockle', 'ockle/gw-a/server/storage-1/state')).toEqual(['gw-a', 'storage-1']);
    expect(followedTopic('ockle', 'ockle/gw-a/outlet/pdu-1/1/state')).toBeNull();
    expect(followedTopic('ockle', 'other/gw-a/availability')).toBeNull();
  });
});
