/**
 * The plugin contract (src/plugin-host/contract.ts) is the one table of events and methods: the
 * event list covers OckleEvents, the SSE filter and the daemon's subscribe accept exactly its
 * names, the dispatch serves its methods up to the plugin's role, the in-process test context
 * refuses what the daemon would, and docs/plugins.md lists what the table holds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { eventFilter, EVENT_NAMES as API_EVENT_NAMES } from '../../src/api/server.js';
import { EventBus } from '../../src/core/event-bus.js';
import { RemoteLab } from '../../src/core/remote.js';
import type { Gateway } from '../../src/core/gateway.js';
import type { ActionRecord, ActionRequest, OckleEvents, ServerStatus, UpsStatus } from '../../src/core/model.js';
import { pluginHandler, pluginSubscriber, PLUGIN_METHODS } from '../../src/plugin-host/bridge.js';
import {
  callMethod,
  EVENT_NAMES,
  EVENTS,
  isEventName,
  METHOD_NAMES,
  METHODS,
  type PluginEventName,
  type PluginMethodParams,
  type PluginMethodResult,
  type Subscribe,
} from '../../src/plugin-host/contract.js';
import { PluginHost } from '../../src/plugin-host/host.js';
import { testContext } from '../../src/plugin-host/testing.js';
import type { PluginContext } from '../../src/plugin-host/types.js';
import { manifests, workerPlugins } from '../../plugins/registry.js';
import { REPO } from '../support/demo.js';

/** A gateway that answers the reads from fixtures and records power requests. */
function fakeGateway() {
  const requests: ActionRequest[] = [];
  const server = { name: 'web-1', state: 'OK' } as unknown as ServerStatus;
  const record = (req: ActionRequest) => ({ id: 'a1', kind: req.kind, origin: req.origin, reason: req.reason, targets: req.targets, status: 'running' }) as unknown as ActionRecord;
  const gateway = {
    events: new EventBus<OckleEvents>(),
    servers: () => [server],
    server: (name: string) => ({ ...server, name }),
    tree: () => ({ nodes: [], edges: [], order: [] }),
    devices: () => [],
    actions: (q?: { limit?: number }) => Array.from({ length: Math.min(q?.limit ?? 0, 3) }, (_, i) => ({ id: `a${i}` })),
    action: (id: string) => ({ id }),
    request: (req: ActionRequest) => (requests.push(req), record(req)),
  } as unknown as Gateway;
  return { gateway, requests };
}

describe('the event table', () => {
  it('is every key of OckleEvents, and nothing else (also checked at compile time by `satisfies`)', () => {
    expectTypeOf<PluginEventName>().toEqualTypeOf<keyof OckleEvents>();
    expectTypeOf<keyof typeof EVENTS>().toEqualTypeOf<keyof OckleEvents>();
    expect(EVENT_NAMES).toEqual(Object.keys(EVENTS));
    expect(new Set(EVENT_NAMES).size).toBe(EVENT_NAMES.length);
    for (const e of EVENT_NAMES) expect(EVENTS[e].length, e).toBeGreaterThan(10);
    expect(isEventName('toString')).toBe(false); // own keys only, not the prototype's
  });

  it('the API’s SSE filter accepts exactly those names', () => {
    expect(API_EVENT_NAMES).toBe(EVENT_NAMES);
    expect(eventFilter(undefined)).toBeNull();
    expect(eventFilter(' , ')).toBeNull();
    expect([...eventFilter(EVENT_NAMES.join(','))!]).toEqual(EVENT_NAMES);
    for (const e of EVENT_NAMES) expect([...eventFilter(` ${e} `)!]).toEqual([e]);
    for (const bad of ['server.exploded', 'Server.changed', 'toString', 'server'])
      expect(() => eventFilter(`server.changed,${bad}`), bad).toThrow(expect.objectContaining({ code: 'OCKLE_REQUEST_INVALID', message: `querystring/types has unknown event "${bad}"` }));
  });

  it('the daemon’s subscribe takes the table’s names, typed payloads, and refuses any other', () => {
    const bus = new EventBus<OckleEvents>();
    expectTypeOf(bus.on.bind(bus)).toMatchTypeOf<Subscribe>();
    const subscribe = pluginSubscriber(bus);
    const seen: unknown[] = [];
    const off = subscribe('device.reachable', (p) => seen.push(p));
    bus.emit('device.reachable', { device: 'pdu-a' });
    off();
    bus.emit('device.reachable', { device: 'pdu-b' });
    expect(seen).toEqual([{ device: 'pdu-a' }]);
    expect(() => subscribe('server.chnaged', () => {})).toThrow(expect.objectContaining({ code: 'OCKLE_REQUEST_INVALID', hint: expect.stringContaining('server.changed') }));
    expect(bus.listenerCount()).toBe(0);
  });
});

describe('the method table', () => {
  it('is what the bridge serves; reads need viewer, a power request operator', () => {
    expect(PLUGIN_METHODS).toBe(METHOD_NAMES);
    expect(Object.fromEntries(METHOD_NAMES.map((m) => [m, METHODS[m].role]))).toEqual({
      servers: 'viewer',
      server: 'viewer',
      tree: 'viewer',
      devices: 'viewer',
      actions: 'viewer',
      action: 'viewer',
      ups: 'viewer',
      'api-auth': 'viewer',
      'remote-state': 'operator',
      'remote-reply': 'operator',
      'request-action': 'operator',
    });
  });

  it('types what a plugin passes and gets', () => {
    expectTypeOf<PluginMethodResult<'servers'>>().toEqualTypeOf<readonly ServerStatus[]>();
    expectTypeOf<PluginMethodResult<'request-action'>>().toEqualTypeOf<ActionRecord>();
    expectTypeOf<PluginMethodParams<'server'>>().toEqualTypeOf<{ readonly name: string }>();
    const ctx = testContext({}).ctx satisfies PluginContext;
    const typed = async () => {
      expectTypeOf(await ctx.call('servers')).toEqualTypeOf<readonly ServerStatus[]>();
      await ctx.call('actions');
      await ctx.call('actions', { limit: 5 });
      await ctx.call('request-action', { kind: 'off', targets: ['web-1'] });
      // @ts-expect-error: `server` needs its name
      await ctx.call('server');
      // @ts-expect-error: no such method
      await ctx.call('reboot-everything');
      // @ts-expect-error: no such kind
      await ctx.call('request-action', { kind: 'explode', targets: [] });
      // @ts-expect-error: no such event
      ctx.on('server.chnaged', () => {});
      ctx.on('outlet.changed', (e) => expectTypeOf(e).toEqualTypeOf<OckleEvents['outlet.changed']>());
    };
    expect(typed).toBeTypeOf('function'); // compiled, not run
  });

  it('dispatches by the table: results, parameter checks, unknown methods', async () => {
    const { gateway, requests } = fakeGateway();
    const handle = pluginHandler(gateway, 'bot');
    expect(await handle('servers', undefined)).toEqual([{ name: 'web-1', state: 'OK' }]);
    expect(await handle('server', { name: 'db-1' })).toMatchObject({ name: 'db-1' });
    expect(await handle('actions', {})).toHaveLength(3); // 20 by default
    expect(await handle('actions', { limit: 1 })).toHaveLength(1);
    expect(await handle('action', { id: 'a9' })).toEqual({ id: 'a9' });
    expect(await handle('request-action', { kind: 'on', targets: ['web-1'], reason: 'nightly' })).toMatchObject({ id: 'a1', origin: 'plugin:bot' });
    expect(requests).toEqual([{ kind: 'on', targets: ['web-1'], force: false, origin: 'plugin:bot', reason: 'nightly' }]);
    for (const [method, params, why] of [
      ['server', {}, /server: name must be a non-empty string/],
      ['action', { id: 7 }, /action: id must be a non-empty string/],
      ['request-action', { kind: 'explode', targets: ['web-1'] }, /kind must be on, off, cycle or reset/],
      ['request-action', { kind: 'on', targets: 'web-1' }, /targets must be a list of server names/],
      ['servers', [1, 2], /servers: the parameters must be an object/],
      ['reboot', {}, /unknown method "reboot"/],
      ['toString', {}, /unknown method "toString"/],
    ] as const)
      await expect(handle(method, params), method).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID', message: expect.stringMatching(why) });
    await expect(handle('reboot', {})).rejects.toMatchObject({ hint: `Methods: ${METHOD_NAMES.join(', ')}.` });
    expect(requests).toHaveLength(1);
  });

  it('serves ups from the daemon’s views (the gateway knows no UPS), an empty list without them', async () => {
    const { gateway } = fakeGateway();
    const ups = [{ name: 'rack-ups', power: 'battery', stage: 'on-battery' }] as unknown as UpsStatus[];
    expect(await pluginHandler(gateway, 'reader', 'viewer', { ups: () => ups })('ups', undefined)).toBe(ups);
    expect(await pluginHandler(gateway, 'reader', 'viewer')('ups', {})).toEqual([]);
  });

  it('takes word of other gateways from the mqtt plugin only, and only in its shape', async () => {
    const { gateway } = fakeGateway();
    const events = new EventBus<OckleEvents>();
    const remote = new RemoteLab(events);
    remote.configure([{ name: 'web-1', remoteDependencies: ['gw-a:storage-1'], settings: { remote_timeout: 60_000 } }], 'gw-c');
    const report = { connected: true, error: null, gateways: { 'gw-a': 'online' }, servers: [{ gateway: 'gw-a', name: 'storage-1', state: 'OK', serving: true, power: 'on', reason: 'tests pass', actionId: null, dependencies: [] }] };
    // Another plugin with the same role cannot make a remote server look serving.
    await expect(pluginHandler(gateway, 'rogue', 'operator', { ups: () => [], remote })('remote-state', report)).rejects.toMatchObject({ code: 'OCKLE_AUTH_FORBIDDEN' });
    expect(remote.view('gw-a:storage-1')).toMatchObject({ state: 'UNKNOWN', serving: false });
    const mqtt = pluginHandler(gateway, 'mqtt', 'operator', { ups: () => [], remote });
    await expect(mqtt('remote-state', { ...report, servers: [{ gateway: 'gw-a', name: 'storage-1', state: 'OK' }] })).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID' });
    expect(remote.view('gw-a:storage-1').state).toBe('UNKNOWN');
    await mqtt('remote-state', report);
    expect(remote.view('gw-a:storage-1')).toMatchObject({ state: 'OK', serving: true, neededBy: ['web-1'] });
    // Its gateway going offline makes it UNKNOWN, with why; never the last state seen.
    await mqtt('remote-state', { ...report, gateways: { 'gw-a': 'offline' } });
    expect(remote.view('gw-a:storage-1')).toMatchObject({ state: 'UNKNOWN', reason: 'gateway gw-a is offline' });
    remote.lost('the mqtt plugin is backoff');
    expect(remote.view('gw-a:storage-1')).toMatchObject({ state: 'UNKNOWN', reason: 'the mqtt plugin is backoff' });
  });

  it('takes a partial report as the changes to the last one: changed servers replaced, removed ones gone, the rest kept', async () => {
    const { gateway } = fakeGateway();
    const events = new EventBus<OckleEvents>();
    const remote = new RemoteLab(events);
    remote.configure([{ name: 'web-1', remoteDependencies: ['gw-a:storage-1', 'gw-a:storage-2'], settings: { remote_timeout: 60_000 } }], 'gw-c');
    const mqtt = pluginHandler(gateway, 'mqtt', 'operator', { ups: () => [], remote });
    const server = (name: string, state: string, dependencies: string[] = []) => ({ gateway: 'gw-a', name, state, serving: state === 'OK', power: state === 'OK' ? 'on' : 'off', reason: state, actionId: null, dependencies });
    const head = { connected: true, error: null, gateways: { 'gw-a': 'online' } };
    await mqtt('remote-state', { ...head, servers: [server('storage-1', 'OK'), server('storage-2', 'OK'), server('app-9', 'OK', ['gw-c:web-1'])] });
    expect(remote.dependents('web-1')).toEqual(['gw-a:app-9']);
    const changed: string[] = [];
    events.on('remote.changed', (e) => changed.push(`${e.server.ref} ${e.server.state}`));
    await mqtt('remote-state', { ...head, servers: [server('storage-2', 'OFF')], partial: true, removed: ['gw-a:app-9'] });
    expect(changed).toEqual(['gw-a:storage-2 OFF']);
    expect(remote.view('gw-a:storage-1').state).toBe('OK');
    expect(remote.view('gw-a:storage-2').state).toBe('OFF');
    expect(remote.dependents('web-1')).toEqual([]);
    // A server that starts depending on one here is its dependent from that change on.
    await mqtt('remote-state', { ...head, servers: [server('app-9', 'OK', ['gw-c:web-1'])], partial: true, removed: [] });
    expect(remote.dependents('web-1')).toEqual(['gw-a:app-9']);
    // A whole report replaces everything: what it lacks is gone.
    await mqtt('remote-state', { ...head, servers: [server('storage-1', 'OK')] });
    expect(remote.view('gw-a:storage-2')).toMatchObject({ state: 'UNKNOWN', reason: 'gateway gw-a publishes no server storage-2' });
    expect(remote.dependents('web-1')).toEqual([]);
    // Malformed: refused, nothing changes.
    await expect(mqtt('remote-state', { ...head, servers: [], partial: 'yes' })).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID' });
    await expect(mqtt('remote-state', { ...head, servers: [], partial: true, removed: ['storage-1'] })).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID', message: expect.stringMatching(/GATEWAY:SERVER/) as string });
    // A removal names a server as the list does: any name of up to 64 characters, after its gateway.
    await mqtt('remote-state', { ...head, servers: [server('Web 1', 'OK')], partial: true, removed: [] });
    await mqtt('remote-state', { ...head, servers: [], partial: true, removed: ['gw-a:Web 1'] });
    await expect(mqtt('remote-state', { ...head, servers: [], partial: true, removed: [`gw-a:${'x'.repeat(65)}`] })).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID' });
    await expect(mqtt('remote-state', { ...head, servers: [], removed: ['gw-a:storage-1'] })).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID', message: expect.stringMatching(/removed goes with partial/) as string });
    expect(remote.view('gw-a:storage-1').state).toBe('OK');
    // The plugin stopped: what it said is gone; changes from before are refused until it tells everything again.
    remote.lost('the mqtt plugin is backoff');
    await expect(mqtt('remote-state', { ...head, servers: [server('storage-2', 'OK')], partial: true, removed: [] })).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID', message: expect.stringMatching(/needs a whole one first/) as string });
    expect(remote.view('gw-a:storage-2')).toMatchObject({ state: 'UNKNOWN', reason: 'the mqtt plugin is backoff' });
    await mqtt('remote-state', { ...head, servers: [server('storage-1', 'OK'), server('storage-2', 'OK')] });
    expect(remote.view('gw-a:storage-2').state).toBe('OK');
  });

  it('refuses a method above the plugin’s role, before it runs', async () => {
    const { gateway, requests } = fakeGateway();
    const reader = pluginHandler(gateway, 'reader', 'viewer');
    expect(await reader('servers', {})).toHaveLength(1);
    await expect(reader('request-action', { kind: 'off', targets: ['web-1'] })).rejects.toMatchObject({
      code: 'OCKLE_AUTH_FORBIDDEN',
      message: 'plugin reader has role viewer; request-action needs operator',
      hint: expect.stringContaining("export const role = 'operator'"),
    });
    expect(() => callMethod(gateway, 'reader', 'viewer', 'request-action', { kind: 'bad' })).toThrow(expect.objectContaining({ code: 'OCKLE_AUTH_FORBIDDEN' })); // the role before the parameters
    expect(requests).toEqual([]);
    expect(await pluginHandler(gateway, 'admin-bot', 'admin')('request-action', { kind: 'off', targets: ['web-1'] })).toMatchObject({ origin: 'plugin:admin-bot' });
  });
});

describe('the in-process test context', () => {
  it('refuses what the daemon would: a method above the role, an unknown one, bad parameters', async () => {
    const t = testContext({ name: 'reader', role: 'viewer', call: async (m) => (m === 'servers' ? [{ name: 'web-1' }] : null) });
    expect(await t.ctx.call('servers')).toEqual([{ name: 'web-1' }]);
    await expect(t.ctx.call('request-action', { kind: 'off', targets: ['web-1'] })).rejects.toMatchObject({ code: 'OCKLE_AUTH_FORBIDDEN' });
    await expect((t.ctx as unknown as { call(m: string): Promise<unknown> }).call('nope')).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID' });
    await expect(t.ctx.call('server', { name: '' })).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID' });
    expect(t.calls.map((c) => c.method)).toEqual(['servers', 'request-action', 'nope', 'server']);
  });

  it('delivers typed events', () => {
    const t = testContext({});
    const got: string[] = [];
    t.ctx.on('device.unreachable', (e) => got.push(`${e.device}: ${e.message}`));
    t.emit('device.unreachable', { device: 'pdu-a', message: 'timeout' });
    expect(got).toEqual(['pdu-a: timeout']);
  });
});

describe('a worker plugin under the daemon’s bridge', () => {
  const hosts: PluginHost[] = [];
  afterEach(async () => {
    for (const h of hosts.splice(0)) await h.stop('test end');
  });

  it('is refused a call above its role and a name that is no event, and keeps running', async () => {
    const { gateway, requests } = fakeGateway();
    const logs: { msg: string; level: number; event?: string }[] = [];
    const h = new PluginHost({
      name: 'contract',
      module: join(REPO, 'test', 'fixtures', 'plugins', 'contract.mjs'),
      config: {},
      dataDir: '/nonexistent/plugin-data',
      log: pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as { msg: string; level: number }) }),
      handle: pluginHandler(gateway, 'contract', 'viewer'),
      subscribe: pluginSubscriber(gateway.events),
      heartbeatMs: 50,
      missedBeats: 6,
    });
    hosts.push(h);
    h.start();
    const t0 = Date.now();
    while (!(h.state === 'running' && h.bugs === 1 && gateway.events.listenerCount() === 1) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    expect(h.state).toBe('running');
    expect(h.bugs).toBe(1);
    expect(logs.find((l) => l.event === 'server.chnaged')).toMatchObject({ level: 40, msg: 'plugin contract subscribed to "server.chnaged", refused (its bug; it keeps running)' });
    expect(await h.invoke('contract.try', { method: 'servers' })).toMatchObject({ ok: true, result: [{ name: 'web-1' }] });
    expect(await h.invoke('contract.try', { method: 'request-action', params: { kind: 'off', targets: ['web-1'] } })).toEqual({
      ok: false,
      code: 'OCKLE_AUTH_FORBIDDEN',
      message: 'plugin contract has role viewer; request-action needs operator',
    });
    expect(requests).toEqual([]);
    gateway.events.emit('server.changed', { server: 'web-1', state: 'OFF', previous: 'OK', reason: 'test' });
    const t1 = Date.now();
    while (!logs.some((l) => l.msg === 'server changed') && Date.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 10));
    expect(logs.find((l) => l.msg === 'server changed')).toMatchObject({ server: 'web-1' });
  });
});

describe('the bundled plugins', () => {
  it('declare the least role they need: the worker plugins only read, but mqtt, which switches for the MQTT users its roles authorise', () => {
    expect(Object.fromEntries([...workerPlugins].map(([n, w]) => [n, w.role]))).toEqual({ logger: 'viewer', metrics: 'viewer', mqtt: 'operator', 'timer-example': 'viewer' });
    expect(manifests.find((m) => m.name === 'auto-control')?.role).toBeUndefined(); // main thread: no ctx.call
  });
});

describe('docs/plugins.md', () => {
  const doc = readFileSync(join(REPO, 'docs', 'plugins.md'), 'utf8');
  /** The rows of the table whose header is `header`, each a list of its cells. */
  const table = (header: string): string[][] => {
    const at = doc.indexOf(`${header}\n`);
    expect(at, header).toBeGreaterThanOrEqual(0);
    const lines = doc.slice(at).split('\n').slice(2);
    return lines.slice(0, lines.findIndex((l) => !l.startsWith('|'))).map((l) => l.slice(1, -1).split(' | ').map((c) => c.trim()));
  };
  it('lists the table’s methods with their role, parameters and result', () => {
    expect(table('| Method | Role | Params | Result |')).toEqual(METHOD_NAMES.map((m) => [`\`${m}\``, METHODS[m].role, METHODS[m].params, METHODS[m].result]));
  });
  it('lists the table’s events with what each says', () => {
    expect(table('| Event | What it says |')).toEqual(EVENT_NAMES.map((e) => [`\`${e}\``, EVENTS[e]]));
  });
});
