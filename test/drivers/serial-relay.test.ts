/**
 * serial-relay over a real pty pair (socat) with a board emulator on the far end, one per
 * protocol: the outlet-device contract, one request per read, a corrupted reply, a board that
 * stops answering, and an unplug then replug. LCUS boards cannot report: their assumed state is
 * kept on disk across restarts.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serialRelayDriver } from '../../drivers/serial-relay/index.js';
import type { OutletDevice, Power } from '../../drivers/types.js';
import { makeDriverContext } from '../support/driver-context.js';
import { describePeer } from '../support/peers.js';
import { ptyPair, type PtyPair } from '../support/pty.js';
import { BoardEmulator, type Protocol } from '../support/relay-boards.js';
import { describeOutletDevice } from './outlet-contract.js';

type Spec = Parameters<typeof serialRelayDriver.create>[0];
const spec = (over: Partial<Record<keyof Spec, unknown>>): Spec => {
  const d: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(serialRelayDriver.template)) if (v.default !== undefined) d[k] = v.default;
  return { ...d, outlets: 8, request_timeout: 300, ...over } as Spec;
};
const sig = (): AbortSignal => new AbortController().signal;

describePeer('serial-relay on a pty pair', ['socat'], () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function rig(protocol: Protocol, initial: boolean[] = [], stateDir?: string): Promise<{ pty: PtyPair; board: BoardEmulator; d: OutletDevice; stateDir: string }> {
    const pty = await ptyPair();
    const board = await new BoardEmulator(protocol, pty.boardPath, 8, initial).start();
    const dir = stateDir ?? (await mkdtemp(join(tmpdir(), 'ockle-relay-state-')));
    const d = serialRelayDriver.create(spec({ path: pty.driverPath, protocol }), makeDriverContext({ id: `relay-${protocol}`, stateDir: dir }));
    cleanup.push(() => pty.stop(), () => board.stop(), () => d.close());
    return { pty, board, d, stateDir: dir };
  }

  for (const protocol of ['numato', 'kmtronic'] as const) {
    describe(protocol, () => {
      it('reads all relays in one request and switches one', async () => {
        const { board, d } = await rig(protocol, [true, false, true]);
        await d.open(sig());
        expect(d.caps.readBack).toBe('real');
        expect([...(await d.read([1, 2, 3, 4], sig())).values()]).toEqual(['on', 'off', 'on', 'off']);
        await d.switch(2, 'on', sig());
        expect(board.accepted).toEqual(['2:on']);
        expect((await d.read([2], sig())).get(2)).toBe('on');
      });

      it('a corrupted reply is a typed error naming the protocol, and the next read works', async () => {
        const { board, d } = await rig(protocol, [true]);
        await d.open(sig());
        board.garbleNext = true;
        await expect(d.read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REPLY', hint: expect.stringMatching(`protocol = ${protocol}`) });
        expect((await d.read([1], sig())).get(1)).toBe('on');
      });

      it('a board that stops answering is unreachable after request_timeout', async () => {
        const { board, d } = await rig(protocol);
        await d.open(sig());
        board.silent = true;
        await expect(d.read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', message: expect.stringMatching(/no complete reply within 300 ms/) });
      });

      it('unplugged: unreachable while away; replugged: the port is reopened by itself', async () => {
        const { pty, d } = await rig(protocol, [false, true]);
        await d.open(sig());
        expect((await d.read([2], sig())).get(2)).toBe('on');
        await pty.unplug();
        await expect(d.read([2], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE' });
        await pty.replug();
        const again = await new BoardEmulator(protocol, pty.boardPath, 8, [false, true]).start();
        cleanup.push(() => again.stop());
        expect((await d.read([2], sig())).get(2)).toBe('on');
      });
    });
  }

  describe('lcus (no read-back)', () => {
    it('sends checksummed frames the board accepts; states are assumed, kept across a restart, unknown before', async () => {
      const { board, d, stateDir, pty } = await rig('lcus');
      await d.open(sig());
      expect(d.caps.readBack).toBe('assumed');
      expect((await d.read([1, 3], sig())).get(1)).toBe('unknown'); // never written: not guessed
      await d.switch(3, 'on', sig());
      await d.switch(1, 'off', sig());
      await new Promise((r) => setTimeout(r, 50));
      expect(board.accepted).toEqual(['3:on', '1:off']);
      expect(board.rejected).toBe(0);
      await d.close();
      // The daemon restarts: a new driver on the same state dir remembers, and writes nothing.
      const again = serialRelayDriver.create(spec({ path: pty.driverPath, protocol: 'lcus' }), makeDriverContext({ id: 'relay-lcus', stateDir }));
      cleanup.push(() => again.close());
      await again.open(sig());
      const states: Power[] = [...(await again.read([1, 2, 3], sig())).values()];
      expect(states).toEqual(['off', 'unknown', 'on']);
      await new Promise((r) => setTimeout(r, 50));
      expect(board.accepted).toHaveLength(2);
    });
  });
});

describePeer('serial-relay contract', ['socat'], () => {
  for (const protocol of ['numato', 'kmtronic'] as const)
    describeOutletDevice(`serial-relay (${protocol})`, async () => {
      const pty = await ptyPair();
      const board = await new BoardEmulator(protocol, pty.boardPath, 8, Array(8).fill(true)).start();
      const d = serialRelayDriver.create(spec({ path: pty.driverPath, protocol }), makeDriverContext({ id: `c-${protocol}` }));
      return {
        device: d,
        peer: { power: (n) => (board.relays[n - 1] ? 'on' : 'off'), writes: () => board.accepted.length },
        close: async () => {
          await board.stop();
          await pty.stop();
        },
      };
    });
});
