/**
 * serial-relay over a real pty pair (socat) with a board emulator on the far end, one per
 * protocol: the outlet-device contract, one request per read, a corrupted reply, a board that
 * stops answering, and an unplug then replug. LCUS boards cannot report: their assumed state is
 * kept on disk across restarts, and forgotten when the port fails or comes back as another
 * device node; reading one sends nothing but proves its port is there. The 4-channel LCUS
 * answers the FF status query: its relays are read from it.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BadFrameError, parseLcusStatus } from '../../drivers/serial-relay/codecs.js';
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

  interface Rig {
    pty: PtyPair;
    board: BoardEmulator;
    d: OutletDevice;
    stateDir: string;
    /** Another driver on the same port and state directory (a daemon restart). */
    again(): OutletDevice;
    /** Plugs a board back in at the same path: a new emulator, every relay off (as a board that lost power comes up). */
    replug(): Promise<BoardEmulator>;
  }

  async function rig(protocol: Protocol, initial: boolean[] = [], o: { outlets?: number; statusQuery?: boolean; over?: Partial<Record<keyof Spec, unknown>> } = {}): Promise<Rig> {
    const channels = o.outlets ?? 8;
    const pty = await ptyPair();
    const emulator = async (states: boolean[]): Promise<BoardEmulator> => {
      const b = new BoardEmulator(protocol, pty.boardPath, channels, states);
      b.statusQuery = o.statusQuery ?? false;
      await b.start();
      cleanup.push(() => b.stop());
      return b;
    };
    const board = await emulator(initial);
    const stateDir = await mkdtemp(join(tmpdir(), 'ockle-relay-state-'));
    const make = (): OutletDevice => {
      const dev = serialRelayDriver.create(spec({ path: pty.driverPath, protocol, outlets: channels, ...o.over }), makeDriverContext({ id: `relay-${protocol}`, stateDir }));
      cleanup.push(() => dev.close());
      return dev;
    };
    cleanup.unshift(() => pty.stop());
    const d = make();
    return {
      pty,
      board,
      d,
      stateDir,
      again: make,
      replug: async () => {
        await pty.replug();
        return emulator([]);
      },
    };
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
      const { board, d, again } = await rig('lcus');
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
      const d2 = again();
      await d2.open(sig());
      const states: Power[] = [...(await d2.read([1, 2, 3], sig())).values()];
      expect(states).toEqual(['off', 'unknown', 'on']);
      await new Promise((r) => setTimeout(r, 50));
      expect(board.accepted).toHaveLength(2);
      expect(board.received).toBe(8); // the two frames, nothing on open or read
    });

    it('a read proves the port is there without a byte sent: unplugged, it throws; replugged, the old state is not shown', async () => {
      const { pty, board, d, again, replug } = await rig('lcus', [], { outlets: 2 });
      await d.open(sig());
      await d.switch(2, 'on', sig());
      for (let i = 0; i < 3; i++) expect((await d.read([1, 2], sig())).get(2)).toBe('on');
      await new Promise((r) => setTimeout(r, 50));
      expect(board.received).toBe(4); // the one switch frame: reads send nothing

      await pty.unplug();
      const err = await d.read([1, 2], sig()).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', message: expect.stringContaining(`cannot open ${pty.driverPath}`), hint: expect.stringContaining(`that ${pty.driverPath} exists`) });
      await expect(d.read([2], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE' });
      await expect(d.switch(2, 'off', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', message: expect.stringContaining('cannot open') });
      expect(board.received).toBe(4);

      // Back, reset to all off: reachable again, and relay 2 is not shown as the "on" last written.
      const back = await replug();
      expect([...(await d.read([1, 2], sig())).values()]).toEqual(['unknown', 'unknown']);
      // Forgotten on disk too: a restart does not bring the old state back.
      await d.close();
      const d2 = again();
      expect([...(await d2.read([1, 2], sig())).values()]).toEqual(['unknown', 'unknown']);
      await new Promise((r) => setTimeout(r, 50));
      expect(back.received).toBe(0); // reopening wrote nothing
      // A switch makes the relay known again.
      await d2.switch(2, 'on', sig());
      expect((await d2.read([2], sig())).get(2)).toBe('on');
      await new Promise((r) => setTimeout(r, 50));
      expect(back.accepted).toEqual(['2:on']);
    });

    it('unplugged and plugged back between two reads: the port is replaced and the old state forgotten', async () => {
      const { pty, d, replug } = await rig('lcus', [], { outlets: 2 });
      await d.open(sig());
      await d.switch(1, 'on', sig());
      await pty.unplug();
      const back = await replug();
      // No read saw the board gone; the device node is another one, so the port is reopened.
      expect([...(await d.read([1, 2], sig())).values()]).toEqual(['unknown', 'unknown']);
      await d.switch(2, 'on', sig());
      await new Promise((r) => setTimeout(r, 50));
      expect(back.accepted).toEqual(['2:on']);
      expect([...(await d.read([1, 2], sig())).values()]).toEqual(['unknown', 'on']);
    });

    it('replugged while the daemon was stopped: the state written on the old device node is not adopted', async () => {
      const { pty, d, again, replug } = await rig('lcus', [], { outlets: 2 });
      await d.open(sig());
      await d.switch(1, 'on', sig());
      await d.close();
      await pty.unplug();
      const back = await replug();
      const d2 = again();
      await d2.open(sig());
      expect([...(await d2.read([1, 2], sig())).values()]).toEqual(['unknown', 'unknown']);
      await new Promise((r) => setTimeout(r, 50));
      expect(back.received).toBe(0);
    });
  });

  describe('lcus-4 status query', () => {
    it('a 4-relay LCUS that answers FF is read from the board: only status queries go out', async () => {
      const { board, d } = await rig('lcus', [false, true, false, true], { outlets: 4, statusQuery: true });
      expect(d.caps.readBack).toBe('assumed'); // not known until the port is open
      await d.open(sig());
      expect(d.caps.readBack).toBe('real');
      expect([...(await d.read([1, 2, 3, 4], sig())).values()]).toEqual(['off', 'on', 'off', 'on']);
      board.relays[0] = true; // switched by hand, or by anything else: it shows
      expect((await d.read([1], sig())).get(1)).toBe('on');
      await new Promise((r) => setTimeout(r, 50));
      expect(board.queries).toBe(3); // once on open, once per read
      expect(board.received).toBe(3); // and nothing else
      expect(board.accepted).toEqual([]);
      await d.switch(3, 'on', sig());
      expect((await d.read([3], sig())).get(3)).toBe('on');
      await new Promise((r) => setTimeout(r, 50));
      expect(board.accepted).toEqual(['3:on']);
      expect(board.received).toBe(3 + 4 + 1);
    });

    it('a board that does not answer is assumed, after one query; status_query = no never asks', async () => {
      const { board, d } = await rig('lcus', [], { outlets: 4 });
      await d.open(sig());
      expect(d.caps.readBack).toBe('assumed');
      expect([...(await d.read([1, 2], sig())).values()]).toEqual(['unknown', 'unknown']);
      await new Promise((r) => setTimeout(r, 50));
      expect(board.queries).toBe(1);
      expect(board.received).toBe(1);
      expect(board.accepted).toEqual([]);

      const quiet = await rig('lcus', [true], { outlets: 4, statusQuery: true, over: { status_query: 'no' } });
      await quiet.d.open(sig());
      expect(quiet.d.caps.readBack).toBe('assumed');
      expect((await quiet.d.read([1], sig())).get(1)).toBe('unknown');
      await new Promise((r) => setTimeout(r, 50));
      expect(quiet.board.received).toBe(0);
    });

    it('status_query = yes: a board that does not answer is unreachable, with the fix in the hint', async () => {
      const { d } = await rig('lcus', [], { outlets: 4, over: { status_query: 'yes' } });
      await d.open(sig());
      expect(d.caps.readBack).toBe('real');
      await expect(d.read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', hint: expect.stringContaining('status_query = no') });
    });

    it('a corrupted status reply is a reply error; the next read works', async () => {
      const { board, d } = await rig('lcus', [true], { outlets: 4, statusQuery: true });
      await d.open(sig());
      board.garbleNext = true;
      board.garbleAt = 5; // the O of "CH1: ON"
      await expect(d.read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REPLY', hint: expect.stringContaining('protocol = lcus') });
      expect((await d.read([1], sig())).get(1)).toBe('on');
    });

    it('unplugged: unreachable; replugged after a reset: reads what the board says, all off', async () => {
      const { pty, board, d, replug } = await rig('lcus', [true, true], { outlets: 4, statusQuery: true });
      await d.open(sig());
      expect((await d.read([1, 2], sig())).get(1)).toBe('on');
      await pty.unplug();
      await expect(d.read([1, 2], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE' });
      const back = await replug();
      back.statusQuery = true;
      expect([...(await d.read([1, 2], sig())).values()]).toEqual(['off', 'off']);
      expect(board.accepted).toEqual([]);
      expect(back.accepted).toEqual([]);
    });
  });
});

describe('LCUS status reply', () => {
  it('takes the spacings firmwares use, and waits for every relay', () => {
    expect(parseLcusStatus('CH1: OFF\r\nCH2: ON\r\nCH3: OFF\r\nCH4: ON\r\n', 4)).toEqual([false, true, false, true]);
    expect(parseLcusStatus('CH1:OFF \r\nCH2:ON \r\n', 2)).toEqual([false, true]);
    expect(parseLcusStatus('CH1:OFFCH2:ONCH3:ONCH4:OFF', 4)).toEqual([false, true, true, false]);
    expect(parseLcusStatus('CH1: ON\r\nCH2: OFF\r\nCH3: ON\r\nCH4: OFF\r\n', 2)).toEqual([true, false]);
    for (const partial of ['', 'C', 'CH1: ON\r\nCH', 'CH1: ON\r\nCH2', 'CH1: ON\r\nCH2: ', 'CH1: ON\r\nCH2: OF']) expect(parseLcusStatus(partial, 2)).toBeNull();
  });
  it('anything else is a malformed reply', () => {
    for (const bad of ['CH1: OX\r\n', '\x01\x00\x01\x00', 'OK\r\n', 'CH1: ON\r\nCH2:: ON']) expect(() => parseLcusStatus(bad, 2), bad).toThrow(BadFrameError);
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
