/**
 * The redfish device and redfish-graceful control against a Redfish service written here after
 * the DMTF schema, over HTTPS with a self-signed certificate; cross-checked with Debian's
 * redfishtool so the service is not just a mirror of our client.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { redfishDriver, redfishGracefulDriver } from '../../drivers/redfish/index.js';
import type { SpecOf } from '../../drivers/types.js';
import { Secret } from '../../src/config/types.js';
import { makeDriverContext } from '../support/driver-context.js';
import { describePeer } from '../support/peers.js';
import { startRedfish, type RedfishService } from '../support/redfish-service.js';
import { describeOutletDevice } from './outlet-contract.js';

type Spec = SpecOf<typeof redfishDriver>;
const sig = (): AbortSignal => new AbortController().signal;
const spec = (rf: RedfishService, over: Partial<Record<keyof Spec, unknown>> = {}): Spec =>
  ({
    url: rf.url,
    user: rf.user,
    password: new Secret(rf.password),
    auth: 'session',
    system: undefined,
    ca_file: rf.certFile,
    fingerprint: undefined,
    insecure: false,
    request_timeout: 3000,
    ...over,
  }) as Spec;

describePeer('redfish against a test Redfish service', ['openssl'], () => {
  const services: RedfishService[] = [];
  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop();
  });
  const service = async (o?: Parameters<typeof startRedfish>[0]): Promise<RedfishService> => {
    const s = await startRedfish(o);
    services.push(s);
    return s;
  };

  it('finds the system, reads PowerState and switches with the advertised ResetTypes; logs its session out', async () => {
    const rf = await service({ power: 'Off' });
    const d = redfishDriver.create(spec(rf), makeDriverContext({ id: 'bmc-rf' }));
    await d.open(sig());
    expect(d.info!()).toMatchObject({ model: 'ockle test server', details: { system: '/redfish/v1/Systems/1' } });
    expect(d.caps.cycle).toBe(true);
    expect((await d.read([1], sig())).get(1)).toBe('off');
    await d.switch(1, 'on', sig());
    await d.switch(1, 'cycle', sig());
    await d.switch(1, 'reset', sig());
    await d.switch(1, 'off', sig());
    expect(rf.resets).toEqual(['On', 'PowerCycle', 'ForceRestart', 'ForceOff']);
    await d.close();
    expect(rf.sessionsCreated).toBe(1);
    expect(rf.sessionsDeleted).toBe(1);
  });

  it('logs in again once when its session lapses, and works with basic auth too', async () => {
    const rf = await service();
    const d = redfishDriver.create(spec(rf), makeDriverContext({ id: 'bmc-rf' }));
    expect((await d.read([1], sig())).get(1)).toBe('on');
    rf.expireSessions();
    expect((await d.read([1], sig())).get(1)).toBe('on');
    expect(rf.sessionsCreated).toBe(2);
    const basic = redfishDriver.create(spec(rf, { auth: 'basic' }), makeDriverContext({ id: 'bmc-rf-b' }));
    await basic.switch(1, 'off', sig());
    expect(rf.power).toBe('Off');
    expect(rf.sessionsCreated).toBe(2);
  });

  it('without PowerCycle on offer, does not claim a native cycle and refuses one without sending it', async () => {
    const rf = await service({ resetTypes: ['On', 'ForceOff', 'GracefulShutdown'] });
    const d = redfishDriver.create(spec(rf), makeDriverContext({ id: 'bmc-rf' }));
    await d.open(sig());
    expect(d.caps.cycle).toBe(false);
    await expect(d.switch(1, 'cycle', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/does not offer ResetType PowerCycle/) });
    expect(rf.resets).toEqual([]);
  });

  it('verifies TLS: refuses an unknown self-signed certificate, accepts a pinned fingerprint or an explicit insecure', async () => {
    const rf = await service();
    const ctx = makeDriverContext({ id: 'bmc-rf' });
    await expect(redfishDriver.create(spec(rf, { ca_file: undefined }), ctx).read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', hint: expect.stringMatching(/fingerprint/) });
    expect((await redfishDriver.create(spec(rf, { ca_file: undefined, fingerprint: rf.fingerprint }), ctx).read([1], sig())).get(1)).toBe('on');
    const wrong = rf.fingerprint.replace(/^../, rf.fingerprint.startsWith('00') ? '11' : '00');
    await expect(redfishDriver.create(spec(rf, { ca_file: undefined, fingerprint: wrong }), ctx).read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED' });
    expect((await redfishDriver.create(spec(rf, { ca_file: undefined, insecure: true }), ctx).read([1], sig())).get(1)).toBe('on');
  });

  it('a wrong password is refused with a hint and never echoed', async () => {
    const rf = await service();
    const err = (await redfishDriver.create(spec(rf, { password: new Secret('hunter2-wrong') }), makeDriverContext({ id: 'bmc-rf' })).read([1], sig()).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', hint: 'Check user and password.' });
    expect(JSON.stringify(err) + err.message).not.toContain('hunter2');
  });

  it('redfish-graceful asks for GracefulShutdown', async () => {
    const rf = await service();
    const c = redfishGracefulDriver.create(spec(rf), makeDriverContext({ id: 'app/os' }));
    await c.shutdown(sig());
    expect(rf.resets).toEqual(['GracefulShutdown']);
    expect(rf.sessionsDeleted).toBe(rf.sessionsCreated);
  });

  describe('contract', () => {
    describeOutletDevice('redfish (test service)', async () => {
      const rf = await startRedfish({ power: 'On' });
      const d = redfishDriver.create(spec(rf), makeDriverContext({ id: 'bmc-c' }));
      return { device: d, peer: { power: () => (rf.power === 'On' ? 'on' : 'off'), writes: () => rf.resets.length }, close: () => rf.stop() };
    });
  });
});

describePeer('the test Redfish service, cross-checked with redfishtool', ['openssl', 'redfishtool'], () => {
  it('redfishtool reads and resets the system the way the driver sees it', async () => {
    const rf = await startRedfish({ power: 'On' });
    try {
      const run = promisify(execFile);
      const base = ['-r', rf.url.replace('https://', ''), '-u', rf.user, '-p', rf.password, '-S', 'Always'];
      const got = JSON.parse((await run('redfishtool', [...base, 'Systems', '-1'])).stdout) as { PowerState: string; Id: string };
      expect(got).toMatchObject({ Id: '1', PowerState: 'On' });
      await run('redfishtool', [...base, 'Systems', '-1', 'reset', 'ForceOff']);
      expect(rf.resets).toEqual(['ForceOff']);
      const d = redfishDriver.create(spec(rf), makeDriverContext({ id: 'bmc-x' }));
      expect((await d.read([1], sig())).get(1)).toBe('off');
      await d.close();
    } finally {
      await rf.stop();
    }
  });
});
