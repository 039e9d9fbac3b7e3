/**
 * The contract every outlet driver must keep, run against the driver and its real peer
 * (sim world now; SNMP agent, Modbus server, serial board emulators later).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutletDevice, Power } from '../../drivers/types.js';

export interface ContractSubject {
  readonly device: OutletDevice;
  /** The peer's own view, bypassing the driver. */
  readonly peer: { power(outlet: number): Power | Promise<Power>; writes(): number | Promise<number> };
  close(): Promise<void>;
}

/**
 * `onOnly`: a device that can only switch on (Wake-on-LAN). It must refuse `off` with nothing
 * written, and with assumed read-back an outlet not yet switched may read `unknown`.
 */
export function describeOutletDevice(name: string, make: () => Promise<ContractSubject>, o: { onOnly?: boolean } = {}): void {
  describe(`${name} keeps the outlet driver contract`, () => {
    let s: ContractSubject;
    const signal = (): AbortSignal => new AbortController().signal;
    beforeEach(async () => {
      s = await make();
    });
    afterEach(async () => {
      await s.device.close();
      await s.close();
    });

    it('opens without switching anything', async () => {
      const n = s.device.outletCount;
      const before = await Promise.all(Array.from({ length: n }, (_, i) => s.peer.power(i + 1)));
      await s.device.open(signal());
      expect(await s.peer.writes()).toBe(0);
      expect(await Promise.all(Array.from({ length: n }, (_, i) => s.peer.power(i + 1)))).toEqual(before);
    });

    it('reads every requested outlet, matching the peer', async () => {
      await s.device.open(signal());
      const all = Array.from({ length: s.device.outletCount }, (_, i) => i + 1);
      const got = await s.device.read(all, signal());
      expect([...got.keys()].sort((a, b) => a - b)).toEqual(all);
      for (const n of all) {
        const want = await s.peer.power(n);
        if (o.onOnly && s.device.caps.readBack === 'assumed') expect([want, 'unknown']).toContain(got.get(n));
        else expect(got.get(n)).toBe(want);
      }
    });

    if (o.onOnly)
      it('switches on, as the peer reads back, and refuses off with nothing written', async () => {
        await s.device.open(signal());
        await s.device.switch(1, 'on', signal());
        expect(await s.peer.power(1)).toBe('on');
        expect((await s.device.read([1], signal())).get(1)).toBe('on');
        await expect(s.device.switch(1, 'off', signal())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED' });
        expect(await s.peer.power(1)).toBe('on');
        expect(await s.peer.writes()).toBe(1);
      });
    else
      it('switches off and on, as the peer reads back', async () => {
        await s.device.open(signal());
        await s.device.switch(1, 'off', signal());
        expect(await s.peer.power(1)).toBe('off');
        await s.device.switch(1, 'on', signal());
        expect(await s.peer.power(1)).toBe('on');
        expect(await s.peer.writes()).toBe(2);
      });

    it('declares metering exactly when it can meter', () => {
      expect(s.device.caps.metering).toBe(typeof s.device.meter === 'function');
    });

    it('rejects an outlet it does not have', async () => {
      await s.device.open(signal());
      await expect(s.device.read([s.device.outletCount + 1], signal())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNKNOWN_OUTLET' });
      await expect(s.device.switch(0, 'on', signal())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNKNOWN_OUTLET' });
      expect(await s.peer.writes()).toBe(0);
    });

    it('honours an aborted signal', async () => {
      await s.device.open(signal());
      const ac = new AbortController();
      ac.abort();
      await expect(s.device.switch(1, 'off', ac.signal)).rejects.toMatchObject({ code: 'OCKLE_OPERATION_ABORTED' });
      expect(await s.peer.writes()).toBe(0);
    });

    it('closes idempotently', async () => {
      await s.device.open(signal());
      await s.device.close();
      await expect(s.device.close()).resolves.toBeUndefined();
    });
  });
}
