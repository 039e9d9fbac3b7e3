/**
 * The ipmi outlet device and ipmi-soft control against OpenIPMI's ipmi_sim, driven by Debian's
 * ipmitool: status, on, off, cycle, soft-off; a wrong password, an unknown user, a BMC that is
 * gone; the password never on a command line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipmiDriver, ipmiSoftDriver } from '../../drivers/ipmi/index.js';
import { Secret } from '../../src/config/types.js';
import { makeDriverContext } from '../support/driver-context.js';
import { startBmc, type SimBmc } from '../support/ipmi-sim.js';
import { describePeer } from '../support/peers.js';
import { describeOutletDevice } from './outlet-contract.js';

type Spec = Parameters<typeof ipmiDriver.create>[0];
const sig = (): AbortSignal => new AbortController().signal;
const spec = (bmc: SimBmc, over: Partial<Record<keyof Spec, unknown>> = {}): Spec =>
  ({
    host: '127.0.0.1',
    port: bmc.port,
    user: bmc.user,
    password: new Secret(bmc.password),
    interface: 'lanplus',
    cipher_suite: 3,
    privilege: 'ADMINISTRATOR',
    request_timeout: 1,
    request_retries: 0,
    backend: 'ipmitool',
    workarounds: '',
    diagnose: true,
    ...over,
  }) as Spec;

describePeer('ipmi against ipmi_sim', ['ipmi_sim', 'ipmitool'], () => {
  let bmc: SimBmc;
  beforeAll(async () => {
    bmc = await startBmc();
  }, 20_000);
  afterAll(async () => {
    await bmc?.stop();
  });
  const device = (over: Partial<Record<keyof Spec, unknown>> = {}) => ipmiDriver.create(spec(bmc, over), makeDriverContext({ id: 'bmc-db-1' }));

  it('reads the chassis power and switches it on and off', async () => {
    bmc.setPower(false);
    const d = device();
    await d.open(sig());
    expect((await d.read([1], sig())).get(1)).toBe('off');
    await d.switch(1, 'on', sig());
    expect(bmc.power()).toBe('1');
    expect((await d.read([1], sig())).get(1)).toBe('on');
    await d.switch(1, 'off', sig());
    expect(bmc.power()).toBe('0');
    expect(bmc.calls().filter((c) => c.startsWith('set'))).toEqual(['set power 1', 'set power 0']);
  });

  it('cycles natively', async () => {
    bmc.setPower(true);
    const d = device();
    expect(d.caps.cycle).toBe(true);
    const before = bmc.calls().length;
    await d.switch(1, 'cycle', sig());
    expect(bmc.calls().slice(before).filter((c) => c.startsWith('set'))[0]).toBe('set power 0');
  });

  it('warm-resets the machine (chassis power reset), power staying on', async () => {
    bmc.setPower(true);
    const d = device();
    expect(d.caps.reset).toBe(true);
    const before = bmc.calls().length;
    await d.switch(1, 'reset', sig());
    expect(bmc.calls().slice(before).filter((c) => c.startsWith('set'))).toEqual(['set reset 1']);
    expect(bmc.power()).toBe('1');
  });

  it('ipmi-soft asks the OS to shut down through the BMC (ACPI soft-off)', async () => {
    bmc.setPower(true);
    const c = ipmiSoftDriver.create(spec(bmc), makeDriverContext({ id: 'db-1/soft', server: { name: 'db-1', host: undefined, outlets: [] } }));
    const before = bmc.calls().length;
    await c.shutdown(sig());
    expect(bmc.calls().slice(before)).toContain('set shutdown 1');
  });

  it('tells a wrong password from an unknown user from a BMC that does not answer', async () => {
    await expect(device({ password: new Secret('not-the-password') }).read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/rejected the password/) });
    await expect(device({ user: 'mallory' }).read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/does not know user "mallory"/) });
    const gone = await startBmc();
    const port = gone.port;
    await gone.stop();
    await expect(device({ port }).read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', hint: expect.stringMatching(/IPMI over LAN is enabled/) });
  });

  it('never puts the password on a command line, nor in an error', async () => {
    const err = (await device({ password: new Secret('s3cret-bmc-pass') }).read([1], sig()).catch((e: unknown) => e)) as Error;
    expect(JSON.stringify(err) + err.message + String((err as { hint?: string }).hint)).not.toContain('s3cret-bmc-pass');
  });
});

describePeer('ipmi status through ipmipower (batch backend)', ['ipmi_sim', 'ipmipower'], () => {
  it('reads several BMCs with one ipmipower call; a wrong password fails only its own BMC', async () => {
    const bmcs = [await startBmc({ on: true, host: '127.0.0.2', password: 'fleet-pass' }), await startBmc({ on: false, host: '127.0.0.3', password: 'fleet-pass' })];
    const other = await startBmc({ on: true, host: '127.0.0.4', password: 'its-own-pass' });
    try {
      const shared = new Map<string, unknown>();
      const mk = (b: SimBmc, over: Partial<Record<keyof Spec, unknown>> = {}) =>
        ipmiDriver.create(spec(b, { host: b.host, backend: 'ipmipower', workarounds: 'opensesspriv', ...over }), makeDriverContext({ id: `bmc-${b.host}`, shared }));
      const [a, b] = bmcs.map((x) => mk(x));
      const wrong = mk(other, { password: new Secret('fleet-pass') });
      const results = await Promise.allSettled([a!.read([1], sig()), b!.read([1], sig()), wrong.read([1], sig())]);
      expect(results[0]).toMatchObject({ status: 'fulfilled', value: new Map([[1, 'on']]) });
      expect(results[1]).toMatchObject({ status: 'fulfilled', value: new Map([[1, 'off']]) });
      expect(results[2]).toMatchObject({ status: 'rejected', reason: { code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/rejected the password/) } });
      // Switching still goes through ipmitool, one BMC at a time.
      await b!.switch(1, 'on', sig());
      expect(bmcs[1]!.power()).toBe('1');
    } finally {
      for (const x of [...bmcs, other]) await x.stop();
    }
  });
});

describePeer('ipmi contract', ['ipmi_sim', 'ipmitool'], () => {
  describe('via ipmi_sim', () => {
    describeOutletDevice('ipmi (ipmi_sim)', async () => {
      const bmc = await startBmc({ on: true });
      const d = ipmiDriver.create(spec(bmc), makeDriverContext({ id: 'bmc-c' }));
      return {
        device: d,
        peer: { power: () => (bmc.power() === '1' ? 'on' : 'off'), writes: () => bmc.calls().filter((c) => c.startsWith('set')).length },
        close: () => bmc.stop(),
      };
    });
  });
});
