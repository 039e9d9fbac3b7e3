/**
 * Debian's powermand on 127.0.0.1 with its `vpcd` virtual power controller (16 plugs, "0"…"15"),
 * from a powerman.conf written in a temp dir; nodes `t0`…`t15` map to plugs 0…15. vpcd runs as
 * powermand's coprocess behind a small shell script that copies what powermand sends it to a
 * file, so a test counts the switch commands the controller itself received. `pm` (powerman's
 * own client) gives an independent view of every plug.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { which } from './peers.js';

const run = promisify(execFile);

export interface Powermand {
  readonly host: string;
  readonly port: number;
  /** Node names, in powermand's order (t0…t15). */
  readonly nodes: readonly string[];
  /** `pm -q NODE` (powerman's own client): the plug's state as powermand reads it. */
  pmQuery(node: string): Promise<'on' | 'off' | 'unknown'>;
  /** Runs `pm` against this powermand with `args`. */
  pm(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** on/off/reset commands the vpcd controller received (a cycle is an off and an on there). */
  writes(): Promise<string[]>;
  /** Freezes powermand (SIGSTOP): connections are accepted by the kernel and never answered. `resume()` thaws it. */
  pause(): void;
  resume(): void;
  /** Stops powermand (and its vpcd); `start()` brings it back on the same port, plugs all off. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops and removes the temp dir. */
  close(): Promise<void>;
}

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function listening(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect({ host: '127.0.0.1', port }, () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`powermand did not listen on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `deadDevice`: a second controller, `dead0` (nodes d0, d1), that powermand is told to reach on a
 * loopback port where nothing listens: its plugs read unknown, as behind a PDU that is down.
 */
export async function startPowermand(o: { deadDevice?: boolean } = {}): Promise<Powermand> {
  const dir = await mkdtemp(join(tmpdir(), 'ockle-powerman-'));
  const port = await freeTcpPort();
  const vpcd = which('vpcd') ?? 'vpcd';
  // Debian installs powerman's device scripts here; vpc.dev is the one that drives vpcd.
  const dev = '/etc/powerman/vpc.dev';
  const log = join(dir, 'vpcd-input.log');
  const wrapper = join(dir, 'vpcd-logged.sh');
  // powermand talks to its coprocess over a pty; tee copies what it sends on to vpcd unchanged.
  await writeFile(wrapper, `#!/bin/sh\ntee -a '${log}' | exec '${vpcd}'\n`);
  await chmod(wrapper, 0o755);
  await writeFile(
    join(dir, 'powerman.conf'),
    [
      `include "${dev}"`,
      `listen "127.0.0.1:${port}"`,
      `device "vpc0" "vpc" "${wrapper} |&"`,
      'node "t[0-15]" "vpc0" "[0-15]"',
      ...(o.deadDevice ? [`device "dead0" "vpc" "127.0.0.1:${await freeTcpPort()}"`, 'node "d[0-1]" "dead0" "[0-1]"'] : []),
      '',
    ].join('\n'),
  );
  let child: ChildProcess | null = null;
  let stderr = '';
  const start = async (): Promise<void> => {
    await writeFile(log, '');
    stderr = '';
    child = spawn('powermand', ['-f', '-c', join(dir, 'powerman.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`powermand exited (${code}): ${stderr}`))));
    await Promise.race([listening(port, Date.now() + 10_000), exited]);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGCONT');
    await new Promise<void>((r) => {
      c.once('exit', () => r());
      c.kill('SIGTERM');
    });
  };
  const pm = async (args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const r = await run('pm', ['-h', `127.0.0.1:${port}`, ...args], { timeout: 20_000 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
    }
  };
  await start();
  return {
    host: '127.0.0.1',
    port,
    nodes: Array.from({ length: 16 }, (_, i) => `t${i}`),
    pm,
    async pmQuery(node) {
      // `pm -q NODE` prints the on:/off:/unknown: lines with the node on one of them.
      const r = await pm(['-q', node]);
      for (const line of r.stdout.split('\n')) {
        const m = /^(on|off|unknown):\s*(.*)$/.exec(line.trim());
        if (m && m[2]!.split(',').includes(node)) return m[1] as 'on' | 'off' | 'unknown';
      }
      throw new Error(`pm -q ${node}: ${r.stdout}${r.stderr}`);
    },
    async writes() {
      const text = await readFile(log, 'utf8').catch(() => '');
      return text.split(/\r?\n/).filter((l) => /^(on|off|reset) /.test(l));
    },
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    stop,
    start,
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
