/**
 * The wall clock stepped under a running daemon (a Pi after a power cut: fake-hwclock, then
 * NTP), through Debian's libfaketime preloaded into the real daemon process, with the
 * monotonic clock left alone (as a real step leaves it). Stepped back an hour, the daemon goes
 * on answering and numbering actions; stepped forward two hours during a boot wait, the wait
 * still lasts its whole boot_timeout. Writes are counted at the sim PDU.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { API_INFO_FILE, LOCAL_TOKEN_FILE, type ApiInfo } from '../../src/config/paths.js';
import type { ActionRecord } from '../../src/core/model.js';
import { REPO } from '../support/demo.js';
import { makeLab, type Lab } from '../support/lab.js';
import { describePeer } from '../support/peers.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

/** Where Debian's libfaketime is (found through dpkg, not named here). */
function libfaketime(): string | null {
  try {
    return execFileSync('dpkg', ['-L', 'libfaketime'], { encoding: 'utf8' }).split('\n').find((l) => l.endsWith('/libfaketime.so.1')) ?? null;
  } catch {
    return null;
  }
}

describePeer('a stepped wall clock', ['faketime', 'dpkg'], () => {
  let lab: Lab | undefined;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
    }
    child = undefined;
    await lab?.cleanup();
    lab = undefined;
  });

  it('steps back an hour and forward two: actions go on, ids keep growing, a boot wait lasts its whole boot_timeout', async () => {
    const lib = libfaketime();
    expect(lib, 'libfaketime.so.1 (apt-get install faketime)').not.toBeNull();
    lab = await makeLab({
      a: { noControls: true, noTests: true },
      b: { noControls: true, faults: ['never_boots'], extra: 'boot_timeout = 4s\nmax_attempts = 1' },
    });
    const offset = join(lab.stateDir, '..', 'clock-offset');
    await writeFile(offset, '+0\n');
    const out: string[] = [];
    child = spawn(process.execPath, [MAIN, 'daemon', '--config', lab.configDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NOTIFY_SOCKET: '', LD_PRELOAD: lib!, FAKETIME_TIMESTAMP_FILE: offset, FAKETIME_NO_CACHE: '1', DONT_FAKE_MONOTONIC: '1' },
    });
    child.stdout!.on('data', (b: Buffer) => out.push(b.toString()));
    child.stderr!.on('data', (b: Buffer) => out.push(b.toString()));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child!.once('exit', (code, sig) => r([code, sig])));
    let url = '';
    for (let i = 0; i < 400 && !url; i++) {
      const f = join(lab.stateDir, API_INFO_FILE);
      if (existsSync(f)) url = (JSON.parse(await readFile(f, 'utf8')) as ApiInfo).url;
      else await new Promise((r) => setTimeout(r, 25));
    }
    expect(url, out.join('')).not.toBe('');
    const token = (await readFile(join(lab.stateDir, LOCAL_TOKEN_FILE), 'utf8')).trim();
    const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(5000),
      });
      return (await res.json()) as T;
    };
    const act = async (action: string, targets: string[], force: boolean): Promise<ActionRecord> =>
      (await api<{ action: ActionRecord }>('POST', '/api/actions', { action, targets, force, reason: 'clock' })).action;
    const wait = (id: string): Promise<ActionRecord> => api<ActionRecord>('GET', `/api/actions/${id}?wait=1`);
    const settle = async (id: string): Promise<ActionRecord> => {
      let r = await wait(id);
      while (r.status === 'running') r = await wait(id);
      return r;
    };

    const first = await settle((await act('on', ['a'], true)).id);
    expect(first.status).toBe('ok');
    await writeFile(offset, '-1h\n'); // NTP steps the clock back an hour
    await new Promise((r) => setTimeout(r, 100));
    const second = await act('off', ['a'], true);
    expect(second.id > first.id).toBe(true);
    expect(Date.parse(second.requestedAt)).toBeLessThan(Date.parse(first.requestedAt)); // the wall clock says what it says
    expect((await settle(second.id)).status).toBe('ok');
    expect((await api<{ status: string }>('GET', '/api/health')).status).toBe('ok');

    // b never boots. Its boot wait must last its whole boot_timeout (4 s) even though the wall
    // clock jumps two hours ahead a moment after it began.
    const t0 = performance.now();
    const boot = await act('on', ['b'], false);
    await new Promise((r) => setTimeout(r, 500));
    await writeFile(offset, '+1h\n');
    const done = await settle(boot.id);
    const waited = performance.now() - t0;
    expect(done.status).toBe('failed');
    expect(done.error?.message).toBe('b: tests did not pass within boot_timeout 4.0 s');
    expect(waited).toBeGreaterThanOrEqual(3900);
    const sim = JSON.parse(await readFile(join(lab.stateDir, 'sim', 'pdu-1.json'), 'utf8')) as { log: { outlet: number; action: string }[] };
    expect(sim.log.filter((w) => w.outlet === 2).map((w) => w.action)).toEqual(['on']);

    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
  }, 60_000);
});
