/**
 * sd_notify through systemd-notify, received on a real unix datagram socket by a small
 * receiver that behaves like systemd: it closes the file descriptors a barrier passes (which
 * releases systemd-notify) and stamps each datagram with its own CLOCK_MONOTONIC.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { createNotifier } from '../../src/systemd.js';
import { describePeer } from '../support/peers.js';

const RECEIVER = `
import socket, sys, os, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg, fds, flags, addr = socket.recv_fds(s, 4096, 16)
    for fd in fds:
        os.close(fd)
    if msg:
        print(msg.decode().replace("\\n", "|") + "|RECEIVED_MONOTONIC_USEC=" + str(time.monotonic_ns() // 1000), flush=True)
`;

describePeer('sd_notify', ['python3', 'systemd-notify'], () => {
  let dir: string;
  let sock: string;
  let receiver: ChildProcessWithoutNullStreams;
  let lines: string[];
  /** Waits for datagrams (bounded, so a missing one fails the expectation instead of hanging). */
  const until = async (pred: () => boolean): Promise<void> => {
    for (let i = 0; i < 400 && !pred(); i++) await new Promise((r) => setTimeout(r, 25));
  };
  const got = (field: string): boolean => lines.some((l) => l.split('|').includes(field));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ockle-notify-'));
    sock = join(dir, 'notify.sock');
    lines = [];
    receiver = spawn('python3', ['-c', RECEIVER, sock]);
    receiver.stdout.on('data', (b: Buffer) => lines.push(...b.toString().split('\n').filter((l) => l.trim() !== '')));
    await until(() => lines.includes('listening'));
  });
  afterEach(async () => {
    vi.useRealTimers();
    receiver.kill();
    await rm(dir, { recursive: true, force: true });
  });

  it('tells systemd READY with a status, WATCHDOG while healthy, and STOPPING, as the main PID', async () => {
    const n = createNotifier({ env: { ...process.env, NOTIFY_SOCKET: sock, WATCHDOG_USEC: '1000000' }, log: silentLogger() });
    // 1. Ready with the status line systemctl shows.
    n.ready('serving http://127.0.0.1:8420');
    await until(() => got('READY=1'));
    // 2. The watchdog pings on its own.
    n.startWatchdog();
    await until(() => got('WATCHDOG=1'));
    // 3. Stop.
    n.stopping();
    await until(() => got('STOPPING=1'));
    n.close();
    const ready = lines.find((l) => l.split('|').includes('READY=1'))!.split('|');
    expect(ready).toContain('STATUS=serving http://127.0.0.1:8420');
    expect(ready).toContain(`MAINPID=${process.pid}`);
    expect(got('WATCHDOG=1')).toBe(true);
    expect(got('STOPPING=1')).toBe(true);
  });

  it('sends a status line on its own', async () => {
    const n = createNotifier({ env: { ...process.env, NOTIFY_SOCKET: sock }, log: silentLogger() });
    n.status('reloading configuration');
    await until(() => got('STATUS=reloading configuration'));
    expect(got('STATUS=reloading configuration')).toBe(true);
    expect(got('READY=1')).toBe(false);
  });

  it('announces a reload with a CLOCK_MONOTONIC timestamp, then READY again', async () => {
    const n = createNotifier({ env: { ...process.env, NOTIFY_SOCKET: sock }, log: silentLogger() });
    n.reloading();
    await until(() => got('RELOADING=1'));
    n.ready('serving');
    await until(() => got('READY=1'));
    const fields = Object.fromEntries(
      lines.find((l) => l.split('|').includes('RELOADING=1'))!.split('|').map((f) => f.split('=') as [string, string]),
    );
    const sent = BigInt(fields.MONOTONIC_USEC!);
    const received = BigInt(fields.RECEIVED_MONOTONIC_USEC!);
    // Same clock as the receiver's time.monotonic_ns(): sent before received, and not an
    // epoch timestamp (which would be decades of microseconds ahead of the receiver).
    expect(sent).toBeLessThanOrEqual(received);
    expect(received - sent).toBeLessThan(60_000_000n);
  });

  it('pings every WATCHDOG_USEC/2 and skips the ping while unhealthy', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let healthy = false;
    const isHealthy = vi.fn(() => healthy);
    const n = createNotifier({ env: { ...process.env, NOTIFY_SOCKET: sock, WATCHDOG_USEC: '30000000' }, log: silentLogger() });
    n.startWatchdog(isHealthy);
    // 1. Half of 30 s: nothing before 15 s, one tick at 15 s.
    vi.advanceTimersByTime(14_999);
    expect(isHealthy).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(isHealthy).toHaveBeenCalledTimes(1);
    // 2. Two more unhealthy ticks, then a marker: no WATCHDOG=1 was sent before it.
    vi.advanceTimersByTime(30_000);
    n.status('marker');
    await until(() => got('STATUS=marker'));
    expect(isHealthy).toHaveBeenCalledTimes(3);
    expect(got('WATCHDOG=1')).toBe(false);
    // 3. Healthy again: the next tick pings.
    healthy = true;
    vi.advanceTimersByTime(15_000);
    await until(() => got('WATCHDOG=1'));
    expect(got('WATCHDOG=1')).toBe(true);
    n.close();
  });

  it('leaves the watchdog alone when WATCHDOG_PID names another process', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const isHealthy = vi.fn(() => true);
    const env = { ...process.env, NOTIFY_SOCKET: sock, WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(process.pid + 1) };
    const n = createNotifier({ env, log: silentLogger() });
    n.startWatchdog(isHealthy);
    vi.advanceTimersByTime(5_000);
    expect(isHealthy).not.toHaveBeenCalled();
    n.close();
  });

  it('sends nothing and spawns nothing outside systemd', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const isHealthy = vi.fn(() => true);
    const n = createNotifier({ env: { WATCHDOG_USEC: '1000000' }, log: silentLogger(), binary: join(dir, 'does-not-exist') });
    n.ready();
    n.stopping();
    n.startWatchdog(isHealthy);
    vi.advanceTimersByTime(5_000);
    n.close();
    expect(isHealthy).not.toHaveBeenCalled();
    expect(existsSync(join(dir, 'does-not-exist'))).toBe(false);
    expect(lines).toEqual(['listening']);
  });

  it('logs a failure to notify once at warn and keeps running', async () => {
    const records: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        records.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
        done();
      },
    });
    const n = createNotifier({ env: { NOTIFY_SOCKET: sock }, log: pino(sink), binary: join(dir, 'no-systemd-notify-here') });
    n.ready();
    n.status('a');
    n.stopping();
    // A missing binary fails all three spawns in the same tick, so by the time the first
    // record is in, the other two failures have been handled (and must not have logged).
    await until(() => records.length > 0);
    expect(records).toHaveLength(1);
    expect(records[0]!.level).toBe(40);
    expect(records[0]!.msg).toMatch(/^systemd-notify failed: .*check that the systemd package is installed/);
  });
});
