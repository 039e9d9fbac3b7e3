/**
 * Ctrl-C on `ockle on|off|cycle`: the sequence runs in the daemon, not in the CLI, so the CLI
 * prints the action id once the action is accepted, and on SIGINT/SIGTERM says the action goes
 * on (and how to stop it), or cancels it with --cancel-on-interrupt. The real CLI (dist/, as
 * `npm test` builds it) runs as a child process against a real daemon, on a lab whose first
 * server takes a minute to boot, so the sequence is mid-way when the signal comes.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionRecord } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { REPO } from '../support/demo.js';
import { makeLab, type Lab } from '../support/lab.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Cli {
  out: () => string;
  err: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill: (s: NodeJS.Signals) => void;
}

describe('ockle on/off/cycle interrupted', () => {
  let lab: Lab;
  let daemon: Daemon;
  let token: string;
  const slow = { bootMs: 60_000, extra: 'boot_timeout = 5m' };
  const cli = (...argv: string[]): Cli => {
    const child = spawn(process.execPath, [MAIN, ...argv, '--config', lab.configDir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
    return { out: () => out, err: () => err, exit, kill: (s) => child.kill(s) };
  };
  /** Waits until the CLI has printed something matching (on stdout or stderr). */
  const until = async (c: Cli, re: RegExp): Promise<void> => {
    for (let i = 0; i < 400 && !re.test(c.out() + c.err()); i++) await sleep(25);
    expect(c.out() + c.err()).toMatch(re);
  };
  const get = async (id: string): Promise<ActionRecord> => {
    const res = await fetch(`${daemon.url}/api/actions/${id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as ActionRecord;
  };

  beforeAll(async () => {
    lab = await makeLab({ a1: slow, b1: { deps: ['a1'] }, a2: slow, b2: { deps: ['a2'] }, a3: slow, b3: { deps: ['a3'] }, a4: slow, b4: { deps: ['a4'] } });
    daemon = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: false });
    token = (await readFile(join(lab.stateDir, 'api-token'), 'utf8')).trim();
  });
  afterAll(async () => {
    await daemon?.stop(); // cancels what is still running
    await lab?.cleanup();
  });

  it('prints the action id when accepted; on SIGINT says it continues in the daemon, exits 130, and it does', { timeout: 30_000 }, async () => {
    const c = cli('on', 'b1');
    await until(c, /✓ a1 confirm/); // a1 powered, now booting for a minute: mid-sequence
    const id = /^action (\S+) accepted: on b1 \(sequenced\)\n/.exec(c.out())?.[1];
    expect(id, c.out()).toBeDefined();
    // The id comes before any progress line.
    expect(c.out().indexOf(`action ${id} accepted`)).toBe(0);
    c.kill('SIGINT');
    expect(await c.exit).toEqual({ code: 130, signal: null });
    expect(c.err()).toBe(`action ${id} continues in the daemon; \`ockle cancel ${id}\` stops it\n`);
    await sleep(300);
    expect(await get(id!)).toMatchObject({ status: 'running', kind: 'on', targets: ['b1'] });
  });

  it('with --cancel-on-interrupt cancels it, says what it cancelled, exits 130, and the action ends cancelled', { timeout: 30_000 }, async () => {
    const c = cli('on', 'b2', '--cancel-on-interrupt');
    await until(c, /✓ a2 confirm/);
    const id = /^action (\S+) accepted: on b2 \(sequenced\)\n/.exec(c.out())![1]!;
    c.kill('SIGINT');
    expect(await c.exit).toEqual({ code: 130, signal: null });
    expect(c.err()).toMatch(new RegExp(`^action ${id} cancelled: on b2 \\(operations on the wire finish first; \`ockle action ${id}\` shows where it stopped\\)\\n$`));
    let a = await get(id);
    for (let i = 0; i < 200 && a.status === 'running'; i++) {
      await sleep(25);
      a = await get(id);
    }
    expect(a.status).toBe('cancelled');
  });

  it('keeps --json machine-readable: the record on stdout, the messages on stderr; SIGTERM exits 143', { timeout: 30_000 }, async () => {
    const c = cli('on', 'b3', '--json');
    await until(c, /accepted/);
    const id = /^action (\S+) accepted: on b3 \(sequenced\)\n/.exec(c.err())![1]!;
    for (let i = 0; i < 400 && !(await get(id)).steps.some((s) => s.op === 'confirm'); i++) await sleep(25);
    c.kill('SIGTERM');
    expect(await c.exit).toEqual({ code: 143, signal: null });
    expect(JSON.parse(c.out())).toMatchObject({ id, status: 'running', kind: 'on', targets: ['b3'] });
    expect(c.err()).toBe(`action ${id} accepted: on b3 (sequenced)\naction ${id} continues in the daemon; \`ockle cancel ${id}\` stops it\n`);
    expect((await get(id)).status).toBe('running');
  });

  it('with --cancel-on-interrupt --json prints the cancelled record on stdout', { timeout: 30_000 }, async () => {
    const c = cli('on', 'b4', '--json', '--cancel-on-interrupt');
    await until(c, /accepted/);
    const id = /^action (\S+) accepted/.exec(c.err())![1]!;
    for (let i = 0; i < 400 && !(await get(id)).steps.some((s) => s.op === 'confirm'); i++) await sleep(25);
    c.kill('SIGINT');
    expect(await c.exit).toEqual({ code: 130, signal: null });
    expect(JSON.parse(c.out())).toMatchObject({ id, targets: ['b4'] });
    expect(c.err()).toContain(`action ${id} cancelled: on b4`);
    let a = await get(id);
    for (let i = 0; i < 200 && a.status === 'running'; i++) {
      await sleep(25);
      a = await get(id);
    }
    expect(a.status).toBe('cancelled');
  });
});
