/**
 * The mqtt plugin in the real daemon against Debian's mosquitto (test/support/mosquitto.ts),
 * with mosquitto_pub and mosquitto_sub as independent clients:
 * - retained state out (availability, servers, outlets, devices) and Home Assistant discovery;
 *   a change published once, when it happens;
 * - commands in: MQTT v5 response topic and correlation data, the v3.1.1 reply topic, the
 *   Home Assistant switch on the shared topic, an outlet; journaled as mqtt:USER, writes counted
 *   at the simulated PDU;
 * - bad input refused with a reply, nothing switched: malformed JSON, unknown server, a viewer,
 *   a user without a role, a 1 MB payload; a command left retained is never run;
 * - a server removed from the configuration is removed from the broker and from Home Assistant;
 * - the broker stopped and started: the status says so, and the state is resynchronised;
 * - the gateway SIGKILLed: its will says offline;
 * - mqtts:// with the test CA connects; with another CA it is refused, and the status says why.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import type { PluginStatus } from '../../src/api/server.js';
import type { DeviceStatus, ServerStatus } from '../../src/core/model.js';
import { main } from '../../src/cli/commands.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { testContext } from '../../src/plugin-host/testing.js';
import * as plugin from '../../plugins/mqtt/plugin.js';
import { REPO } from '../support/demo.js';
import { makeLab, type Lab } from '../support/lab.js';
import { MQTT_USERS, startMosquitto, type Mosquitto, type Received } from '../support/mosquitto.js';
import { describePeer } from '../support/peers.js';
import { checkDiscovery } from '../support/ha-discovery-schema.js';

const until = async (cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> => {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};
const json = (m: Received): Record<string, unknown> => JSON.parse(m.payload) as Record<string, unknown>;

/** The [plugins.mqtt] section of a gateway on `broker`'s password listener. */
const mqttIni = (broker: Mosquitto, gateway: string, user: 'gw' | 'gw-b' | 'gw-c', extra = ''): string =>
  `\n[plugins.mqtt]\nbroker = mqtt://127.0.0.1:${broker.ports.auth}\ngateway = ${gateway}\nusername = ${user}\npassword = ${MQTT_USERS[user]}\n` +
  `roles = alice=operator, homeassistant=operator, mallory=viewer\nshared_topic_user = homeassistant\nreconnect_min = 100ms\nreconnect_max = 1s\nkeepalive = 5s\n${extra}`;

async function mqttLab(broker: Mosquitto, gateway: string, user: 'gw' | 'gw-b' | 'gw-c', extra = ''): Promise<Lab> {
  const lab = await makeLab({ 'storage-1': {}, 'web-1': { deps: ['storage-1'] }, spare: {} });
  const ini = join(lab.configDir, 'ockle.ini');
  const text = (await readFile(ini, 'utf8')).replace('enabled = auto-control', 'enabled = auto-control, mqtt');
  await writeFile(ini, text + mqttIni(broker, gateway, user, extra));
  // A simulated UPS (docs/ups.md) whose policy would act only after an hour on battery.
  await mkdir(join(lab.configDir, 'ups'));
  await writeFile(join(lab.configDir, 'ups', 'rack-ups.ini'), '[ups]\ntype = sim\npoll_interval = 200ms\n\n[policy]\non_battery_delay = 1h\nrestore = false\n');
  return lab;
}

describePeer('mqtt plugin against Debian mosquitto', ['mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', 'openssl'], () => {
  let broker: Mosquitto;
  let lab: Lab;
  let daemon: Daemon;
  const status = (): PluginStatus['status'] => daemon.plugins().find((p) => p.name === 'mqtt')?.status;
  const writes = (): number => daemon.shared<SimWorld>('sim-world')!.writes('pdu-1').count;
  const actions = () => daemon.gateway.actions({ limit: 100 });
  /** Everything the daemon logs, the plugin's lines included. */
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });

  beforeAll(async () => {
    broker = await startMosquitto();
    lab = await mqttLab(broker, 'gw-a', 'gw');
    daemon = await Daemon.start({ configDir: lab.configDir, log });
    await until(() => status()?.connection === 'connected' && status()?.lastResyncMs !== null, 'the plugin connected and resynchronised');
  }, 60_000);
  afterAll(async () => {
    await daemon?.stop();
    await lab?.cleanup();
    await broker?.close();
  });

  it('publishes availability and every server, outlet and device state retained, and says so in /api/plugins', async () => {
    const sub = await broker.sub({ topics: ['ockle/gw-a/#'], user: 'alice' });
    const online = await sub.next((m) => m.topic === 'ockle/gw-a/availability');
    expect(online).toMatchObject({ payload: 'online', retained: true });
    const web = json(await sub.next((m) => m.topic === 'ockle/gw-a/server/web-1/state'));
    expect(web).toMatchObject({ state: 'OFF', serving: false, power: 'off', dependencies: ['storage-1'], outlets: [{ device: 'pdu-1', outlet: 2, power: 'off' }] });
    const outlet = json(await sub.next((m) => m.topic === 'ockle/gw-a/outlet/pdu-1/2/state'));
    expect(outlet).toMatchObject({ power: 'off', server: 'web-1' });
    const device = json(await sub.next((m) => m.topic === 'ockle/gw-a/device/pdu-1/state'));
    expect(device).toMatchObject({ reachable: true, error: null });
    await sub.close();
    expect(status()).toMatchObject({ connection: 'connected', broker: `mqtt://127.0.0.1:${broker.ports.auth}`, gateway: 'gw-a', lastError: null });
    expect(JSON.stringify(daemon.plugins())).not.toContain(MQTT_USERS.gw);
  });

  it('announces servers, outlets and meters to Home Assistant with payloads its schema accepts', async () => {
    const sub = await broker.sub({ topics: ['homeassistant/#'], user: 'homeassistant' });
    await sub.next((m) => m.topic === 'homeassistant/switch/ockle_gw-a/server_web-1/config');
    await sub.next((m) => /outlet_1_energy\/config$/.test(m.topic), { what: 'a metered outlet' });
    const configs = sub.messages.filter((m) => m.payload !== '');
    const components = new Set(configs.map((m) => m.topic.split('/')[1]));
    expect([...components].sort()).toEqual(['binary_sensor', 'sensor', 'switch']);
    for (const m of configs) expect(checkDiscovery(m.topic, json(m)), m.topic).toEqual([]);
    const serving = json(configs.find((m) => m.topic.endsWith('/server_web-1_serving/config'))!);
    expect(serving).toMatchObject({ device_class: 'running', state_topic: 'ockle/gw-a/server/web-1/state', availability: [{ topic: 'ockle/gw-a/availability' }] });
    await sub.close();
  });

  it('runs a v5 command, replies on its response topic with its correlation data, and journals mqtt:alice', async () => {
    const replies = await broker.sub({ topics: ['ockle/gw-a/user/alice/r1/reply'], user: 'alice' });
    const states = await broker.sub({ topics: ['ockle/gw-a/server/storage-1/state'], user: 'alice', retained: false });
    const w0 = writes();
    const sent = await broker.pub({ topic: 'ockle/gw-a/user/alice/server/storage-1/set', message: JSON.stringify({ action: 'on', reason: 'disk check', request_id: 'r-1' }), user: 'alice', responseTopic: 'ockle/gw-a/user/alice/r1/reply', correlation: 'corr-42' });
    expect(sent.code).toBe(0);
    const accepted = await replies.next(() => true);
    expect(accepted.correlation).toBe('corr-42');
    expect(json(accepted)).toMatchObject({ ok: true, status: 'accepted', request_id: 'r-1' });
    const finished = await replies.next((m) => json(m).status !== 'accepted');
    expect(json(finished)).toMatchObject({ ok: true, status: 'ok', request_id: 'r-1', action_id: json(accepted).action_id });
    expect(finished.correlation).toBe('corr-42');
    const a = daemon.gateway.action(String(json(accepted).action_id));
    expect(a).toMatchObject({ origin: 'mqtt:alice', reason: 'disk check', kind: 'on', targets: ['storage-1'] });
    expect(writes() - w0).toBe(1);
    await states.next((m) => json(m).state === 'OK', { what: 'storage-1 OK' });
    // On change only: every state message differs from the one before it.
    const payloads = states.messages.map((m) => m.payload);
    expect(payloads.length).toBeGreaterThan(0);
    payloads.forEach((p, i) => i > 0 && expect(p).not.toBe(payloads[i - 1]));
    await replies.close();
    await states.close();
  });

  it('answers a 3.1.1 command on the fallback reply topic', async () => {
    const replies = await broker.sub({ topics: ['ockle/gw-a/user/alice/server/spare/reply'], user: 'alice', v5: false });
    const before = actions().length;
    await broker.pub({ topic: 'ockle/gw-a/user/alice/server/spare/set', message: 'on', user: 'alice', v5: false });
    const r = json(await replies.next(() => true));
    expect(r).toMatchObject({ ok: true, status: 'accepted', request_id: null });
    expect(actions().length).toBe(before + 1);
    expect(actions()[0]).toMatchObject({ origin: 'mqtt:alice', targets: ['spare'], reason: 'MQTT ockle/gw-a/user/alice/server/spare/set' });
    await replies.close();
  });

  it('turns a server on from the Home Assistant switch (ON on the shared topic), journaled as mqtt:homeassistant', async () => {
    const replies = await broker.sub({ topics: ['ockle/gw-a/server/web-1/reply'], user: 'alice' });
    await broker.pub({ topic: 'ockle/gw-a/server/web-1/set', message: 'ON', user: 'homeassistant' });
    const r = json(await replies.next((m) => json(m).status === 'ok', { what: 'web-1 on finished' }));
    expect(daemon.gateway.action(String(r.action_id))).toMatchObject({ origin: 'mqtt:homeassistant', kind: 'on', targets: ['web-1'], status: 'ok' });
    expect(daemon.gateway.server('web-1').state).toBe('OK');
    await replies.close();
  });

  it('switches one outlet from its outlet topic (forced), one write', async () => {
    const replies = await broker.sub({ topics: ['ockle/gw-a/user/alice/outlet/pdu-1/3/reply'], user: 'alice' });
    const w0 = writes();
    await broker.pub({ topic: 'ockle/gw-a/user/alice/outlet/pdu-1/3/set', message: '{"action":"off","request_id":"o-1"}', user: 'alice' });
    const r = json(await replies.next((m) => json(m).status === 'ok', { what: 'outlet off finished' }));
    expect(daemon.gateway.action(String(r.action_id))).toMatchObject({ origin: 'mqtt:alice', kind: 'off', outlets: [{ device: 'pdu-1', outlet: 3 }] });
    expect(writes() - w0).toBe(1);
    await replies.close();
  });

  it('refuses bad input with a reply and switches nothing: malformed JSON, unknown server, 1 MB, a viewer, a user without a role; the broker drops a spoofed topic', async () => {
    const replies = await broker.sub({ topics: ['ockle/gw-a/user/+/server/+/reply'], user: 'alice' });
    const mine = await broker.sub({ topics: ['ockle/gw-a/user/mallory/#'], user: 'mallory' });
    const w0 = writes();
    const a0 = actions().length;
    const big = join(broker.dir, 'big.json');
    await writeFile(big, JSON.stringify({ action: 'on', reason: 'x'.repeat(1024 * 1024) }));
    const cases: [string, Promise<unknown>, string, RegExp][] = [
      ['malformed', broker.pub({ topic: 'ockle/gw-a/user/alice/server/web-1/set', message: '{"action": "off",', user: 'alice' }), 'ockle/gw-a/user/alice/server/web-1/reply', /not valid JSON/],
      ['unknown server', broker.pub({ topic: 'ockle/gw-a/user/alice/server/nope-9/set', message: 'off', user: 'alice' }), 'ockle/gw-a/user/alice/server/nope-9/reply', /nope-9/],
      ['1 MB', broker.pub({ topic: 'ockle/gw-a/user/alice/server/storage-1/set', file: big, user: 'alice' }), 'ockle/gw-a/user/alice/server/storage-1/reply', /at most 4096/],
    ];
    for (const [what, sent, topic, message] of cases) {
      await sent;
      const r = json(await replies.next((m) => m.topic === topic && json(m).ok === false, { what }));
      expect(r, what).toMatchObject({ ok: false, status: 'refused', error: { message: expect.stringMatching(message) as string } });
    }
    await broker.pub({ topic: 'ockle/gw-a/user/mallory/server/web-1/set', message: 'off', user: 'mallory' });
    const denied = json(await mine.next((m) => m.topic === 'ockle/gw-a/user/mallory/server/web-1/reply'));
    expect(denied).toMatchObject({ ok: false, error: { code: 'OCKLE_AUTH_FORBIDDEN', message: expect.stringMatching(/mallory has role viewer/) as string } });
    // Someone else's topic: the broker's ACL drops it before the gateway sees it.
    const spoof = await broker.pub({ topic: 'ockle/gw-a/user/alice/server/web-1/set', message: 'off', user: 'mallory' });
    expect(spoof.stderr).toMatch(/not authori[sz]ed/i);
    await broker.pub({ topic: 'ockle/gw-a/user/gw-c/server/web-1/set', message: 'off', user: 'gw-c' });
    const nobody = json(await replies.next((m) => m.topic === 'ockle/gw-a/user/gw-c/server/web-1/reply'));
    expect(nobody).toMatchObject({ ok: false, error: { code: 'OCKLE_AUTH_FORBIDDEN', message: expect.stringMatching(/gw-c has no role/) as string } });
    expect(writes()).toBe(w0);
    expect(actions().length).toBe(a0);
    await replies.close();
    await mine.close();
  });

  it('publishes the UPS (retained, numbers) with its Home Assistant sensors, and follows a drill onto battery', async () => {
    const sub = await broker.sub({ topics: ['ockle/gw-a/ups/+/state', 'homeassistant/+/ockle_gw-a/+/config'], user: 'homeassistant' });
    const state = json(await sub.next((m) => m.topic === 'ockle/gw-a/ups/rack-ups/state'));
    expect(state).toMatchObject({ power: 'mains', on_battery: false, low_battery: false });
    expect(typeof state.charge_pct).toBe('number');
    const charge = await sub.next((m) => m.topic === 'homeassistant/sensor/ockle_gw-a/ups_rack-ups_charge/config');
    expect(checkDiscovery(charge.topic, json(charge))).toEqual([]);
    expect(json(charge)).toMatchObject({ device_class: 'battery', unit_of_measurement: '%', state_topic: 'ockle/gw-a/ups/rack-ups/state' });
    // A drill: the mains fails (the policy waits an hour before it acts).
    const from = sub.messages.length;
    let out = '';
    const io = { stdout: { write: (x: string) => (out += x) }, stderr: { write: (x: string) => (out += x) }, env: {}, cwd: lab.configDir };
    expect(await main(['ups', 'simulate', 'rack-ups', 'battery', '--config', lab.configDir], io), out).toBe(0);
    await sub.next((m) => m.topic === 'ockle/gw-a/ups/rack-ups/state' && json(m).on_battery === true, { from, what: 'on battery' });
    expect(await main(['ups', 'simulate', 'rack-ups', 'mains', '--config', lab.configDir], io), out).toBe(0);
    await sub.next((m) => m.topic === 'ockle/gw-a/ups/rack-ups/state' && json(m).power === 'mains', { from, what: 'mains again' });
    await sub.close();
  });

  it('removes a server and a UPS taken out of the configuration from the broker and from Home Assistant', async () => {
    const ha = await broker.sub({ topics: ['homeassistant/+/ockle_gw-a/+/config', 'ockle/gw-a/server/spare/state', 'ockle/gw-a/ups/rack-ups/state'], user: 'homeassistant' });
    await ha.next((m) => m.topic === 'homeassistant/switch/ockle_gw-a/server_spare/config');
    const from = ha.messages.length;
    await rm(join(lab.configDir, 'servers', 'spare.ini'));
    await rm(join(lab.configDir, 'ups', 'rack-ups.ini'));
    expect(await daemon.reload()).toBe(true);
    for (const t of ['homeassistant/switch/ockle_gw-a/server_spare/config', 'homeassistant/binary_sensor/ockle_gw-a/server_spare_serving/config', 'ockle/gw-a/server/spare/state', 'ockle/gw-a/ups/rack-ups/state', 'homeassistant/sensor/ockle_gw-a/ups_rack-ups_charge/config'])
      await ha.next((m) => m.topic === t && m.payload === '', { from, what: `removal of ${t}` });
    await ha.close();
    // A new subscriber finds nothing retained for it.
    const fresh = await broker.sub({ topics: ['ockle/gw-a/server/+/state'], user: 'alice' });
    await fresh.next((m) => m.topic === 'ockle/gw-a/server/web-1/state');
    expect(fresh.messages.map((m) => m.topic)).not.toContain('ockle/gw-a/server/spare/state');
    await fresh.close();
  });

  it('says when the broker is gone, and resynchronises what changed meanwhile when it is back', async () => {
    const connects = Number(status()?.connects);
    await broker.stop();
    await until(() => status()?.connection === 'reconnecting' && status()?.lastError !== null, 'status reconnecting with an error');
    // A change while the broker is away: storage-1's outlet switched off by the API face.
    const a = daemon.gateway.request({ kind: 'off', targets: [], outlets: [{ device: 'pdu-1', outlet: 3 }], force: true, origin: 'api:test', reason: 'while offline' });
    await until(() => daemon.gateway.action(a.id).status !== 'running', 'the outlet action finished');
    await broker.start();
    await until(() => Number(status()?.connects) === connects + 1 && status()?.lastResyncMs !== null && status()?.connection === 'connected', 'reconnected');
    const sub = await broker.sub({ topics: ['ockle/gw-a/outlet/pdu-1/3/state', 'ockle/gw-a/availability'], user: 'alice' });
    await sub.next((m) => m.topic === 'ockle/gw-a/availability' && m.payload === 'online');
    await sub.next((m) => m.topic.endsWith('/3/state') && json(m).power === 'off', { what: 'outlet 3 off after the resync' });
    await sub.close();
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) }, env: {}, cwd: lab.configDir };
    expect(await main(['mqtt', 'status', '--config', lab.configDir], io)).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ connection: 'connected', gateway: 'gw-a', connects: connects + 1 });
    expect(out).not.toContain(MQTT_USERS.gw);
  });

  it('drops a command queued for the gateway while its daemon was stopped: a start switches nothing', async () => {
    await daemon.stop();
    // QoS 1 to the stopped gateway's persistent session: the broker queues it.
    await broker.pub({ topic: 'ockle/gw-a/user/alice/server/web-1/set', message: 'off', user: 'alice', qos: 1 });
    const replies = await broker.sub({ topics: ['ockle/gw-a/user/alice/server/+/reply'], user: 'alice' });
    daemon = await Daemon.start({ configDir: lab.configDir, log });
    await until(() => status()?.connection === 'connected' && typeof status()?.lastResyncMs === 'number', 'reconnected after the restart');
    const w0 = writes();
    const a0 = actions().length;
    // A fresh command: a queued one would have been delivered before it.
    await broker.pub({ topic: 'ockle/gw-a/user/alice/server/storage-1/set', message: '{"action":"bogus"}', user: 'alice' });
    await replies.next((m) => m.topic.endsWith('/storage-1/reply'));
    expect(replies.messages.filter((m) => m.topic.endsWith('/web-1/reply'))).toEqual([]);
    expect(writes()).toBe(w0);
    expect(actions().length).toBe(a0);
    expect(daemon.gateway.server('web-1').state).toBe('OK');
    await replies.close();
  }, 30_000);

  it('never logs the MQTT password (its refusals and reconnections are logged)', () => {
    const text = lines.join('');
    expect(text).toMatch(/MQTT command refused/);
    expect(text).toMatch(/lost the MQTT broker/);
    expect(text).not.toContain(MQTT_USERS.gw);
  });

  it('refuses a command left retained on the broker, and publishes the will (offline, retained) when the gateway is SIGKILLed', async () => {
    const lab2 = await mqttLab(broker, 'gw-b', 'gw-b');
    const sub = await broker.sub({ topics: ['ockle/gw-b/availability'], user: 'alice' });
    const everything = await broker.sub({ topics: ['ockle/gw-b/server/+/state', 'ockle/gw-b/availability'], user: 'alice' });
    // A command someone left retained reaches gw-b when it subscribes: refused, never run.
    const replies = await broker.sub({ topics: ['ockle/gw-b/user/alice/server/web-1/reply'], user: 'alice' });
    await broker.pub({ topic: 'ockle/gw-b/user/alice/server/web-1/set', message: 'on', user: 'alice', retain: true });
    const child = spawn(process.execPath, [join(REPO, 'dist', 'src', 'cli', 'main.js'), 'daemon', '--config', lab2.configDir], { stdio: 'ignore' });
    try {
      await sub.next((m) => m.payload === 'online', { timeoutMs: 30_000, what: 'gw-b online' });
      // Online comes after every server's state: a reader that sees online can trust them.
      await everything.next((m) => m.payload === 'online');
      const seen = everything.messages.map((m) => m.topic);
      const online = everything.messages.findIndex((m) => m.payload === 'online');
      expect(new Set(seen.slice(0, online).filter((t) => t.includes('/server/')))).toEqual(new Set(['storage-1', 'web-1', 'spare'].map((n) => `ockle/gw-b/server/${n}/state`)));
      await everything.close();
      expect(json(await replies.next(() => true))).toMatchObject({ ok: false, status: 'refused', error: { message: expect.stringMatching(/retained command .* is never run/) as string } });
      await broker.pub({ topic: 'ockle/gw-b/user/alice/server/web-1/set', message: '', user: 'alice', retain: true });
      await replies.close();
      const from = sub.messages.length;
      child.kill('SIGKILL');
      const off = await sub.next((m) => m.payload === 'offline', { from, what: 'gw-b offline (its will)' });
      expect(off.payload).toBe('offline');
      const late = await broker.sub({ topics: ['ockle/gw-b/availability'], user: 'alice' });
      expect(await late.next(() => true)).toMatchObject({ payload: 'offline', retained: true });
      await late.close();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await sub.close();
      await lab2.cleanup();
    }
  }, 60_000);
});

describePeer('mqtt plugin over TLS (mosquitto with a test CA)', ['mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', 'openssl'], () => {
  let broker: Mosquitto;
  beforeAll(async () => {
    broker = await startMosquitto();
  }, 60_000);
  afterAll(async () => {
    await broker?.close();
  });
  const settings = (ca: string) => ({
    broker: `mqtts://127.0.0.1:${broker.ports.tls}`,
    gateway: 'gw-tls',
    prefix: 'ockle',
    username: 'gw',
    password: MQTT_USERS.gw,
    client_id: '',
    protocol: '5',
    keepalive: 5000,
    reconnect_min: 100,
    reconnect_max: 1000,
    ca_file: ca,
    cert_file: '',
    key_file: '',
    roles: [],
    shared_topic_user: '',
    max_payload: 4096,
    homeassistant: false,
    homeassistant_prefix: 'homeassistant',
    outlet_switches: true,
  });
  const answer = async (m: string): Promise<unknown> => (m === 'servers' || m === 'devices' || m === 'ups' ? [] : null);

  it('connects with mqtts:// and the CA that signed the broker, and publishes over it', async () => {
    const sub = await broker.sub({ topics: ['ockle/gw-tls/availability'], user: 'alice' });
    const t = testContext({ name: 'mqtt', config: settings(broker.caFile), call: answer });
    await plugin.start(t.ctx);
    try {
      await sub.next((m) => m.payload === 'online', { what: 'online over TLS' });
      await until(() => t.status()?.connection === 'connected', 'status connected');
      expect(t.status()).toMatchObject({ lastError: null, broker: `mqtts://127.0.0.1:${broker.ports.tls}` });
    } finally {
      await plugin.stop();
      await sub.close();
    }
  });

  it('refuses a broker whose certificate another CA signed, and says why in its status', async () => {
    const t = testContext({ name: 'mqtt', config: settings(broker.otherCaFile), call: answer });
    await plugin.start(t.ctx);
    try {
      await until(() => typeof t.status()?.lastError === 'string', 'a TLS error in the status');
      expect(t.status()).toMatchObject({ connection: expect.not.stringMatching(/^connected$/) as string, lastError: expect.stringMatching(/certificate|self.signed|verify/i) as string });
      expect(JSON.stringify(t.status())).not.toContain(MQTT_USERS.gw);
    } finally {
      await plugin.stop();
    }
  });
});

describePeer('mqtt plugin state order (in-process, against mosquitto)', ['mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', 'openssl'], () => {
  let broker: Mosquitto;
  beforeAll(async () => {
    broker = await startMosquitto();
  }, 60_000);
  afterAll(async () => {
    await broker?.close();
  });

  it('never publishes a re-read older than an event it already published (no flap back)', async () => {
    const lab = { power: 'off' as 'on' | 'off', reachable: true };
    const server = (): ServerStatus => ({ name: 'web-1', description: '', host: null, state: lab.power === 'on' ? 'FORCED_ON' : 'OFF', reason: '', outlets: [{ name: 'psu', device: 'pdu-1', outlet: 1, power: lab.power, readBack: 'real' }], controls: [], tests: [], dependencies: [], dependents: [], remoteDependencies: [], remoteDependents: [], actionId: null, paused: null });
    const device = (): DeviceStatus => ({ id: 'pdu-1', type: 'sim', description: '', reachable: lab.reachable, error: null, readBack: 'real', outletCount: 1, outlets: [{ outlet: 1, power: lab.power, name: null, boundTo: 'web-1/psu', reading: null }], model: null, firmware: null, details: {}, lastPollAt: null, lastPollMs: null });
    // The daemon's answers: a snapshot taken when asked, handed over when the test opens the gate.
    let gate: Promise<void> = Promise.resolve();
    const t = testContext({
      name: 'mqtt',
      config: { broker: `mqtt://127.0.0.1:${broker.ports.anon}`, gateway: 'gw-o', prefix: 'ockle', username: '', client_id: '', protocol: '5', keepalive: 30_000, reconnect_min: 100, reconnect_max: 1000, ca_file: '', cert_file: '', key_file: '', roles: [], shared_topic_user: '', max_payload: 4096, homeassistant: false, homeassistant_prefix: 'homeassistant', outlet_switches: true },
      call: async (m) => {
        const snapshot = m === 'servers' ? [server()] : m === 'devices' ? [device()] : [];
        await gate;
        return snapshot;
      },
    });
    await plugin.start(t.ctx);
    try {
      await until(() => typeof t.status()?.lastResyncMs === 'number', 'resynchronised');
      const sub = await broker.sub({ topics: ['ockle/gw-o/outlet/pdu-1/1/state', 'ockle/gw-o/device/pdu-1/state'], retained: false });
      // 1. A re-read starts and takes its snapshot (outlet off), held at the gate.
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      const asked = t.calls.length;
      t.emit('action.started', { action: { id: 'a1', kind: 'on', targets: [], force: true, origin: 'api:test', reason: '', requestedAt: new Date().toISOString(), status: 'running', steps: [] } });
      await until(() => t.calls.length >= asked + 2, 'the re-read asked');
      // 2. The outlet comes on: the event goes out at once.
      lab.power = 'on';
      t.emit('outlet.changed', { device: 'pdu-1', outlet: 1, power: 'on', previous: 'off' });
      await sub.next((m) => m.topic.endsWith('/1/state') && json(m).power === 'on');
      // 3. The old snapshot arrives; then a later change, published after whatever it caused.
      gate = Promise.resolve();
      open();
      await until(() => t.calls.length >= asked + 4, 'read again');
      lab.reachable = false;
      t.emit('device.unreachable', { device: 'pdu-1', message: 'test' });
      await sub.next((m) => m.topic.endsWith('/device/pdu-1/state') && json(m).reachable === false);
      expect(sub.messages.filter((m) => m.topic.endsWith('/1/state')).map((m) => json(m).power)).toEqual(['on']);
      await sub.close();
    } finally {
      await plugin.stop();
    }
  });
  /** A lab of `n` servers, one outlet each on PDUs of 50 metered outlets, as the daemon would answer for it. */
  const bigLab = (n: number, gateway: string, protocol = '5') => {
    const power = new Map<number, 'on' | 'off'>(Array.from({ length: n }, (_, i) => [i + 1, 'off']));
    const dev = (k: number): string => `pdu-${Math.floor((k - 1) / 50) + 1}`;
    const slot = (k: number): number => ((k - 1) % 50) + 1;
    const servers = (): ServerStatus[] =>
      Array.from({ length: n }, (_, i) => ({ name: `s${i + 1}`, description: '', host: null, state: power.get(i + 1) === 'on' ? 'FORCED_ON' : 'OFF', reason: '', outlets: [{ name: 'psu', device: dev(i + 1), outlet: slot(i + 1), power: power.get(i + 1)!, readBack: 'real' }], controls: [], tests: [], dependencies: [], dependents: [], remoteDependencies: [], remoteDependents: [], actionId: null, paused: null }));
    const devices = (): DeviceStatus[] =>
      Array.from({ length: Math.ceil(n / 50) }, (_, d) => ({ id: `pdu-${d + 1}`, type: 'sim', description: '', reachable: true, error: null, readBack: 'real', outletCount: 50, outlets: Array.from({ length: Math.min(50, n - d * 50) }, (_, o) => ({ outlet: o + 1, power: power.get(d * 50 + o + 1)!, name: null, boundTo: `s${d * 50 + o + 1}/psu`, reading: { watts: 10 } })), model: null, firmware: null, details: {}, lastPollAt: null, lastPollMs: null }));
    const t = testContext({
      name: 'mqtt',
      config: { broker: `mqtt://127.0.0.1:${broker.ports.anon}`, gateway, prefix: 'ockle', username: '', client_id: '', protocol, keepalive: 30_000, reconnect_min: 100, reconnect_max: 1000, ca_file: '', cert_file: '', key_file: '', roles: [], shared_topic_user: '', max_payload: 4096, homeassistant: true, homeassistant_prefix: 'homeassistant', outlet_switches: true },
      call: async (m) => (m === 'servers' ? servers() : m === 'devices' ? devices() : []),
    });
    return { t, power, dev, slot };
  };

  it.each(['5', '4'])('resynchronises a lab whose retained messages outnumber what the broker queues for one client (MQTT protocol level %s)', async (protocol) => {
    // 400 servers with Home Assistant: ~2000 retained messages, twice mosquitto's default
    // max_queued_messages (1000). The inventory at a (re)connect must end with its marker.
    const { t } = bigLab(400, `gw-many${protocol}`, protocol);
    await plugin.start(t.ctx);
    try {
      await until(() => typeof t.status()?.lastResyncMs === 'number', 'resynchronised the first time');
      const ha = await broker.sub({ topics: [`homeassistant/+/ockle_gw-many${protocol}/+/config`], qos: 0 });
      await until(() => ha.messages.length >= 1000, 'Home Assistant configs retained');
      await ha.close();
    } finally {
      await plugin.stop();
    }
    // A new connection (as after a broker restart) with the last 50 servers taken out of the
    // configuration: everything the broker holds is taken stock of, and theirs cleared.
    const again = bigLab(350, `gw-many${protocol}`, protocol);
    await plugin.start(again.t.ctx);
    try {
      await until(() => typeof again.t.status()?.lastResyncMs === 'number' || again.t.status()?.lastError != null, 'the resync ended', 30_000);
      expect(again.t.status()?.lastError ?? null).toBeNull();
      const left = await broker.sub({ topics: [`ockle/gw-many${protocol}/server/+/state`, `homeassistant/+/ockle_gw-many${protocol}/+/config`], qos: 0 });
      const names = new Set(left.messages.map((m) => /server\/(s\d+)\/state$|server_(s\d+)(?:_serving)?\/config$/.exec(m.topic)).filter((m) => m !== null).map((m) => m[1] ?? m[2]));
      await left.close();
      expect(names.size).toBe(350);
      expect([...names].filter((n) => Number(n!.slice(1)) > 350)).toEqual([]);
    } finally {
      await plugin.stop();
    }
  }, 60_000);

  it('follows a gateway of more servers than the broker queues for one client at QoS 1, every one of them', async () => {
    // gw-far: 1500 servers' retained states (another gateway, published here by an MQTT client).
    const far = await connectAsync(`mqtt://127.0.0.1:${broker.ports.anon}`, { protocolVersion: 5 });
    const N = 1500;
    await Promise.all(Array.from({ length: N }, (_, i) => far.publishAsync(`ockle/gw-far/server/r${i + 1}/state`, JSON.stringify({ state: 'OK', reason: '', serving: true, power: 'on', dependencies: [] }), { qos: 1, retain: true })));
    await far.publishAsync('ockle/gw-far/availability', 'online', { qos: 1, retain: true });
    await far.endAsync();
    const { t } = bigLab(5, 'gw-near');
    const follower = testContext({ name: 'mqtt', config: { ...t.ctx.config, follow: ['gw-far'], homeassistant: false }, call: async (m) => (m === 'remote-state' ? null : []) });
    await plugin.start(follower.ctx);
    try {
      type Report = { servers: { gateway: string; name: string; state: string }[]; partial?: boolean; removed?: string[] };
      const reports = (): Report[] => follower.calls.filter((c) => c.method === 'remote-state').map((c) => c.params as Report);
      // What the daemon holds: each report applied in order, as RemoteLab applies them.
      const told = (): Map<string, string> => {
        const m = new Map<string, string>();
        for (const r of reports()) {
          if (!r.partial) m.clear();
          for (const ref of r.removed ?? []) m.delete(ref);
          for (const sv of r.servers) m.set(`${sv.gateway}:${sv.name}`, sv.state);
        }
        return m;
      };
      await until(() => told().size >= N, `the daemon told of all ${N} servers of gw-far`, 30_000).catch(() => undefined);
      expect([...told()].filter(([ref, state]) => ref.startsWith('gw-far:') && state === 'OK')).toHaveLength(N);
      // One of them changes, one is removed: the daemon is told just those two, not 1500 again.
      const sent = reports().length;
      const again = await connectAsync(`mqtt://127.0.0.1:${broker.ports.anon}`, { protocolVersion: 5 });
      await again.publishAsync('ockle/gw-far/server/r7/state', JSON.stringify({ state: 'OFF', reason: 'maintenance', serving: false, power: 'off', dependencies: [] }), { qos: 1, retain: true });
      await again.publishAsync('ockle/gw-far/server/r8/state', '', { qos: 1, retain: true });
      // A name longer than the daemon takes is left out, not sent to make the whole report refused.
      await again.publishAsync(`ockle/gw-far/server/${'x'.repeat(65)}/state`, JSON.stringify({ state: 'OK', reason: '', serving: true, power: 'on', dependencies: [] }), { qos: 1 });
      await again.endAsync();
      await until(() => told().get('gw-far:r7') === 'OFF' && !told().has('gw-far:r8'), 'the change and the removal told');
      const last = reports().slice(sent);
      expect(last.every((r) => r.partial === true)).toBe(true);
      expect(last.flatMap((r) => r.servers.map((sv) => sv.name))).toEqual(['r7']);
      expect(last.flatMap((r) => r.removed ?? [])).toEqual(['gw-far:r8']);
      expect(told().size).toBe(N - 1);
      expect([...told().keys()].some((ref) => ref.includes('xxxxx'))).toBe(false);
    } finally {
      await plugin.stop();
    }
  }, 60_000);

  it('resynchronises while events keep coming, with one read of the lab, and never publishes an older state than an event did', async () => {
    // A (re)connect in the middle of a lab-wide sequence: events stream in all the time the
    // lab is read (each read takes 20 ms here, as a large lab's status does on a Pi). Dropping
    // every snapshot that events overtook, the plugin read the lab back to back for as long as
    // the stream lasted, and was not resynchronised (nor online) before it ended.
    const N = 1000;
    const { t, power, dev, slot } = bigLab(N, 'gw-storm');
    const slowCall = t.ctx.call;
    const reads: number[] = [];
    const ctx = {
      ...t.ctx,
      call: (async (method: string, params?: unknown) => {
        const answer = (slowCall as (m: string, p?: unknown) => Promise<unknown>)(method, params);
        if (method === 'servers') reads.push(performance.now());
        await new Promise((r) => setTimeout(r, 20));
        return answer;
      }) as typeof t.ctx.call,
    };
    const sub = await broker.sub({ topics: ['ockle/gw-storm/outlet/+/+/state'], retained: false });
    let k = 0;
    const t0 = performance.now();
    const storm = setInterval(() => {
      // One event every 2 ms or so: ~2 s of storm, well past a resync's ~0.1-0.4 s.
      if (k === N) return;
      k++;
      power.set(k, 'on');
      t.emit('outlet.changed', { device: dev(k), outlet: slot(k), power: 'on', previous: 'off' });
    }, 2);
    await plugin.start(ctx);
    try {
      await until(() => typeof t.status()?.lastResyncMs === 'number', 'resynchronised');
      const resyncedAt = performance.now() - t0;
      const stormLeft = N - k;
      await until(() => k === N, 'the storm ended');
      const stormMs = performance.now() - t0;
      clearInterval(storm);
      // Resynchronised while the storm went on, not after it.
      expect(stormLeft).toBeGreaterThan(0);
      expect(resyncedAt).toBeLessThan(stormMs);
      // One read for the resync, then one per REFRESH_MS (250 ms) at most: not back to back.
      const during = reads.filter((at) => at - t0 <= stormMs).length;
      expect(during).toBeLessThanOrEqual(Math.ceil(stormMs / 250) + 2);
      // Every outlet ends on, and none was ever published off after it was published on.
      await until(() => new Set(sub.messages.filter((m) => json(m).power === 'on').map((m) => m.topic)).size === N, 'every outlet published on');
      const seen = new Map<string, string[]>();
      for (const m of sub.messages) seen.set(m.topic, [...(seen.get(m.topic) ?? []), json(m).power as string]);
      const flapped = [...seen].filter(([, ps]) => ps.indexOf('on') >= 0 && ps.slice(ps.indexOf('on')).includes('off'));
      expect(flapped).toEqual([]);
    } finally {
      clearInterval(storm);
      await sub.close();
      await plugin.stop();
    }
  });

  it('an event publishes only what it changed, and a burst of them costs one re-read of the lab, not one each', async () => {
    const N = 200;
    const { t, power, dev, slot } = bigLab(N, 'gw-burst');
    await plugin.start(t.ctx);
    try {
      await until(() => typeof t.status()?.lastResyncMs === 'number', 'resynchronised');
      const sub = await broker.sub({ topics: ['ockle/gw-burst/#'], retained: false });
      const ha = await broker.sub({ topics: ['homeassistant/+/ockle_gw-burst/+/config'], retained: false, qos: 0 });
      const reads = (): number => t.calls.filter((c) => c.method === 'servers').length;
      const before = reads();
      // A lab-wide on: every outlet comes on, one event each, as the daemon sends them.
      for (let k = 1; k <= N; k++) {
        power.set(k, 'on');
        t.emit('outlet.changed', { device: dev(k), outlet: slot(k), power: 'on', previous: 'off' });
        t.emit('server.changed', { server: `s${k}`, state: 'FORCED_ON', previous: 'OFF', reason: '' });
      }
      await until(() => sub.messages.filter((m) => m.topic.endsWith('/state')).length >= 2 * N, 'every outlet and server state published');
      // The full re-read that follows the burst publishes nothing more: the events said it all.
      await until(() => reads() > before, 'the lab read again after the burst');
      await new Promise((r) => setTimeout(r, 400));
      const topics = sub.messages.map((m) => m.topic).filter((x) => !x.startsWith('ockle/_ready'));
      // Each outlet's state and each server's once (both changed: the server's carries its
      // outlets' power); no device state (its watts did not change) and no Home Assistant config.
      expect(topics.filter((x) => /\/outlet\/pdu-\d\/\d+\/state$/.test(x))).toHaveLength(N);
      expect(new Set(topics.filter((x) => /\/server\/s\d+\/state$/.test(x))).size).toBe(N);
      expect(topics.filter((x) => /\/server\/s\d+\/state$/.test(x)).length).toBeLessThanOrEqual(2 * N);
      expect(topics.filter((x) => x.includes('/device/'))).toEqual([]);
      expect(ha.messages.filter((m) => !m.retained)).toEqual([]);
      expect(sub.messages.filter((m) => /\/outlet\//.test(m.topic)).every((m) => json(m).power === 'on' && json(m).watts === 10)).toBe(true);
      // 400 events: the lab was read whole once or twice (REFRESH_MS after the first), not per event.
      expect(reads() - before).toBeGreaterThanOrEqual(1);
      expect(reads() - before).toBeLessThanOrEqual(3);
      await sub.close();
      await ha.close();
    } finally {
      await plugin.stop();
    }
  });
});

describePeer('three gateways on one mosquitto: what each sees of the others', ['mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', 'openssl'], () => {
  let broker: Mosquitto;
  const labs: Lab[] = [];
  let a: ReturnType<typeof spawn> | null = null;
  let b: Daemon;
  let c: Daemon;
  beforeAll(async () => {
    broker = await startMosquitto();
    labs.push(await mqttLab(broker, 'gw-a', 'gw'), await mqttLab(broker, 'gw-b', 'gw-b'), await mqttLab(broker, 'gw-c', 'gw-c', 'follow = gw-a, gw-b\n'));
    // A in a process of its own, so that it can be SIGKILLed.
    a = spawn(process.execPath, [join(REPO, 'dist', 'src', 'cli', 'main.js'), 'daemon', '--config', labs[0]!.configDir], { stdio: 'ignore' });
    b = await Daemon.start({ configDir: labs[1]!.configDir, log: silentLogger() });
    c = await Daemon.start({ configDir: labs[2]!.configDir, log: silentLogger() });
  }, 60_000);
  afterAll(async () => {
    if (a && a.exitCode === null) a.kill('SIGKILL');
    await b?.stop();
    await c?.stop();
    for (const l of labs) await l.cleanup();
    await broker?.close();
  });
  interface View {
    servers: { gateway: string; name: string; state: string; serving: boolean; reason: string }[];
    gateways: Record<string, string | null>;
  }
  /** `ockle mqtt remote --json` on gateway C (an empty view until its plugin has registered the command). */
  const view = async (): Promise<View> => {
    let out = '';
    const io = { stdout: { write: (x: string) => (out += x) }, stderr: { write: (x: string) => (out += x) }, env: {}, cwd: labs[2]!.configDir };
    const code = await main(['mqtt', 'remote', '--json', '--config', labs[2]!.configDir], io);
    if (code !== 0 && /unknown command "mqtt"/.test(out)) return { servers: [], gateways: {} };
    expect(code, out).toBe(0);
    return JSON.parse(out) as View;
  };
  const stateOf = async (gateway: string, name: string) => (await view()).servers.find((x) => x.gateway === gateway && x.name === name);

  it('C sees the servers of A and B as they change, and never its own', async () => {
    await until(async () => (await view()).servers.length === 6, 'C knows the 3 servers of A and of B', 30_000);
    expect((await view()).servers.every((x) => x.gateway !== 'gw-c')).toBe(true);
    await broker.pub({ topic: 'ockle/gw-a/user/alice/server/storage-1/set', message: '{"action":"on","reason":"federation test"}', user: 'alice' });
    await until(async () => (await stateOf('gw-a', 'storage-1'))?.serving === true, 'C sees storage-1 of A serving');
    expect(await stateOf('gw-a', 'storage-1')).toMatchObject({ state: 'OK', serving: true });
  }, 60_000);

  it('with the broker gone every remote server is UNKNOWN, with why; they come back with it', async () => {
    await broker.stop();
    await until(async () => (await view()).servers.every((x) => x.state === 'UNKNOWN' && /broker is unreachable/.test(x.reason)), 'all UNKNOWN: broker');
    await broker.start();
    await until(async () => (await stateOf('gw-a', 'storage-1'))?.state === 'OK', 'storage-1 OK again', 30_000);
    // What C knew is learned anew on reconnecting (a server removed meanwhile leaves no message): all six again.
    await until(async () => (await view()).servers.filter((x) => x.state !== 'UNKNOWN').length === 6, 'C knows all six again', 30_000);
  }, 60_000);

  it('a gateway SIGKILLed: its servers turn UNKNOWN on the others (its will), the rest stay known', async () => {
    a!.kill('SIGKILL');
    await until(async () => (await stateOf('gw-a', 'storage-1'))?.state === 'UNKNOWN', 'storage-1 UNKNOWN after A died');
    const v = await view();
    expect(v.servers.filter((x) => x.gateway === 'gw-a').every((x) => x.state === 'UNKNOWN' && x.reason === 'gateway gw-a is offline')).toBe(true);
    expect(v.servers.filter((x) => x.gateway === 'gw-b').every((x) => x.state === 'OFF')).toBe(true);
    expect(v.gateways).toEqual({ 'gw-a': 'offline', 'gw-b': 'online' });
  }, 30_000);
});
