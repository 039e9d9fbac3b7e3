/**
 * `npm start` as an operator runs it: a SIGTERM (or the SIGINT of Ctrl-C) to npm's pid must stop
 * the daemon and free its port. npm 11 forwards SIGTERM and SIGINT to the child it spawned for the
 * script, which is `sh -c "<script>"`; dash, Debian's /bin/sh, dies of the signal without passing
 * it on, leaving the daemon running as an orphan. The script therefore `exec`s node, so npm's
 * child is the daemon itself.
 *
 * npm is invoked for real, with `--ignore-scripts` so its `prestart` (a full build) is skipped
 * while `start` still runs; dist/ must be built, as for the other process tests. The config is a
 * demo copy with port 0, passed after `--` (the last --config wins).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_INFO_FILE, type ApiInfo } from '../../src/config/paths.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves true when something accepts a TCP connection on the URL's port. */
function listening(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect({ host: hostname, port: Number(port) });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

describe('npm start', () => {
  let demo: DemoCopy;
  let npm: ChildProcess | undefined;
  let daemonPid: number | undefined;
  beforeEach(async () => {
    demo = await demoConfig();
  });
  afterEach(async () => {
    // Never leave a daemon behind, even when the test failed because one was left behind.
    if (daemonPid !== undefined && alive(daemonPid)) process.kill(daemonPid, 'SIGKILL');
    if (npm?.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
    await demo.cleanup();
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('a %s to the npm pid stops the daemon and closes its port', { timeout: 60_000 }, async (signal) => {
    const out: string[] = [];
    npm = spawn('npm', ['run', 'start', '--ignore-scripts', '--', '--config', demo.configDir], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NOTIFY_SOCKET: '', NO_UPDATE_NOTIFIER: '1', npm_config_update_notifier: 'false' },
    });
    npm.stdout!.on('data', (b: Buffer) => out.push(b.toString()));
    npm.stderr!.on('data', (b: Buffer) => out.push(b.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      npm!.on('exit', (code, signal) => resolve({ code, signal })),
    );

    let url: string | undefined;
    for (let i = 0; i < 1200 && url === undefined; i++) {
      if (npm.exitCode !== null) throw new Error(`npm exited early:\n${out.join('')}`);
      const file = join(demo.stateDir, API_INFO_FILE);
      if (existsSync(file)) {
        const info = JSON.parse(await readFile(file, 'utf8')) as ApiInfo;
        const res = await fetch(`${info.url}/api/health`).catch(() => undefined);
        if (res?.ok) ({ url, pid: daemonPid } = info);
      }
      if (url === undefined) await sleep(25);
    }
    if (url === undefined || daemonPid === undefined) throw new Error(`daemon not ready:\n${out.join('')}`);
    // It is npm that runs the script, and prestart (the build) was skipped.
    expect(out.join('')).toMatch(/> ockle@[^ ]+ start\n/);
    expect(out.join('')).not.toMatch(/> ockle@[^ ]+ prestart/);
    expect(daemonPid).not.toBe(npm.pid);

    npm.kill(signal);
    for (let i = 0; i < 200 && alive(daemonPid); i++) await sleep(25);
    expect(alive(daemonPid), `daemon ${daemonPid} still running 5 s after ${signal} to npm:\n${out.join('')}`).toBe(false);
    expect(await listening(url)).toBe(false);
    // npm waits for its child and reports how it ended: the daemon stops cleanly on either signal.
    expect(await exited).toEqual({ code: 0, signal: null });
  });
});
