/**
 * sd_notify through systemd-notify, received on a real unix datagram socket by a small
 * receiver that behaves like systemd (it closes the file descriptors a barrier passes).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { createNotifier } from '../../src/systemd.js';
import { describeWithPeers } from '../support/peers.js';

const RECEIVER = `
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg, fds, flags, addr = socket.recv_fds(s, 4096, 16)
    for fd in fds:
        os.close(fd)
    print(msg.decode().replace("\\n", "|"), flush=True)
`;

describeWithPeers('sd_notify', ['python3', 'systemd-notify'], () => {
  let dir: string;
  let receiver: ChildProcessWithoutNullStreams;
  let lines: string[];
  const until = async (pred: () => boolean): Promise<void> => {
    for (let i = 0; i < 400 && !pred(); i++) await new Promise((r) => setTimeout(r, 25));
  };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ockle-notify-'));
    lines = [];
    receiver = spawn('python3', ['-c', RECEIVER, join(dir, 'notify.sock')]);
    receiver.stdout.on('data', (b: Buffer) => lines.push(...b.toString().split('\n').filter((l) => l.trim() !== '')));
    await until(() => lines.includes('listening'));
  });
  afterEach(async () => {
    receiver.kill();
    await rm(dir, { recursive: true, force: true });
  });

  it('tells systemd READY with a status, WATCHDOG while healthy, and STOPPING', async () => {
    const env = { ...process.env, NOTIFY_SOCKET: join(dir, 'notify.sock'), WATCHDOG_USEC: '1000000' };
    const n = createNotifier({ env, log: silentLogger() });
    n.ready('serving http://127.0.0.1:8420');
    await until(() => lines.some((l) => l.includes('READY=1')));
    n.startWatchdog();
    await until(() => lines.some((l) => l.includes('WATCHDOG=1')));
    n.stopping();
    await until(() => lines.some((l) => l.includes('STOPPING=1')));
    n.close();
    const all = lines.join('\n');
    expect(all).toMatch(/READY=1/);
    expect(all).toMatch(/STATUS=serving http:\/\/127\.0\.0\.1:8420/);
    expect(all).toMatch(new RegExp(`MAINPID=${process.pid}`));
    expect(all).toMatch(/WATCHDOG=1/);
    expect(all).toMatch(/STOPPING=1/);
  });

  it('sends nothing and spawns nothing outside systemd', () => {
    const n = createNotifier({ env: {}, log: silentLogger(), binary: join(dir, 'does-not-exist') });
    n.ready();
    n.startWatchdog();
    n.close();
    expect(existsSync(join(dir, 'does-not-exist'))).toBe(false);
    expect(lines).toEqual(['listening']);
  });
});
