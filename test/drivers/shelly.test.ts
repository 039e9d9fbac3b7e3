/**
 * The shelly device against the Shelly Gen2+ test device (test/support/smart-plugs.ts, written
 * from Shelly's Gen2 API documentation): RPC reads and switches counted at the device, metering,
 * SHA-256 digest auth (the test device's check is cross-checked with curl, an independent
 * RFC 7616 client), and faults injected at the device.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { shellyDriver, type ShellyDevice } from '../../drivers/shelly/index.js';
import type { SpecOf } from '../../drivers/types.js';
import { Secret } from '../../src/config/types.js';
import { makeDriverContext } from '../support/driver-context.js';
import { describePeer } from '../support/peers.js';
import { startShelly, type ShellyPeer } from '../support/smart-plugs.js';
import { describeOutletDevice } from './outlet-contract.js';

type Spec = SpecOf<typeof shellyDriver>;
const sig = (): AbortSignal => new AbortController().signal;
const PASSWORD = 'shelly-Pa55"word';

const peers: ShellyPeer[] = [];
const shelly = async (o?: Parameters<typeof startShelly>[0]): Promise<ShellyPeer> => {
  const p = await startShelly(o);
  peers.push(p);
  return p;
};
const device = (p: ShellyPeer, over: Partial<Spec> = {}): ShellyDevice =>
  shellyDriver.create({ host: p.host, port: p.port, password: undefined, outlets: undefined, request_timeout: 2000, ...over } as Spec, makeDriverContext({ id: 'plug-s' })) as ShellyDevice;

describe('shelly against the Shelly Gen2+ test device', () => {
  afterEach(async () => {
    for (const p of peers.splice(0)) await p.close();
  });

  it('opens with switch count, names, model and firmware; reads all switches in one call and one switch with Switch.GetStatus', async () => {
    const p = await shelly({ switches: 4 });
    const d = device(p);
    await d.open(sig());
    expect(d.outletCount).toBe(4);
    expect(d.info()).toMatchObject({ model: 'Pro4PM', firmware: '1.4.4', details: { id: p.deviceId, gen: '2', auth: 'none' } });
    expect([...d.info().outletNames!]).toEqual([[1, 'rack fan']]);
    p.switches[3]!.output = true;
    const before = d.requests;
    expect([...(await d.read([1, 2, 3, 4], sig())).values()]).toEqual(['on', 'off', 'off', 'on']);
    expect(d.requests - before).toBe(1);
    expect((await d.read([2], sig())).get(2)).toBe('off');
    expect(p.calls.slice(-2)).toEqual(['Shelly.GetStatus', 'Switch.GetStatus']);
    expect(p.writes).toEqual([]);
  });

  it('switches with Switch.Set (outlet N is switch id N−1), as the device records', async () => {
    const p = await shelly({ switches: 2 });
    const d = device(p, { outlets: 2 });
    await d.switch(2, 'on', sig());
    await d.switch(1, 'off', sig());
    expect(p.writes).toEqual(['1 on', '0 off']);
    expect([...(await d.read([1, 2], sig())).values()]).toEqual(['off', 'on']);
  });

  it('meters power, voltage, current and energy per switch', async () => {
    const p = await shelly({ switches: 2 });
    const d = device(p);
    await d.open(sig());
    const m = await d.meter([1, 2], sig());
    expect(m.get(1)).toEqual({ watts: 8.9, volts: 237.5, amps: 0.068, energyWh: 6532.25 });
    expect(m.get(2)).toEqual({ watts: 0, volts: 237.5, amps: 0, energyWh: 6533.25 });
  });

  it('digest auth (SHA-256): one challenge, then every call authenticated with it; a lapsed nonce is answered once more, without a second write', async () => {
    const p = await shelly({ password: PASSWORD });
    const d = device(p, { password: new Secret(PASSWORD) });
    await d.open(sig());
    expect(d.info().details).toMatchObject({ auth: 'digest (SHA-256)' });
    expect(p.unauthorized).toBe(1);
    await d.switch(1, 'off', sig());
    expect(p.unauthorized).toBe(1);
    p.expireNonces();
    await d.switch(1, 'on', sig());
    expect(p.unauthorized).toBe(2);
    expect(p.writes).toEqual(['0 off', '0 on']);
  });

  it('a wrong or missing password is refused, never echoed, and switches nothing', async () => {
    const p = await shelly({ password: PASSWORD });
    const wrong = 'shelly-wrong-7731';
    const err = (await device(p, { password: new Secret(wrong), outlets: 1 }).switch(1, 'off', sig()).catch((e: unknown) => e)) as Error & { hint?: string };
    expect(err).toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/password was refused/), hint: expect.stringMatching(/Check password/) });
    expect(`${err.message} ${err.hint} ${JSON.stringify(err)}`).not.toContain(wrong);
    await expect(device(p, { outlets: 1 }).read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/requires a password/) });
    expect(p.writes).toEqual([]);
    expect(p.switches[0]!.output).toBe(true);
  });

  it('faults at the device: no answer is a timeout, a truncated body or HTTP 500 a reply error, an RPC error is reported', async () => {
    const p = await shelly({ switches: 2 });
    const d = device(p, { outlets: 2, request_timeout: 300 });
    p.fault = 'timeout';
    await expect(d.switch(1, 'off', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_TIMEOUT' });
    p.fault = 'malformed';
    await expect(d.read([1, 2], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REPLY', message: expect.stringMatching(/not a JSON object/) });
    p.fault = 'http500';
    await expect(d.meter([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REPLY', message: expect.stringMatching(/HTTP 500/) });
    p.fault = null;
    // outlets = 3 on a two-switch device: the device refuses switch id 2.
    await expect(device(p, { outlets: 3 }).switch(3, 'on', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REPLY', message: expect.stringMatching(/-105.*not found/) });
    expect(p.writes).toEqual([]);
    expect([...(await d.read([1, 2], sig())).values()]).toEqual(['on', 'off']);
  });

  it('the device gone (nothing listens) is unreachable, with a hint', async () => {
    const p = await startShelly();
    const d = device(p, { outlets: 1 });
    await p.close();
    await expect(d.read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', message: expect.stringMatching(/connection refused/), hint: expect.stringMatching(/host and port/) });
    await expect(d.switch(1, 'off', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE' });
  });

  describe('contract', () => {
    describeOutletDevice('shelly (test device, digest auth)', async () => {
      const p = await startShelly({ switches: 2, password: PASSWORD });
      const d = device(p, { password: new Secret(PASSWORD) });
      return { device: d, peer: { power: (n) => (p.switches[n - 1]?.output ? 'on' : 'off'), writes: () => p.writes.length }, close: () => p.close() };
    });
  });
});

describePeer('the Shelly test device, cross-checked with curl', ['curl'], () => {
  afterEach(async () => {
    for (const p of peers.splice(0)) await p.close();
  });

  it('curl --digest (RFC 7616, SHA-256) gets in with the password and not without, so the test device checks digests as a client outside ockle computes them', async () => {
    const p = await shelly({ password: PASSWORD });
    const url = `http://127.0.0.1:${p.port}/rpc`;
    const call = async (user: string): Promise<{ status: string; body: string }> => {
      // curl's -u puts this throwaway test password on its argv; ockle never puts one on argv.
      const r = await promisify(execFile)('curl', ['-s', '-w', '\n%{http_code}', '--digest', '-u', user, '-H', 'content-type: application/json', '-d', '{"id":7,"method":"Switch.Set","params":{"id":0,"on":false}}', url], { timeout: 10_000 });
      const lines = r.stdout.trimEnd().split('\n');
      return { status: lines.at(-1)!, body: lines.slice(0, -1).join('\n') };
    };
    const bad = await call('admin:wrong');
    expect(bad.status).toBe('401');
    expect(p.writes).toEqual([]);
    const good = await call(`admin:${PASSWORD}`);
    expect(good.status).toBe('200');
    expect(JSON.parse(good.body)).toMatchObject({ id: 7, result: { was_on: true } });
    expect(p.writes).toEqual(['0 off']);
    // What ockle then reads is what curl switched.
    const d = device(p, { password: new Secret(PASSWORD) });
    expect((await d.read([1], sig())).get(1)).toBe('off');
  });
});
