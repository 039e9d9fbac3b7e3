/**
 * The `nut` UPS source against Debian's NUT: upsd with the dummy-ups driver on 127.0.0.1,
 * cross-checked with `upsc` (nut-client), a primary `upsmon` for the shutdown handshake, and
 * faults injected at the peer (upsd stopped, paused, its driver gone, wrong password).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NutReplyError, NutUnavailableError, quoteWord, splitWords } from '../../drivers/nut/client.js';
import { nutDriver, splitAlarms, type NutSpec } from '../../drivers/nut/index.js';
import type { UpsReading, UpsSource } from '../../drivers/types.js';
import { Secret } from '../../src/config/types.js';
import { DeviceUnreachableError, OperationAbortedError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { makeDriverContext } from '../support/driver-context.js';
import { NUT_USERS, startNut, type NutPeer } from '../support/nut.js';
import { describePeer } from '../support/peers.js';

const sig = (): AbortSignal => new AbortController().signal;

/** What ockle should read, derived from upsc's variables by NUT's own words. */
function expectedFromUpsc(v: Map<string, string>): Partial<UpsReading> {
  const flags = (v.get('ups.status') ?? '').split(' ').filter(Boolean);
  return {
    flags,
    lowBattery: flags.includes('LB'),
    forcedShutdown: flags.includes('FSD'),
    chargePct: Number(v.get('battery.charge')),
    runtimeS: Number(v.get('battery.runtime')),
    loadPct: Number(v.get('ups.load')),
    inputVolts: Number(v.get('input.voltage')),
  };
}

describe('nut driver: config checks and wire words (no peer)', () => {
  const spec = (o: Partial<NutSpec>): NutSpec =>
    ({ host: '127.0.0.1', port: 3493, ups: 'ups', username: undefined, password: undefined, mode: 'secondary', request_timeout: 1000, ...o }) as NutSpec;

  it('refuses a password without user, a user without password, and primary without a user', () => {
    expect(nutDriver.check!(spec({ password: new Secret('x') })).map((p) => p.key)).toEqual(['password']);
    expect(nutDriver.check!(spec({ username: 'u' })).map((p) => p.key)).toEqual(['username']);
    expect(nutDriver.check!(spec({ mode: 'primary' })).map((p) => p.key)).toEqual(['mode']);
    expect(nutDriver.check!(spec({ username: 'u', password: new Secret('p\nLOGOUT') })).map((p) => p.message)).toEqual(['password holds a line break']);
    expect(nutDriver.check!(spec({ username: 'u', password: new Secret('p'), mode: 'primary' }))).toEqual([]);
  });

  it('quotes words with spaces, quotes and backslashes, and reads them back', () => {
    for (const w of ['plain', 'two words', 'say "hi"', 'back\\slash', '']) expect(splitWords(`X ${quoteWord(w)} Y`)).toEqual(['X', w, 'Y']);
    expect(() => quoteWord('a\nb')).toThrow(RangeError);
  });

  it('splits bracketed ups.alarm texts into alarms, and keeps an unbracketed text whole', () => {
    expect(splitAlarms('[Replace battery!] [Fan failure]')).toEqual(['Replace battery!', 'Fan failure']);
    expect(splitAlarms('Replace battery!')).toEqual(['Replace battery!']);
    expect(splitAlarms('')).toEqual([]);
  });
});

describePeer('nut driver against a port that is not upsd (socat echoing what it gets)', ['socat'], () => {
  it('an echo is an unexpected answer to USERNAME: refused with a hint, and the password is never sent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ockle-nut-echo-'));
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const { port } = srv.address() as { port: number };
    await new Promise<void>((r) => srv.close(() => r()));
    const got = join(dir, 'received');
    // tee: what the client sends comes back to it, and is kept in a file.
    const echo = spawn('socat', [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `SYSTEM:tee -a ${got}`], { stdio: 'ignore' });
    const exited = new Promise((r) => echo.once('exit', r));
    const s = NUT_USERS.secondary;
    const ups = nutDriver.create(
      { host: '127.0.0.1', port, ups: 'rack-ups', username: s.user, password: new Secret(s.password), mode: 'secondary', request_timeout: 2000 },
      makeDriverContext({ id: 'ups-echo' }),
    );
    try {
      let err: unknown;
      for (let i = 0; i < 50; i++) {
        err = await ups.open(sig()).catch((e: unknown) => e);
        if (!(err instanceof DeviceUnreachableError)) break; // socat not listening yet
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(err).toMatchObject({ code: 'OCKLE_DEVICE_REPLY', message: expect.stringMatching(/unexpected answer to USERNAME/), hint: expect.stringMatching(/NUT upsd/) });
      expect(await readFile(got, 'utf8')).toBe(`USERNAME ${s.user}\n`);
    } finally {
      await ups.close();
      echo.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describePeer('nut driver against Debian upsd + dummy-ups', ['upsd', 'upsc', 'upsmon'], () => {
  let nut: NutPeer;
  beforeAll(async () => {
    nut = await startNut();
  }, 40_000);
  afterAll(async () => {
    await nut?.stop();
  });

  const make = (o: Partial<NutSpec> = {}, log = createLogger({ level: 'silent' })): UpsSource & { requests: number; connections: number } => {
    const s = NUT_USERS.secondary;
    const spec: NutSpec = {
      host: '127.0.0.1',
      port: nut.port,
      ups: nut.ups,
      username: s.user,
      password: new Secret(s.password),
      mode: 'secondary',
      request_timeout: 3000,
      ...o,
    };
    return nutDriver.create(spec, { ...makeDriverContext({ id: 'ups-nut' }), log }) as UpsSource & { requests: number; connections: number };
  };

  it('reads what upsc reads, in one LIST VAR per read, logged in as a monitor', async () => {
    const ups = make();
    try {
      await ups.open(sig());
      const before = ups.requests;
      const r = await ups.read(sig());
      expect(ups.requests - before).toBe(1);
      const upsc = await nut.upsc();
      expect(r).toMatchObject({ power: 'mains', ...expectedFromUpsc(upsc) });
      expect(r.flags).toEqual(['OL', 'CHRG']);
      expect(r.alarms).toEqual([]);
      expect(ups.info!()).toEqual({ model: `${upsc.get('device.mfr')} ${upsc.get('device.model')}`, firmware: upsc.get('ups.firmware'), details: { ups: nut.ups, driver: 'dummy-ups', serial: upsc.get('device.serial') } });
      // upsd counts ockle among the UPS's logged-in monitors (what upsmon primary waits for).
      expect(await nut.clients()).toEqual(['127.0.0.1']);
      expect('forcedShutdown' in ups).toBe(false);
    } finally {
      await ups.close();
    }
    expect(await nut.clients()).toEqual([]);
  });

  it('follows OL → OB → OB LB → OL as the UPS reports it, equal to upsc each time', async () => {
    const ups = make();
    const steps: [Record<string, string>, Partial<UpsReading>][] = [
      [{ 'ups.status': 'OB DISCHRG', 'battery.charge': '71', 'battery.runtime': '720', 'input.voltage': '0.0' }, { power: 'battery', lowBattery: false }],
      [{ 'ups.status': 'OB DISCHRG LB', 'battery.charge': '9', 'battery.runtime': '95' }, { power: 'battery', lowBattery: true }],
      [{ 'ups.status': 'OL CHRG', 'battery.charge': '12', 'battery.runtime': '140', 'input.voltage': '229.8' }, { power: 'mains', lowBattery: false }],
    ];
    try {
      await ups.open(sig());
      for (const [vars, want] of steps) {
        await nut.set(vars);
        const r = await ups.read(sig());
        expect(r).toMatchObject({ ...want, forcedShutdown: false, ...expectedFromUpsc(await nut.upsc()) });
      }
    } finally {
      await ups.close();
      await nut.set({ 'battery.charge': '100', 'battery.runtime': '1980', 'input.voltage': '231.5' });
    }
  });

  it('maps bypass, off and alarms; an unknown status word is unknown power, a value that is no number is left out', async () => {
    const ups = make();
    try {
      await ups.open(sig());
      await nut.set({ 'ups.status': 'OL BYPASS ALARM', 'ups.alarm': '[Bypass active] [Fan failure]' });
      expect(await ups.read(sig())).toMatchObject({ power: 'bypass', flags: ['OL', 'BYPASS', 'ALARM'], alarms: ['Bypass active', 'Fan failure'] });
      await nut.set({ 'ups.status': 'OFF', 'ups.alarm': '' });
      expect(await ups.read(sig())).toMatchObject({ power: 'off', alarms: [] });
      await nut.set({ 'ups.status': 'WAIT' });
      expect((await ups.read(sig())).power).toBe('unknown');
      // A value that is not a number is not reported (never NaN, never 0).
      await nut.set({ 'ups.status': 'OB DISCHRG', 'battery.charge': 'n/a', 'battery.runtime': '12,5' });
      const r = await ups.read(sig());
      expect(r).toMatchObject({ power: 'battery', loadPct: 23 });
      expect(r).not.toHaveProperty('chargePct');
      expect(r).not.toHaveProperty('runtimeS');
    } finally {
      await ups.close();
      await nut.set({ 'ups.status': 'OL CHRG', 'battery.charge': '100', 'battery.runtime': '1980' });
    }
  });

  it('a wrong password is refused with a hint, logs nothing of it, and leaves no login', async () => {
    const lines: string[] = [];
    const wrong = 'hunter2 "wrong"';
    const ups = make({ password: new Secret(wrong) }, createLogger({ level: 'trace', destination: { write: (s: string) => void lines.push(s) } }));
    try {
      const err = await ups.open(sig()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NutReplyError);
      expect(err).toMatchObject({ code: 'OCKLE_DEVICE_REPLY', nutCode: 'ACCESS-DENIED', hint: expect.stringMatching(/upsd\.users/) });
      const e = err as NutReplyError;
      for (const text of [e.message, e.hint ?? '', JSON.stringify(e), String(e.stack), ...lines, nut.upsdLog()]) {
        expect(text).not.toContain(wrong);
        expect(text).not.toContain('hunter2');
      }
      expect(await nut.clients()).toEqual([]);
      // The next read tries the whole login again, and is refused again.
      await expect(ups.read(sig())).rejects.toMatchObject({ nutCode: 'ACCESS-DENIED' });
    } finally {
      await ups.close();
    }
  });

  it('an unknown UPS name is refused with the names hint, logged in or not', async () => {
    for (const o of [{}, { username: undefined, password: undefined }]) {
      const ups = make({ ups: 'no-such-ups', ...o });
      try {
        await expect(ups.open(sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REPLY', nutCode: 'UNKNOWN-UPS', hint: expect.stringMatching(/upsc -l/) });
      } finally {
        await ups.close();
      }
    }
  });

  it('without a username it only reads: no login, so upsmon would not wait for it', async () => {
    const ups = make({ username: undefined, password: undefined });
    try {
      expect((await ups.read(sig())).power).toBe('mains');
      expect(await nut.clients()).toEqual([]);
    } finally {
      await ups.close();
    }
  });

  it('upsd stopped mid-read is DeviceUnreachableError; after its restart the next read logs in again', async () => {
    const ups = make();
    try {
      await ups.open(sig());
      // 1. upsd stops answering; a read goes on the wire; upsd dies without answering it.
      nut.pauseUpsd();
      const sent = ups.requests;
      const pending = ups.read(sig()).catch((e: unknown) => e);
      while (ups.requests === sent) await new Promise((r) => setTimeout(r, 10));
      await nut.stopUpsd('kill');
      expect(await pending).toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', message: expect.stringMatching(/connection closed \(during LIST VAR/) });
      // 2. While it is down: refused, still unreachable (never a reading).
      await expect(ups.read(sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', message: expect.stringMatching(/connection refused/) });
      // 3. Back: the next read reconnects and logs in again (upsd lists ockle once more).
      await nut.startUpsd();
      expect((await ups.read(sig())).power).toBe('mains');
      expect(await nut.clients()).toEqual(['127.0.0.1']);
    } finally {
      await ups.close();
      await nut.startUpsd();
    }
  });

  it('a hung upsd times out as unreachable; the read after it answers on a new connection', async () => {
    const ups = make({ request_timeout: 500 });
    try {
      await ups.open(sig());
      nut.pauseUpsd();
      try {
        await expect(ups.read(sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', message: expect.stringMatching(/no answer to LIST VAR/) });
      } finally {
        nut.resumeUpsd();
      }
      expect((await ups.read(sig())).power).toBe('mains');
    } finally {
      await ups.close();
    }
  });

  it('an aborted read rejects as aborted: before sending it sends nothing, on the wire it drops the connection', async () => {
    const ups = make();
    try {
      await ups.open(sig());
      const before = ups.requests;
      await expect(ups.read(AbortSignal.abort())).rejects.toBeInstanceOf(OperationAbortedError);
      expect(ups.requests).toBe(before);
      nut.pauseUpsd();
      const ac = new AbortController();
      const pending = ups.read(ac.signal).catch((e: unknown) => e);
      ac.abort();
      expect(await pending).toBeInstanceOf(OperationAbortedError);
      nut.resumeUpsd();
      expect((await ups.read(sig())).power).toBe('mains');
    } finally {
      nut.resumeUpsd();
      await ups.close();
    }
  });

  it('a read aborted while it waits its turn rejects at once, before the read on the wire settles, and is never sent', async () => {
    const ups = make();
    try {
      await ups.open(sig());
      const sent = ups.requests;
      const order: string[] = [];
      // 1. upsd hangs with one read on the wire; a second read waits behind it.
      nut.pauseUpsd();
      const first = ups.read(sig()).then(
        (r) => (order.push('first'), r),
        (e: unknown) => (order.push('first'), e),
      );
      const ac = new AbortController();
      const second = ups.read(ac.signal).catch((e: unknown) => (order.push('second'), e));
      // 2. The waiting one is aborted: it rejects while the first is still unanswered.
      ac.abort();
      expect(await second).toBeInstanceOf(OperationAbortedError);
      // 3. upsd answers the first; the second never reached it.
      nut.resumeUpsd();
      expect(await first).toMatchObject({ power: 'mains' });
      expect(order).toEqual(['second', 'first']);
      expect(ups.requests).toBe(sent + 1);
    } finally {
      nut.resumeUpsd();
      await ups.close();
    }
  });

  it('the UPS driver gone is DRIVER-NOT-CONNECTED (unreachable, not a power cut); it reads again once the driver is back', async () => {
    const ups = make();
    try {
      await ups.open(sig());
      await nut.stopDriver();
      const err = await ups.read(sig()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NutUnavailableError);
      expect(err).toBeInstanceOf(DeviceUnreachableError);
      expect(err).toMatchObject({ nutCode: 'DRIVER-NOT-CONNECTED', hint: expect.stringMatching(/driver/) });
      await nut.startDriver();
      expect((await ups.read(sig())).power).toBe('mains');
    } finally {
      await ups.close();
      await nut.startDriver();
    }
  });

  it('stale UPS data is DATA-STALE (unreachable, not a power cut), on the same login; fresh data reads again', async () => {
    const ups = make();
    try {
      await ups.open(sig());
      const logins = await nut.clients();
      const connections = ups.connections;
      await nut.staleDriver();
      const err = await ups.read(sig()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NutUnavailableError);
      expect(err).toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', nutCode: 'DATA-STALE', hint: expect.stringMatching(/no fresh data/) });
      // A refusal keeps the conversation in step: still logged in, nothing reconnected.
      expect(await nut.clients()).toEqual(logins);
      expect(ups.connections).toBe(connections);
      await nut.resumeDriver();
      expect((await ups.read(sig())).power).toBe('mains');
    } finally {
      await nut.resumeDriver();
      await ups.close();
    }
  });

  it('FSD: a primary raises it and upsc sees it; a secondary has no FSD, and a secondary user configured as primary is refused before any FSD', async () => {
    const p = NUT_USERS.primary;
    const s = NUT_USERS.secondary;
    const secondary = make();
    const misconfigured = make({ mode: 'primary' });
    const primary = make({ mode: 'primary', username: p.user, password: new Secret(p.password) });
    // upsd logs every FSD it accepts: "Client USER@ADDR set FSD on UPS [NAME]".
    const fsds = (): string[] => nut.upsdLog().split('\n').filter((l) => /set FSD on UPS/.test(l));
    const before = fsds().length;
    try {
      await secondary.open(sig());
      expect(secondary.forcedShutdown).toBeUndefined();
      await expect(misconfigured.open(sig())).rejects.toMatchObject({ nutCode: 'ACCESS-DENIED', message: expect.stringMatching(/PRIMARY/) });
      expect((await nut.upsc()).get('ups.status')).not.toMatch(/FSD/);
      expect(fsds()).toHaveLength(before);
      await primary.open(sig());
      await primary.forcedShutdown!(sig());
      expect((await nut.upsc()).get('ups.status')!.split(' ')).toContain('FSD');
      expect(fsds().slice(before)).toEqual([expect.stringContaining(`Client ${p.user}@127.0.0.1 set FSD on UPS [${nut.ups}]`)]);
      expect(await secondary.read(sig())).toMatchObject({ forcedShutdown: true, power: 'mains' });
      expect(s.password).not.toBe(p.password);
    } finally {
      await Promise.all([secondary.close(), misconfigured.close(), primary.close()]);
      // FSD is a latch in upsd until it restarts.
      await nut.stopUpsd();
      await nut.startUpsd();
    }
  });

  it('the primary upsmon waits for ockle to log out before it runs its shutdown command', async () => {
    const ups = make();
    const upsmon = await nut.startUpsmon({ hostsyncS: 40 });
    try {
      await ups.open(sig());
      // 1. The power fails and the battery runs low: upsmon primary raises FSD.
      await nut.set({ 'ups.status': 'OB DISCHRG LB', 'battery.charge': '8', 'battery.runtime': '90' });
      await upsmon.waitFor(/waiting for secondaries to logout/);
      // 2. ockle reads the FSD, and is still logged in beside upsmon.
      expect(await ups.read(sig())).toMatchObject({ power: 'battery', lowBattery: true, forcedShutdown: true });
      expect(await nut.clients()).toHaveLength(2);
      // 3. Held for a while (upsmon checks the logins every 250 ms): no shutdown yet.
      await new Promise((r) => setTimeout(r, 2000));
      expect(await upsmon.shutdownAt()).toBeNull();
      // 4. ockle logs out; only then does upsmon shut down.
      const loggingOut = Date.now();
      await ups.close();
      const shutdownAt = await upsmon.waitShutdown();
      expect(shutdownAt).toBeGreaterThanOrEqual(loggingOut);
      expect(upsmon.output()).not.toMatch(/Host sync timer expired/);
      // The one FSD upsd saw came from upsmon, none from ockle's secondary.
      expect(nut.upsdLog().split('\n').filter((l) => /set FSD on UPS/.test(l)).at(-1)).toContain(`Client ${NUT_USERS.upsmon.user}@`);
      expect(nut.upsdLog()).not.toMatch(new RegExp(`Client ${NUT_USERS.secondary.user}@\\S+ set FSD`));
    } finally {
      await ups.close();
      await upsmon.stop();
      // FSD is a latch in upsd until it restarts.
      await nut.stopUpsd();
      await nut.startUpsd();
      await nut.set({ 'ups.status': 'OL CHRG', 'battery.charge': '100', 'battery.runtime': '1980' });
    }
  }, 60_000);
});
