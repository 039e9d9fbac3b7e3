/**
 * Relays under the daemon: starting and restarting never toggles a relay; a board that cannot
 * report keeps its assumed state across a restart and is shown as assumed. An LCUS whose port
 * vanishes shows unreachable and unknown (reads send nothing to it), and once plugged back does
 * not show the state ockle last wrote: it may have reset. A 4-channel LCUS that answers the
 * status query is read from the board.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { modbusModule, type ModbusModule } from '../support/modbus-module.js';
import { describePeer } from '../support/peers.js';
import { ptyPair, type PtyPair } from '../support/pty.js';
import { BoardEmulator } from '../support/relay-boards.js';

/** Resolves once `ok()` holds, checking every 20 ms; fails after `ms`. */
async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describePeer('relays under the daemon', ['socat'], () => {
  let root: string | undefined;
  let m: ModbusModule | undefined;
  let pty: PtyPair | undefined;
  const boards: BoardEmulator[] = [];
  let daemon: Daemon | undefined;
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    for (const b of boards.splice(0)) await b.stop();
    await pty?.stop();
    pty = undefined;
    await m?.close();
    m = undefined;
    if (root) await rm(root, { recursive: true, force: true });
    root = undefined;
  });

  async function board(path: string, channels: number, initial: boolean[] = [], statusQuery = false): Promise<BoardEmulator> {
    const b = new BoardEmulator('lcus', path, channels, initial);
    b.statusQuery = statusQuery;
    boards.push(await b.start());
    return b;
  }

  /** A config directory with `devices` and `servers` files; returns its path. */
  async function lab(files: Record<string, string>): Promise<string> {
    root = await mkdtemp(join(tmpdir(), 'ockle-relay-lab-'));
    const dir = join(root, 'config');
    await mkdir(join(dir, 'devices'), { recursive: true });
    await mkdir(join(dir, 'servers'), { recursive: true });
    await writeFile(join(dir, 'ockle.ini'), '[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n');
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    return dir;
  }

  it('start, switch, restart: no relay toggles on start, and the assumed state survives', async () => {
    m = await modbusModule({ relays: 8, initial: [true, false] });
    pty = await ptyPair();
    const usbBoard = await board(pty.boardPath, 4);
    const dir = await lab({
      'devices/din.ini': `[device]\ntype = modbus-relay\nhost = 127.0.0.1\nport = ${m.port}\noutlets = 8\ncycle_delay = 0ms\n`,
      'devices/usb.ini': `[device]\ntype = serial-relay\nprotocol = lcus\npath = ${pty.driverPath}\noutlets = 4\n`,
      'servers/nas.ini': '[server]\noutlets = power\n[power]\ndevice = din\noutlet = 1\n',
      'servers/pi-2.ini': '[server]\noutlets = power\n[power]\ndevice = usb\noutlet = 2\n',
    });

    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    expect(m.writes).toHaveLength(0);
    expect(usbBoard.accepted).toHaveLength(0);
    expect(daemon.gateway.server('nas').state).toBe('OK');
    expect(daemon.gateway.server('pi-2').outlets[0]).toMatchObject({ power: 'unknown', readBack: 'assumed' });
    const usb = daemon.gateway.devices().find((d) => d.id === 'usb')!;
    expect(usb.readBack).toBe('assumed');

    const rec = await daemon.gateway.waitFor(daemon.gateway.request({ kind: 'on', targets: ['pi-2'], force: true, origin: 'api:test', reason: 'test' }).id);
    expect(rec.status).toBe('ok');
    await new Promise((r) => setTimeout(r, 50));
    expect(usbBoard.accepted).toEqual(['2:on']);

    await daemon.stop();
    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    await new Promise((r) => setTimeout(r, 50));
    expect(m.writes).toHaveLength(0);
    expect(usbBoard.accepted).toEqual(['2:on']); // nothing more
    expect(daemon.gateway.server('pi-2').outlets[0]).toMatchObject({ power: 'on', readBack: 'assumed' });
    expect(daemon.gateway.server('nas').state).toBe('OK');
  });

  it('an LCUS unplugged shows unreachable and unknown, reads writing nothing; plugged back, not the state last written', async () => {
    pty = await ptyPair();
    const first = await board(pty.boardPath, 2);
    const dir = await lab({
      'devices/usb.ini': `[device]\ntype = serial-relay\nprotocol = lcus\npath = ${pty.driverPath}\noutlets = 2\npoll_interval = 100ms\nretries = 0\n`,
      'servers/pi-2.ini': '[server]\noutlets = power\n[power]\ndevice = usb\noutlet = 2\n',
    });
    daemon = await Daemon.start({ configDir: dir, log: silentLogger() });
    const gw = daemon.gateway;
    const usb = () => gw.devices().find((d) => d.id === 'usb')!;
    const power = () => gw.server('pi-2').outlets[0]!.power;

    const on = await gw.waitFor(gw.request({ kind: 'on', targets: ['pi-2'], force: true, origin: 'api:test', reason: 'test' }).id);
    expect(on.status).toBe('ok');
    await new Promise((r) => setTimeout(r, 350)); // a few polls, and time for the frame to arrive
    expect(usb()).toMatchObject({ reachable: true, readBack: 'assumed' });
    expect(power()).toBe('on');
    expect(first.accepted).toEqual(['2:on']);
    expect(first.received).toBe(4); // the one switch frame; the polls sent nothing

    await pty.unplug();
    await until('usb unreachable', () => usb().reachable === false);
    expect(usb().error).toContain(`cannot open ${pty.driverPath}`);
    expect(power()).toBe('unknown');
    expect(gw.server('pi-2').state).toBe('UNKNOWN');
    const off = await gw.waitFor(gw.request({ kind: 'off', targets: ['pi-2'], force: true, origin: 'api:test', reason: 'test' }).id);
    expect(off.status).toBe('failed');
    expect(usb().reachable).toBe(false);
    expect(first.received).toBe(4);

    // Plugged back in; the board lost power, so every relay is off. ockle must not show "on".
    await pty.replug();
    const back = await board(pty.boardPath, 2);
    await until('usb reachable again', () => usb().reachable === true);
    await new Promise((r) => setTimeout(r, 350));
    expect(usb().reachable).toBe(true);
    expect(power()).toBe('unknown');
    expect(gw.server('pi-2').state).toBe('UNKNOWN');
    expect(back.received).toBe(0); // reopening and polling wrote nothing

    // A switch makes it known again.
    const again = await gw.waitFor(gw.request({ kind: 'on', targets: ['pi-2'], force: true, origin: 'api:test', reason: 'test' }).id);
    expect(again.status).toBe('ok');
    await until('the board took the frame', () => back.accepted.length > 0);
    expect(back.accepted).toEqual(['2:on']);
    expect(power()).toBe('on');
  });

  it('a 4-channel LCUS that answers the status query is read from the board: start sends status queries only', async () => {
    pty = await ptyPair();
    const lcus4 = await board(pty.boardPath, 4, [true, false, true, false], true);
    const dir = await lab({
      'devices/usb.ini': `[device]\ntype = serial-relay\nprotocol = lcus\npath = ${pty.driverPath}\noutlets = 4\n`,
      'servers/pi-1.ini': '[server]\noutlets = power\n[power]\ndevice = usb\noutlet = 1\n',
      'servers/pi-2.ini': '[server]\noutlets = power\n[power]\ndevice = usb\noutlet = 2\n',
    });
    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    const gw = daemon.gateway;
    await new Promise((r) => setTimeout(r, 50));
    expect(gw.devices().find((d) => d.id === 'usb')).toMatchObject({ reachable: true, readBack: 'real', details: { readBack: 'status query' } });
    expect(gw.server('pi-1').outlets[0]).toMatchObject({ power: 'on', readBack: 'real' });
    expect(gw.server('pi-2').outlets[0]).toMatchObject({ power: 'off', readBack: 'real' });
    expect(lcus4.accepted).toEqual([]);
    expect(lcus4.queries).toBeGreaterThanOrEqual(2); // asked on open, then read
    expect(lcus4.received).toBe(lcus4.queries); // FF bytes only: no switch frame

    const rec = await gw.waitFor(gw.request({ kind: 'on', targets: ['pi-2'], force: true, origin: 'api:test', reason: 'test' }).id);
    expect(rec.status).toBe('ok');
    await until('the board took the frame', () => lcus4.accepted.length > 0);
    expect(lcus4.accepted).toEqual(['2:on']);
    expect(gw.server('pi-2').outlets[0]!.power).toBe('on');
  });
});
