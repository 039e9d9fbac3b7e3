/**
 * One transaction at a time on a serial bus, through the daemon: four servers on one Modbus RTU
 * relay module behind a socat pty pair, switched on by one forced action. The module (the
 * modbus-serial RTU server) counts the requests in progress: a bus that got two at once would
 * show a peak above 1, or garbled frames and failed switches.
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

describePeer('a serial bus under the daemon', ['socat'], () => {
  let root: string | undefined;
  let m: ModbusModule | undefined;
  let pty: PtyPair | undefined;
  let daemon: Daemon | undefined;
  let board: BoardEmulator | undefined;
  afterEach(async () => {
    await daemon?.stop();
    await board?.stop();
    board = undefined;
    await m?.close();
    await pty?.stop();
    if (root) await rm(root, { recursive: true, force: true });
    daemon = m = pty = root = undefined;
  });

  const names = ['n1', 'n2', 'n3', 'n4'];
  /** Four servers n1–n4, on the `device:outlet` given for each, with these device files. */
  async function lab(devices: Record<string, string>, outlets: readonly string[]): Promise<Daemon> {
    root = await mkdtemp(join(tmpdir(), 'ockle-bus-'));
    const dir = join(root, 'config');
    await mkdir(join(dir, 'devices'), { recursive: true });
    await mkdir(join(dir, 'servers'), { recursive: true });
    await writeFile(join(dir, 'ockle.ini'), '[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n');
    for (const [id, text] of Object.entries(devices)) await writeFile(join(dir, 'devices', `${id}.ini`), text);
    for (const [i, n] of names.entries()) {
      const [device, outlet] = outlets[i]!.split(':');
      await writeFile(join(dir, 'servers', `${n}.ini`), `[server]\noutlets = power\n[power]\ndevice = ${device}\noutlet = ${outlet}\n`);
    }
    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    return daemon;
  }

  it('a Modbus RTU bus gets one transaction at a time: two devices on one bus, one forced on of four servers', async () => {
    pty = await ptyPair();
    m = await modbusModule({ relays: 4, transport: { path: pty.boardPath }, serveMs: 25 });
    // Two devices on the same RS-485 line (here: two halves of one module): each has its own
    // queue in the daemon, so only the shared bus keeps their transactions apart.
    const rtu = (first: number): string =>
      `[device]\ntype = modbus-relay\ntransport = rtu\npath = ${pty!.driverPath}\nfirst_address = ${first}\noutlets = 2\nrequest_timeout = 1s\ntimeout = 2s\nretries = 0\nconfirm_timeout = 3s\n`;
    const d = await lab({ 'bus-a': rtu(0), 'bus-b': rtu(2) }, ['bus-a:1', 'bus-a:2', 'bus-b:1', 'bus-b:2']);
    expect(m.writes).toEqual([]);
    m.peak = 0;
    const rec = await d.gateway.waitFor(d.gateway.request({ kind: 'on', targets: names, force: true, origin: 'api:test', reason: 'test' }).id);
    expect(rec.status).toBe('ok');
    expect(m.writes.map((w) => w.addr).sort()).toEqual([0, 1, 2, 3]);
    expect(m.coils).toEqual([true, true, true, true]);
    expect(m.peak).toBe(1);
  });

  it('a serial relay board gets one transaction at a time: one forced on of four servers on a KMTronic board', async () => {
    pty = await ptyPair();
    board = await new BoardEmulator('kmtronic', pty.boardPath, 4).start();
    const d = await lab({ bus: `[device]\ntype = serial-relay\nprotocol = kmtronic\npath = ${pty.driverPath}\noutlets = 4\nrequest_timeout = 500ms\ntimeout = 1s\nretries = 0\nconfirm_timeout = 2s\n` }, ['bus:1', 'bus:2', 'bus:3', 'bus:4']);
    const before = board.accepted.length;
    const rec = await d.gateway.waitFor(d.gateway.request({ kind: 'on', targets: names, force: true, origin: 'api:test', reason: 'test' }).id);
    expect(rec.status).toBe('ok');
    expect(board.accepted.slice(before).sort()).toEqual(['1:on', '2:on', '3:on', '4:on']);
    expect(board.rejected).toBe(0);
    expect(board.relays).toEqual([true, true, true, true]);
  });

  it('a relay unknown after its board was replugged is switched off by a sequenced off, never taken for "already off"', async () => {
    pty = await ptyPair();
    board = await new BoardEmulator('lcus', pty.boardPath, 2).start();
    root = await mkdtemp(join(tmpdir(), 'ockle-bus-'));
    const dir = join(root, 'config');
    await mkdir(join(dir, 'devices'), { recursive: true });
    await mkdir(join(dir, 'servers'), { recursive: true });
    await writeFile(join(dir, 'ockle.ini'), '[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n[plugins]\nenabled = auto-control\n');
    await writeFile(join(dir, 'devices', 'usb.ini'), `[device]\ntype = serial-relay\nprotocol = lcus\npath = ${pty.driverPath}\noutlets = 2\npoll_interval = 100ms\nretries = 0\n`);
    await writeFile(join(dir, 'servers', 'pi-2.ini'), '[server]\noutlets = power\n[power]\ndevice = usb\noutlet = 2\n');
    daemon = await Daemon.start({ configDir: dir, log: silentLogger() });
    const gw = daemon.gateway;
    expect((await gw.waitFor(gw.request({ kind: 'on', targets: ['pi-2'], force: true, origin: 'api:test', reason: 'test' }).id)).status).toBe('ok');
    // Unplugged and back: a board with its own relay supply keeps relay 2 on; ockle cannot know.
    const relays = [...board.relays];
    await board.stop();
    await pty.unplug();
    for (let i = 0; i < 250 && gw.devices()[0]!.reachable !== false; i++) await new Promise((r) => setTimeout(r, 20));
    await pty.replug();
    board = await new BoardEmulator('lcus', pty.boardPath, 2, relays).start();
    for (let i = 0; i < 250 && gw.devices()[0]!.reachable !== true; i++) await new Promise((r) => setTimeout(r, 20));
    expect(gw.server('pi-2').outlets[0]!.power).toBe('unknown');
    const off = await gw.waitFor(gw.request({ kind: 'off', targets: ['pi-2'], force: false, origin: 'api:test', reason: 'test' }).id);
    expect(off.status).toBe('ok');
    for (let i = 0; i < 50 && board.accepted.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(board.accepted).toEqual(['2:off']);
    expect(board.relays).toEqual([false, false]);
    expect(off.steps.some((x) => x.op === 'already')).toBe(false);
  });
});

