/**
 * A real pty pair from Debian's socat: what one end writes, the other reads, like a USB serial
 * board and its cable. `unplug()` ends socat (both ends close, as when a board is pulled);
 * `replug()` brings the same two paths back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PtyPair {
  /** The driver's end (the board's device node, as /dev/ttyUSB0 would be). */
  readonly driverPath: string;
  /** The board emulator's end. */
  readonly boardPath: string;
  unplug(): Promise<void>;
  replug(): Promise<void>;
  stop(): Promise<void>;
}

function isLink(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

export async function ptyPair(): Promise<PtyPair> {
  const dir = await mkdtemp(join(tmpdir(), 'ockle-pty-'));
  const driverPath = join(dir, 'ttyDRIVER');
  const boardPath = join(dir, 'ttyBOARD');
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    const c = spawn('socat', [`pty,raw,echo=0,link=${driverPath}`, `pty,raw,echo=0,link=${boardPath}`], { stdio: 'ignore' });
    child = c;
    for (let i = 0; i < 300 && !(existsSync(driverPath) && existsSync(boardPath)); i++) {
      if (c.exitCode !== null) throw new Error(`socat exited with ${c.exitCode}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    if (!existsSync(driverPath)) throw new Error('socat did not create the pty pair');
  };
  const end = async (): Promise<void> => {
    const c = child;
    child = null;
    if (c && c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await gone;
      // socat unlinks its links as it exits: give it the moment it takes.
      for (let i = 0; i < 100 && (isLink(driverPath) || isLink(boardPath)); i++) await new Promise((r) => setTimeout(r, 10));
    }
    // Unplugged means both names are gone, as udev removes a board's by-id link, even when socat
    // died without unlinking them (killed): the check is on the links themselves (lstat), since a
    // link left dangling could come to name another process's pty once its number is reused.
    await rm(driverPath, { force: true });
    await rm(boardPath, { force: true });
  };
  await start();
  return {
    driverPath,
    boardPath,
    unplug: end,
    replug: start,
    stop: async () => {
      await end();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
