/**
 * Debian's NUT (Network UPS Tools) as a real peer on 127.0.0.1: the `dummy-ups` driver serving
 * a simulated UPS from a `.dev` file the test rewrites, `upsd` at a free port, and on demand a
 * primary `upsmon` whose shutdown command only writes a file. Everything lives in a throwaway
 * directory (NUT_CONFPATH, NUT_STATEPATH); every process started here is stopped by `stop()`.
 *
 * Facts this relies on (NUT 2.8.0, drivers/dummy-ups.c and server/upsd.c):
 * - a `.dev` port file runs dummy-ups in `dummy-once` mode: it re-reads the file when its mtime
 *   changes, compared in whole seconds, so each rewrite here sets an mtime one second past the
 *   last (no waiting, no missed rewrite); it polls every `pollinterval` (1 s) plus a 1 s sleep;
 * - variables are kept until the file sets them again, so every rewrite writes every variable;
 * - Debian's /usr/sbin/upsd and upsmon are wrappers that read /etc/nut/nut.conf and refuse to
 *   run with MODE=none: the real programs in the NUT driver directory are run instead;
 * - run as root, NUT switches to its `nut` user unless told `-u root` (the throwaway directory
 *   is private to the user running the tests);
 * - upsmon 2.8.0 writes its pid to the compiled-in PIDPATH (/run/nut) whatever the environment
 *   says; `-P` points its "is another upsmon running" check at a pid no process can have, and
 *   the pid file is removed again if it still names the upsmon started here.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { which } from './peers.js';

const run = promisify(execFile);

/** Where NUT packages put upsd and the drivers (Debian, Fedora, Arch, NUT's own default prefix). */
const NUT_DIRS = ['/lib/nut', '/usr/lib/nut', '/usr/libexec/nut', '/usr/lib64/nut', '/usr/local/ups/bin', '/usr/local/ups/sbin'];

/**
 * The real NUT program `name`: from the NUT driver directories first (Debian's PATH copies of
 * upsd and upsmon are wrappers), then $PATH. Absent: an error saying where it was looked for.
 */
export function nutProgram(name: string): string {
  for (const dir of NUT_DIRS) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  const onPath = which(name);
  if (onPath) return onPath;
  throw new Error(`NUT program ${name} not found in ${NUT_DIRS.join(', ')} nor on $PATH: apt-get install nut-server nut-client (listed in test/debian-packages.txt)`);
}

/** Users of the test upsd. The secondary's password has a space and a quote, to exercise quoting. */
export const NUT_USERS = {
  secondary: { user: 'ockle', password: 'sec "ret" 42' },
  primary: { user: 'ockle-primary', password: 'prim\\ary-77' },
  upsmon: { user: 'upsmon-main', password: 'upsmon-pass-5' },
} as const;

/** The variables of the simulated UPS, as upsc shows them. */
export type UpsVars = Record<string, string>;

/** A mains-fed, charged UPS (values shaped like an Eaton 5PX on usbhid-ups). */
export const ONLINE: UpsVars = {
  'device.mfr': 'EATON',
  'device.model': '5PX 1500',
  'device.serial': 'G202E02032',
  'ups.mfr': 'EATON',
  'ups.model': '5PX 1500',
  'ups.firmware': '02.14.0026',
  'ups.status': 'OL CHRG',
  'ups.alarm': '',
  'battery.charge': '100',
  'battery.runtime': '1980',
  'ups.load': '23',
  'input.voltage': '231.5',
};

export interface Upsmon {
  /** What upsmon printed so far (debug level 1). */
  output(): string;
  /** Resolves when upsmon's output matches `re` (rejects after `ms`, with its output). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** The time (ms since the epoch) SHUTDOWNCMD ran, or null while it has not. */
  shutdownAt(): Promise<number | null>;
  /** Resolves when SHUTDOWNCMD has run, with its time. */
  waitShutdown(ms?: number): Promise<number>;
  stop(): Promise<void>;
}

export interface NutPeer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The UPS name on upsd. */
  readonly ups: string;
  /** The variables last written to the .dev file. */
  readonly vars: Readonly<UpsVars>;
  /**
   * Rewrites the .dev file with `change` merged in, and resolves once `upsc` shows every
   * changed variable (dummy-ups re-reads it within about two seconds).
   */
  set(change: UpsVars): Promise<void>;
  /** `upsc UPS@127.0.0.1:PORT`: every variable, as an independent NUT client reads them. */
  upsc(): Promise<Map<string, string>>;
  /** `upsc -c`: the addresses of the clients logged in to the UPS (one line each). */
  clients(): Promise<string[]>;
  /** upsd's own log lines so far (its stderr). */
  upsdLog(): string;
  /** SIGTERM (upsd finishes what it is doing) or SIGKILL (it answers nothing more, like a crash). */
  stopUpsd(how?: 'term' | 'kill'): Promise<void>;
  /** Starts upsd again (nothing when it runs) and waits until it serves the UPS. */
  startUpsd(): Promise<void>;
  /** SIGSTOP / SIGCONT upsd: it keeps its connections and answers nothing meanwhile. */
  pauseUpsd(): void;
  resumeUpsd(): void;
  stopDriver(): Promise<void>;
  startDriver(): Promise<void>;
  /** SIGSTOP the driver and wait until upsd calls its data stale (MAXAGE 6 s); `resumeDriver` waits until it is fresh again. */
  staleDriver(): Promise<void>;
  resumeDriver(): Promise<void>;
  /** Starts a primary upsmon on this UPS; its SHUTDOWNCMD only records the time in a file. */
  startUpsmon(o?: { hostsyncS?: number }): Promise<Upsmon>;
  stop(): Promise<void>;
}

async function freeTcpPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Polls `check` every 100 ms until it is true; rejects with `what()` after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(what());
    await new Promise((r) => setTimeout(r, 100));
  }
}

const quote = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** A process started here: its output, and a stop that waits for the exit. */
interface Proc {
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function startProc(program: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Proc {
  const child = spawn(program, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** Starts dummy-ups and upsd on 127.0.0.1 with `initial` merged over {@link ONLINE}. */
export async function startNut(initial: UpsVars = {}): Promise<NutPeer> {
  const driverProgram = nutProgram('dummy-ups');
  const upsdProgram = nutProgram('upsd');
  const dir = await mkdtemp(join(tmpdir(), 'ockle-nut-'));
  const state = join(dir, 'state');
  await mkdir(state, { mode: 0o700 });
  const port = await freeTcpPort();
  const ups = 'rack-ups';
  const devFile = join(dir, `${ups}.dev`);
  const env = { ...process.env, NUT_CONFPATH: dir, NUT_STATEPATH: state, NUT_ALTPIDPATH: state };
  // Root: stay root (NUT would switch to its own user, who cannot read this private directory).
  const asUser = process.getuid?.() === 0 ? ['-u', userInfo().username] : [];
  const u = NUT_USERS;
  await writeFile(join(dir, 'nut.conf'), 'MODE=standalone\n');
  await writeFile(join(dir, 'ups.conf'), [`[${ups}]`, '  driver = dummy-ups', `  port = ${devFile}`, '  pollinterval = 1', '  desc = "ockle test UPS"', ''].join('\n'));
  // MAXAGE 6: a driver silent for 6 s makes upsd answer DATA-STALE (the fault test pauses it).
  await writeFile(join(dir, 'upsd.conf'), [`LISTEN 127.0.0.1 ${port}`, 'MAXAGE 6', ''].join('\n'), { mode: 0o600 });
  await writeFile(
    join(dir, 'upsd.users'),
    [
      `[${u.secondary.user}]`,
      `  password = ${quote(u.secondary.password)}`,
      '  upsmon secondary',
      `[${u.primary.user}]`,
      `  password = ${quote(u.primary.password)}`,
      '  upsmon primary',
      `[${u.upsmon.user}]`,
      `  password = ${quote(u.upsmon.password)}`,
      '  upsmon primary',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );

  let vars: UpsVars = { ...ONLINE, ...initial };
  let mtime = Math.floor(Date.now() / 1000);
  const writeDev = async (): Promise<void> => {
    // An empty value is written quoted: a bare `key:` would leave dummy-ups's last value in place.
    await writeFile(devFile, Object.entries(vars).map(([k, v]) => `${k}: ${v === '' ? '""' : v}`).join('\n') + '\n');
    mtime += 1;
    await utimes(devFile, mtime, mtime);
  };
  await writeDev();

  const upsc = async (): Promise<Map<string, string>> => {
    const { stdout } = await run('upsc', [`${ups}@127.0.0.1:${port}`], { env, timeout: 5000 });
    const m = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const i = line.indexOf(': ');
      if (i > 0) m.set(line.slice(0, i), line.slice(i + 2));
    }
    return m;
  };
  // upsd prepends its own FSD latch to the driver's ups.status: the driver's words are the rest.
  const driverStatus = (v: string | undefined): string | undefined => v?.replace(/^FSD /, '');
  const matches = async (want: UpsVars): Promise<boolean> => {
    const now = await upsc().catch(() => null);
    return (
      now !== null &&
      Object.entries(want).every(([k, v]) => {
        const got = k === 'ups.status' ? driverStatus(now.get(k)) : now.get(k);
        return v === '' ? got === undefined || got === '' : got === v;
      })
    );
  };

  let driver: Proc | null = null;
  let upsd: Proc | null = null;
  let upsdLog = '';
  const upsmons: { stop(): Promise<void> }[] = [];

  const startDriver = async (): Promise<void> => {
    if (driver) return;
    const d = startProc(driverProgram, ['-a', ups, ...asUser, '-F'], env, dir);
    driver = d;
    await until(
      () => existsSync(join(state, `dummy-ups-${ups}`)) || d.child.exitCode !== null,
      15_000,
      () => `dummy-ups did not create its socket in ${state}:\n${d.output()}`,
    );
    if (d.child.exitCode !== null) throw new Error(`dummy-ups exited (${d.child.exitCode}):\n${d.output()}`);
    // A restarted driver says WAIT until its first dump reaches upsd.
    if (upsd) await until(() => matches({ 'ups.status': vars['ups.status']! }), 15_000, () => `upsd did not get ${ups}'s status from the restarted driver:\n${d.output()}`);
  };
  const stopDriver = async (): Promise<void> => {
    await driver?.stop();
    driver = null;
    await unlink(join(state, `dummy-ups-${ups}`)).catch(() => undefined);
    // upsd notices the driver's socket closing on its next loop.
    if (upsd)
      await until(
        async () => /Driver not connected/i.test(await upsc().then(() => '', (e: { stderr?: string }) => e.stderr ?? '')),
        15_000,
        () => 'upsd still serves the UPS after its driver stopped',
      );
  };
  const startUpsd = async (): Promise<void> => {
    if (upsd) return;
    const p = startProc(upsdProgram, [...asUser, '-F'], env, dir);
    upsd = p;
    await until(
      async () => p.child.exitCode !== null || (await matches({ 'ups.status': vars['ups.status']! })),
      15_000,
      () => `upsd did not serve ${ups} on 127.0.0.1:${port}:\n${p.output()}`,
    );
    if (p.child.exitCode !== null) throw new Error(`upsd exited (${p.child.exitCode}):\n${p.output()}`);
  };
  const stopUpsd = async (how: 'term' | 'kill' = 'term'): Promise<void> => {
    const p = upsd;
    upsd = null;
    if (!p) return;
    if (how === 'kill') p.child.kill('SIGKILL');
    await p.stop();
    upsdLog += p.output();
  };

  const stop = async (): Promise<void> => {
    for (const m of upsmons.splice(0)) await m.stop();
    await stopUpsd();
    await stopDriver();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await startDriver();
    await startUpsd();
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    host: '127.0.0.1',
    port,
    ups,
    get vars() {
      return vars;
    },
    async set(change) {
      vars = { ...vars, ...change };
      await writeDev();
      await until(
        () => matches(change),
        20_000,
        () => `upsc did not show ${JSON.stringify(change)} after the .dev rewrite`,
      );
    },
    upsc,
    async clients() {
      const { stdout } = await run('upsc', ['-c', `${ups}@127.0.0.1:${port}`], { env, timeout: 5000 });
      return stdout.split('\n').filter(Boolean);
    },
    upsdLog: () => upsdLog + ((upsd as Proc | null)?.output() ?? ''),
    stopUpsd,
    startUpsd,
    pauseUpsd: () => void (upsd as Proc | null)?.child.kill('SIGSTOP'),
    resumeUpsd: () => void (upsd as Proc | null)?.child.kill('SIGCONT'),
    stopDriver,
    startDriver,
    async staleDriver() {
      (driver as Proc | null)?.child.kill('SIGSTOP');
      await until(
        async () => /Data stale/i.test(await upsc().then(() => '', (e: { stderr?: string }) => e.stderr ?? '')),
        20_000,
        () => 'upsd never called the paused driver’s data stale',
      );
    },
    async resumeDriver() {
      (driver as Proc | null)?.child.kill('SIGCONT');
      await until(() => matches({ 'ups.status': vars['ups.status']! }), 20_000, () => 'upsd did not get fresh data after the driver resumed');
    },
    async startUpsmon(o = {}) {
      const upsmonProgram = nutProgram('upsmon');
      const shutdownFile = join(dir, 'upsmon-shutdown');
      const conf = join(dir, 'upsmon.conf');
      const silent = ['ONLINE', 'ONBATT', 'LOWBATT', 'FSD', 'COMMOK', 'COMMBAD', 'SHUTDOWN', 'REPLBATT', 'NOCOMM', 'NOPARENT'].map((n) => `NOTIFYFLAG ${n} SYSLOG`);
      await writeFile(
        conf,
        [
          `MONITOR ${ups}@127.0.0.1:${port} 1 ${u.upsmon.user} ${quote(u.upsmon.password)} primary`,
          'MINSUPPLIES 1',
          // Records the time instead of powering anything off.
          `SHUTDOWNCMD "date +%s%3N > ${shutdownFile}"`,
          `POWERDOWNFLAG ${join(dir, 'killpower')}`,
          'POLLFREQ 1',
          'POLLFREQALERT 1',
          // Longer than the test keeps ockle logged in: an expired HOSTSYNC would also end the wait.
          `HOSTSYNC ${o.hostsyncS ?? 30}`,
          'DEADTIME 15',
          'FINALDELAY 0',
          ...silent,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      // -p: one process (no privileged parent), -D: foreground with debug lines, -P: see the header.
      const p = startProc(upsmonProgram, ['-p', '-D', '-P', '2147483647', '-f', conf, ...(asUser.length ? ['-u', asUser[1]!] : [])], env, dir);
      const shutdownAt = async (): Promise<number | null> => {
        const t = await readFile(shutdownFile, 'utf8').catch(() => null);
        return t === null || t.trim() === '' ? null : Number(t.trim());
      };
      const mon: Upsmon = {
        output: () => p.output(),
        waitFor: (re, ms = 20_000) => until(() => re.test(p.output()), ms, () => `upsmon never printed ${re}:\n${p.output()}`),
        shutdownAt,
        async waitShutdown(ms = 40_000) {
          await until(async () => (await shutdownAt()) !== null, ms, () => `upsmon never ran its SHUTDOWNCMD:\n${p.output()}`);
          return (await shutdownAt())!;
        },
        async stop() {
          await p.stop();
          // The compiled-in pid file, when it still names this upsmon (see the header).
          const pidFile = /Saving PID \d+ into (\S+)/.exec(p.output())?.[1];
          if (pidFile && (await readFile(pidFile, 'utf8').catch(() => '')).trim() === String(p.child.pid)) await unlink(pidFile).catch(() => undefined);
        },
      };
      upsmons.push(mon);
      await mon.waitFor(/Logged into UPS/);
      return mon;
    },
    stop,
  };
}
