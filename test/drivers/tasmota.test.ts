/**
 * The tasmota device against the Tasmota test plug (test/support/smart-plugs.ts, written from
 * Tasmota's command documentation): reads, switches counted at the plug, metering, the web
 * password (a secret that must not leak into errors), and faults injected at the plug.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { tasmotaDriver, type TasmotaPlug } from '../../drivers/tasmota/index.js';
import type { SpecOf } from '../../drivers/types.js';
import { LOCAL_TOKEN_FILE } from '../../src/config/paths.js';
import { Secret } from '../../src/config/types.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { makeDriverContext } from '../support/driver-context.js';
import { startShelly, startTasmota, type ShellyPeer, type TasmotaPlugPeer } from '../support/smart-plugs.js';
import { describeOutletDevice } from './outlet-contract.js';

type Spec = SpecOf<typeof tasmotaDriver>;
const sig = (): AbortSignal => new AbortController().signal;
const PASSWORD = 'tas-web-Pa55&word';

describe('tasmota against the Tasmota test plug', () => {
  const peers: TasmotaPlugPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await p.close();
  });
  const plug = async (o?: Parameters<typeof startTasmota>[0]): Promise<TasmotaPlugPeer> => {
    const p = await startTasmota(o);
    peers.push(p);
    return p;
  };
  const device = (p: TasmotaPlugPeer, over: Partial<Spec> = {}): TasmotaPlug =>
    tasmotaDriver.create({ host: p.host, port: p.port, user: 'admin', password: undefined, outlets: undefined, request_timeout: 2000, ...over } as Spec, makeDriverContext({ id: 'plug-t' })) as TasmotaPlug;

  it('opens with the relay count, names and firmware from Status 0, reads every relay in one request', async () => {
    const p = await plug({ relays: 4 });
    const d = device(p);
    await d.open(sig());
    expect(d.outletCount).toBe(4);
    expect(d.info()).toMatchObject({ model: 'Tasmota test plug', firmware: '14.3.0(release-tasmota)' });
    expect([...d.info().outletNames!.values()]).toEqual(['Relay 1', 'Relay 2', 'Relay 3', 'Relay 4']);
    p.relays[2]!.power = true;
    const before = p.seen.length;
    const got = await d.read([1, 2, 3, 4], sig());
    expect(p.seen.length - before).toBe(1);
    expect([...got.values()]).toEqual(['on', 'off', 'on', 'off']);
    expect(p.writes).toEqual([]);
  });

  it('switches one relay with Power<N>, as the plug records, and reads it back', async () => {
    const p = await plug({ relays: 2 });
    const d = device(p, { outlets: 2 });
    await d.switch(2, 'on', sig());
    expect(p.relays[1]!.power).toBe(true);
    expect((await d.read([2], sig())).get(2)).toBe('on');
    await d.switch(1, 'off', sig());
    expect(p.writes).toEqual(['2 ON', '1 OFF']);
    expect(p.seen.filter((s) => /Power/.test(s))).toEqual(['/cm?cmnd=Power2%20ON', '/cm?cmnd=Power1%20OFF']);
  });

  it('a one-relay plug answers POWER (no index), and its meter belongs to outlet 1', async () => {
    const p = await plug();
    const d = device(p);
    await d.open(sig());
    expect(d.outletCount).toBe(1);
    expect((await d.read([1], sig())).get(1)).toBe('on');
    await d.switch(1, 'off', sig());
    expect(p.relays[0]!.power).toBe(false);
    expect((await d.meter([1], sig())).get(1)).toEqual({ watts: 42, volts: 231, amps: 0.217, energyWh: 12345 });
  });

  it('a multi-channel meter gives each relay its own array entry; a scalar one gives them only the voltage', async () => {
    const p = await plug({ relays: 2, energy: { Total: [1.5, 0.25], Power: [100, 3], Voltage: 230, Current: [0.45, 0.02] } });
    const d = device(p);
    await d.open(sig());
    const m = await d.meter([1, 2], sig());
    expect(m.get(1)).toEqual({ watts: 100, volts: 230, amps: 0.45, energyWh: 1500 });
    expect(m.get(2)).toEqual({ watts: 3, volts: 230, amps: 0.02, energyWh: 250 });
    p.energy = { Total: 9, Power: 50, Voltage: 229, Current: 0.3 };
    expect((await d.meter([1, 2], sig())).get(2)).toEqual({ volts: 229 });
    p.energy = null;
    expect((await d.meter([1], sig())).get(1)).toEqual({});
  });

  it('with the web password: sends it only in the query, and switches', async () => {
    const p = await plug({ password: PASSWORD });
    const d = device(p, { password: new Secret(PASSWORD) });
    await d.switch(1, 'off', sig());
    expect(p.writes).toEqual(['1 OFF']);
    expect(p.seen.at(-1)).toBe(`/cm?user=admin&password=${encodeURIComponent(PASSWORD)}&cmnd=Power1%20OFF`);
    expect(p.unauthorized).toBe(0);
  });

  it('a wrong or missing password (401, or 200 with the old warning) is refused, never echoed, and switches nothing', async () => {
    for (const legacyAuth of [false, true]) {
      const p = await plug({ password: PASSWORD, legacyAuth });
      const wrong = 'not-the-Pa55-9f3';
      const err = (await device(p, { password: new Secret(wrong) }).switch(1, 'off', sig()).catch((e: unknown) => e)) as Error & { hint?: string };
      expect(err).toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/web password was refused/), hint: expect.stringMatching(/Check password/) });
      expect(`${err.message} ${err.hint} ${JSON.stringify(err)}`).not.toContain(wrong);
      await expect(device(p).read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/required/), hint: expect.stringMatching(/Set password/) });
      expect(p.unauthorized).toBe(2);
      expect(p.writes).toEqual([]);
      expect(p.relays[0]!.power).toBe(true);
    }
  });

  it('faults at the plug: no answer is a timeout, a truncated body or HTTP 500 a reply error; nothing is assumed', async () => {
    const p = await plug({ relays: 2 });
    const d = device(p, { outlets: 2, request_timeout: 300 });
    p.fault = 'timeout';
    await expect(d.read([1, 2], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_TIMEOUT', message: expect.stringMatching(/no answer within 300 ms/) });
    await expect(d.switch(2, 'on', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_TIMEOUT' });
    p.fault = 'malformed';
    await expect(d.read([1, 2], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REPLY', message: expect.stringMatching(/not a JSON object/) });
    p.fault = 'http500';
    await expect(d.meter([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REPLY', message: expect.stringMatching(/HTTP 500/) });
    p.fault = null;
    expect([...(await d.read([1, 2], sig())).values()]).toEqual(['on', 'off']);
    expect(p.writes).toEqual([]);
  });

  it('the plug gone (nothing listens) is unreachable, with a hint', async () => {
    const p = await startTasmota();
    const d = device(p, { outlets: 1 });
    await p.close();
    await expect(d.read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', message: expect.stringMatching(/connection refused/), hint: expect.stringMatching(/host and port/) });
    await expect(d.switch(1, 'off', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE' });
  });

  it('a relay the plug does not have is refused by the plug (Command Unknown) when outlets = is wrong', async () => {
    const p = await plug({ relays: 1 });
    const d = device(p, { outlets: 2 });
    await expect(d.switch(2, 'on', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/no relay 2/) });
    expect(p.writes).toEqual([]);
  });

  describe('contract', () => {
    describeOutletDevice('tasmota (test plug)', async () => {
      const p = await startTasmota({ relays: 2 });
      const d = device(p);
      return { device: d, peer: { power: (n) => (p.relays[n - 1]?.power ? 'on' : 'off'), writes: () => p.writes.length }, close: () => p.close() };
    });
  });
});

describe('smart-plug passwords under the daemon', () => {
  let root: string | undefined;
  let daemon: Daemon | undefined;
  const plugs: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    for (const p of plugs.splice(0)) await p.close();
    if (root) await rm(root, { recursive: true, force: true });
    root = undefined;
  });

  it('the Tasmota and Shelly passwords reach no log line and no API reply, through start, a switch, a refused login and stop', async () => {
    const SHELLY_PW = 'shelly-daemon-Pw-5521';
    const WRONG = 'tasmota-wrong-Pw-0042';
    const t: TasmotaPlugPeer = await startTasmota({ password: PASSWORD });
    const bad: TasmotaPlugPeer = await startTasmota({ password: PASSWORD });
    const sh: ShellyPeer = await startShelly({ password: SHELLY_PW });
    plugs.push(t, bad, sh);
    root = await mkdtemp(join(tmpdir(), 'ockle-plugs-lab-'));
    const dir = join(root, 'config');
    await mkdir(join(dir, 'devices'), { recursive: true });
    await mkdir(join(dir, 'servers'), { recursive: true });
    await writeFile(join(dir, 'ockle.ini'), '[daemon]\nstate_dir = ../state\nlog_level = trace\n[api]\nport = 0\n');
    await writeFile(join(dir, 'devices', 'plug-t.ini'), `[device]\ntype = tasmota\nhost = 127.0.0.1\nport = ${t.port}\npassword = ${PASSWORD}\n`);
    await writeFile(join(dir, 'devices', 'plug-bad.ini'), `[device]\ntype = tasmota\nhost = 127.0.0.1\nport = ${bad.port}\noutlets = 1\npassword = ${WRONG}\nretries = 0\n`);
    await writeFile(join(dir, 'devices', 'plug-s.ini'), `[device]\ntype = shelly\nhost = 127.0.0.1\nport = ${sh.port}\npassword = ${SHELLY_PW}\n`);
    for (const [server, device] of [['lamp', 'plug-t'], ['nas', 'plug-bad'], ['fan', 'plug-s']])
      await writeFile(join(dir, 'servers', `${server}.ini`), `[server]\noutlets = power\n[power]\ndevice = ${device}\noutlet = 1\n`);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    daemon = await Daemon.start({ configDir: dir, log: createLogger({ level: 'trace', destination: sink }), monitor: false });
    const gw = daemon.gateway;
    expect(t.writes).toEqual([]);
    expect(sh.writes).toEqual([]);
    const off = await gw.waitFor(gw.request({ kind: 'off', targets: ['lamp', 'fan'], force: true, origin: 'api:test', reason: 'secret test' }).id);
    expect(off.status).toBe('ok');
    expect(t.writes).toEqual(['1 OFF']);
    expect(sh.writes).toEqual(['0 off']);
    const refused = await gw.waitFor(gw.request({ kind: 'off', targets: ['nas'], force: true, origin: 'api:test', reason: 'secret test' }).id);
    expect(refused.status).toBe('failed');
    expect(bad.writes).toEqual([]);
    const token = (await readFile(join(root, 'state', LOCAL_TOKEN_FILE), 'utf8')).trim();
    const bodies: string[] = [JSON.stringify(off), JSON.stringify(refused)];
    for (const path of ['/api/devices', '/api/servers', '/api/actions', '/api/config/problems']) {
      const res = await fetch(`${daemon.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status, path).toBe(200);
      bodies.push(await res.text());
    }
    await daemon.stop();
    daemon = undefined;
    const everything = lines.join('') + bodies.join('');
    expect(everything).toContain('plug-bad');
    expect(everything).toMatch(/web password was refused/);
    expect(lines.join('')).toMatch(/Tasmota takes its web password in the URL over plain HTTP/);
    for (const pw of [PASSWORD, encodeURIComponent(PASSWORD), SHELLY_PW, WRONG]) expect(everything).not.toContain(pw);
  });
});
