/**
 * Relays under the daemon: starting and restarting never toggles a relay; a board that cannot
 * report keeps its assumed state across a restart and is shown as assumed.
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

describePeer('relays under the daemon', ['socat'], () => {
  let root: string;
  let m: ModbusModule;
  let pty: PtyPair;
  let board: BoardEmulator;
  let daemon: Daemon | undefined;
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await board?.stop();
    await pty?.stop();
    await m?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('start, switch, restart: no relay toggles on start, and the assumed state survives', async () => {
    m = await modbusModule({ relays: 8, initial: [true, false] });
    pty = await ptyPair();
    board = await new BoardEmulator('lcus', pty.boardPath, 4).start();
    root = await mkdtemp(join(tmpdir(), 'ockle-relay-lab-'));
    const dir = join(root, 'config');
    await mkdir(join(dir, 'devices'), { recursive: true });
    await mkdir(join(dir, 'servers'), { recursive: true });
    await writeFile(join(dir, 'ockle.ini'), '[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n');
    await writeFile(join(dir, 'devices', 'din.ini'), `[device]\ntype = modbus-relay\nhost = 127.0.0.1\nport = ${m.port}\noutlets = 8\ncycle_delay = 0ms\n`);
    await writeFile(join(dir, 'devices', 'usb.ini'), `[device]\ntype = serial-relay\nprotocol = lcus\npath = ${pty.driverPath}\noutlets = 4\n`);
    await writeFile(join(dir, 'servers', 'nas.ini'), '[server]\noutlets = power\n[power]\ndevice = din\noutlet = 1\n');
    await writeFile(join(dir, 'servers', 'pi-2.ini'), '[server]\noutlets = power\n[power]\ndevice = usb\noutlet = 2\n');

    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    expect(m.writes).toHaveLength(0);
    expect(board.accepted).toHaveLength(0);
    expect(daemon.gateway.server('nas').state).toBe('OK');
    expect(daemon.gateway.server('pi-2').outlets[0]).toMatchObject({ power: 'unknown', readBack: 'assumed' });
    const usb = daemon.gateway.devices().find((d) => d.id === 'usb')!;
    expect(usb.readBack).toBe('assumed');

    const rec = await daemon.gateway.waitFor(daemon.gateway.request({ kind: 'on', targets: ['pi-2'], force: true, origin: 'api:test', reason: 'test' }).id);
    expect(rec.status).toBe('ok');
    await new Promise((r) => setTimeout(r, 50));
    expect(board.accepted).toEqual(['2:on']);

    await daemon.stop();
    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    await new Promise((r) => setTimeout(r, 50));
    expect(m.writes).toHaveLength(0);
    expect(board.accepted).toEqual(['2:on']); // nothing more
    expect(daemon.gateway.server('pi-2').outlets[0]).toMatchObject({ power: 'on', readBack: 'assumed' });
    expect(daemon.gateway.server('nas').state).toBe('OK');
  });
});
