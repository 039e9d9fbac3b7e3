/**
 * Relay benchmark: `npm run bench -- relays`. Reading all 16 relays of a Modbus TCP module
 * (modbus-serial's ServerTCP on 127.0.0.1) and of a Numato-protocol serial board (emulator on a
 * socat pty pair): ockle's one-request read against one request per relay with the same
 * transport, and for Modbus against Debian's `mbpoll` reading the same 16 coils.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { modbusRelayDriver } from '../drivers/modbus-relay/index.js';
import { serialRelayDriver } from '../drivers/serial-relay/index.js';
import type { OutletDevice } from '../drivers/types.js';
import { silentLogger } from '../src/log.js';
import { modbusModule } from '../test/support/modbus-module.js';
import { ptyPair } from '../test/support/pty.js';
import { BoardEmulator } from '../test/support/relay-boards.js';
import { templateDefaults, time } from './timing.js';

const RELAYS = 16;


export async function benchRelays(): Promise<string[]> {
  const rows: string[] = [];
  const line = (s: string): void => {
    console.log(s);
    rows.push(s);
  };
  const stateDir = mkdtempSync(join(tmpdir(), 'ockle-bench-relays-'));
  const ctx = (id: string) => ({ id, log: silentLogger(), stateDir, shared: <X>(_k: string, init: () => X): X => init() });
  const signal = new AbortController().signal;
  const all = Array.from({ length: RELAYS }, (_, i) => i + 1);
  line(`\nrelays: read all ${RELAYS} relays of one board; medians`);

  // Modbus TCP
  const m = await modbusModule({ relays: RELAYS, initial: all.map((n) => n % 3 === 0) });
  const spec = { ...templateDefaults(modbusRelayDriver.template), outlets: RELAYS, host: '127.0.0.1', port: m.port };
  const dev = modbusRelayDriver.create(spec as never, ctx('mb')) as OutletDevice;
  const one = modbusRelayDriver.create({ ...spec, outlets: RELAYS } as never, ctx('mb1')) as OutletDevice;
  try {
    await dev.open(signal);
    await one.open(signal);
    for (let i = 0; i < 20; i++) await dev.read(all, signal);
    const ockle = await time(200, () => dev.read(all, signal));
    const perRelay = await time(50, async () => {
      for (const n of all) await one.read([n], signal);
    });
    line(`modbus TCP   ockle ${ockle.toFixed(3).padStart(7)} ms (1 FC1 request)   one request per relay ${perRelay.toFixed(3).padStart(7)} ms   ×${(perRelay / ockle).toFixed(1)}`);
    try {
      const run = promisify(execFile);
      const mb = async (): Promise<void> => {
        await run('mbpoll', ['-m', 'tcp', '-p', String(m.port), '-a', '1', '-t', '0', '-r', '1', '-c', String(RELAYS), '-1', '127.0.0.1']);
      };
      await mb();
      const mbpoll = await time(20, mb);
      line(`             vs mbpoll -t 0 -c ${RELAYS} (a process per read) ${mbpoll.toFixed(2).padStart(7)} ms   ×${(mbpoll / ockle).toFixed(0)}`);
    } catch (err) {
      line(`             (mbpoll not run: ${(err as Error).message.split('\n')[0]}; apt-get install mbpoll)`);
    }
  } finally {
    await dev.close();
    await one.close();
    await m.close();
  }

  // Serial (Numato protocol on a pty pair)
  try {
    const pty = await ptyPair();
    const board = await new BoardEmulator('numato', pty.boardPath, RELAYS, all.map((n) => n % 2 === 0)).start();
    const sspec = { ...templateDefaults(serialRelayDriver.template), outlets: RELAYS, path: pty.driverPath, protocol: 'numato' };
    const s = serialRelayDriver.create(sspec as never, ctx('ser')) as OutletDevice;
    try {
      await s.open(signal);
      for (let i = 0; i < 20; i++) await s.read(all, signal);
      const ockle = await time(100, () => s.read(all, signal));
      // One `relay read N` per relay, the way a per-relay poller does it, written in the bench.
      const { SerialPort } = await import('serialport');
      await s.close();
      const port = new SerialPort({ path: pty.driverPath, baudRate: 9600, autoOpen: false });
      await new Promise<void>((r, j) => port.open((e) => (e ? j(e) : r())));
      let rx = '';
      port.on('data', (b: Buffer) => (rx += b.toString('latin1')));
      const readOne = (n: number): Promise<void> =>
        new Promise((resolve) => {
          rx = '';
          port.write(`relay read ${(n - 1).toString(32).toUpperCase()}\r`);
          const poll = (): void => void (rx.includes('>') ? resolve() : setImmediate(poll));
          poll();
        });
      const perRelay = await time(30, async () => {
        for (const n of all) await readOne(n);
      });
      await new Promise<void>((r) => port.close(() => r()));
      line(`serial       ockle ${ockle.toFixed(3).padStart(7)} ms (1 readall)        one "relay read N" per relay ${perRelay.toFixed(3).padStart(7)} ms   ×${(perRelay / ockle).toFixed(1)}`);
    } finally {
      await s.close();
      await board.stop();
      await pty.stop();
    }
  } catch (err) {
    line(`serial: not run (${(err as Error).message.split('\n')[0]}; apt-get install socat)`);
  }
  rmSync(stateDir, { recursive: true, force: true });
  return rows;
}
