/**
 * snmp-pdu against Debian's snmpd, an SNMP agent written by others: v2c with read and write
 * communities, and SNMPv3 USM (authNoPriv with SHA-256, authPriv with SHA-512 + AES), on an APC
 * rPDU table served through pass_persist.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { snmpPduDriver, type SnmpPdu } from '../../drivers/snmp-pdu/index.js';
import { Secret } from '../../src/config/types.js';
import { makeDriverContext } from '../support/driver-context.js';
import { describePeer } from '../support/peers.js';
import { startSnmpd, SNMPD_USERS, type Snmpd } from '../support/snmpd.js';
import { snmpSpec } from '../support/snmp-spec.js';

const sig = (): AbortSignal => new AbortController().signal;

describePeer('snmp-pdu against Debian snmpd', ['snmpd', 'python3'], () => {
  let agent: Snmpd;
  beforeAll(async () => {
    agent = await startSnmpd();
  }, 20_000);
  afterAll(async () => {
    await agent?.stop();
  });

  const device = (over: Parameters<typeof snmpSpec>[0]): SnmpPdu =>
    snmpPduDriver.create(snmpSpec({ port: agent.port, request_timeout: 1500, ...over }), makeDriverContext({ id: 'pdu-snmpd' })) as SnmpPdu;

  const roundTrip = async (d: SnmpPdu, outlet: number): Promise<void> => {
    try {
      await d.open(sig());
      expect(d.profile?.name).toBe('apc-rpdu');
      expect(d.outletCount).toBe(4);
      expect([...d.info().outletNames!.values()]).toEqual(['web-1', 'db-1', 'spare', 'storage-1']);
      const before = d.requests;
      const states = await d.read([1, 2, 3, 4], sig());
      expect(d.requests - before).toBe(1);
      expect(states.get(1)).toBe('on');
      const now = states.get(outlet)!;
      const want = now === 'on' ? 'off' : 'on';
      await d.switch(outlet, want, sig());
      expect((await d.read([outlet], sig())).get(outlet)).toBe(want);
      expect((await agent.sets()).at(-1)).toBe(`${outlet} ${want === 'on' ? 1 : 2}`);
    } finally {
      await d.close();
    }
  };

  it('v2c: detects apc-rpdu from sysObjectID, reads in one GET, switches with the write community', async () => {
    await roundTrip(device({}), 3);
  });

  it('v2c: a read-only community on SET is refused (noAccess) with a hint, and nothing reaches the device', async () => {
    const d = device({ write_community: new Secret('public') });
    try {
      await d.open(sig());
      const before = (await agent.sets()).length;
      await expect(d.switch(2, 'off', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', snmpStatus: 'noAccess', hint: expect.stringMatching(/read-only/) });
      expect(await agent.sets()).toHaveLength(before);
    } finally {
      await d.close();
    }
  });

  it('v3 authNoPriv (SHA-256): reads and switches', async () => {
    const u = SNMPD_USERS.authOnly;
    await roundTrip(device({ version: '3', user: u.user, auth_protocol: u.auth, auth_password: new Secret(u.authPassword), community: undefined, write_community: undefined }), 4);
  });

  it('v3 authPriv (SHA-512 + AES): reads and switches', async () => {
    const u = SNMPD_USERS.authPriv;
    await roundTrip(
      device({ version: '3', user: u.user, auth_protocol: u.auth, auth_password: new Secret(u.authPassword), priv_protocol: u.priv, priv_password: new Secret(u.privPassword), community: undefined, write_community: undefined }),
      2,
    );
  });

  it('v3: a read-only user is refused on SET; a wrong passphrase fails without echoing it', async () => {
    const ro = SNMPD_USERS.readOnly;
    const d = device({ version: '3', user: ro.user, auth_protocol: ro.auth, auth_password: new Secret(ro.authPassword), priv_protocol: ro.priv, priv_password: new Secret(ro.privPassword), community: undefined, write_community: undefined });
    try {
      await d.open(sig());
      await expect(d.switch(1, 'off', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', hint: expect.stringMatching(/SNMPv3 user may not write/) });
    } finally {
      await d.close();
    }
    const bad = device({ version: '3', user: ro.user, auth_protocol: ro.auth, auth_password: new Secret('not-the-passphrase'), community: undefined, write_community: undefined });
    try {
      const err = (await bad.open(sig()).catch((e: unknown) => e)) as Error & { hint?: string };
      expect(err).toBeInstanceOf(Error);
      expect(err.message).not.toContain('not-the-passphrase');
      expect(err.hint).toMatch(/SNMPv3|credentials/);
    } finally {
      await bad.close();
    }
  });
});
