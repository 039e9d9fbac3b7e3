/**
 * Debian's OpenSSH server on 127.0.0.1, on a free high port, with throwaway host and client
 * keys in a temp dir. Logs in the current user by key only.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface Sshd {
  readonly port: number;
  readonly dir: string;
  readonly user: string;
  readonly clientKey: string;
  /** The host key's OpenSSH fingerprint (SHA256:…), as ssh-keygen prints it. */
  readonly fingerprint: string;
  /** A known_hosts line for this server. */
  readonly knownHosts: string;
  stop(): Promise<void>;
}

async function startSshdOnce(): Promise<Sshd> {
  const dir = await mkdtemp(join(tmpdir(), 'ockle-sshd-'));
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  const key = (f: string): void => void execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, f)]);
  key('host_ed25519');
  key('client_ed25519');
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_ed25519.pub')), { mode: 0o600 });
  const fingerprint = execFileSync('ssh-keygen', ['-lf', join(dir, 'host_ed25519.pub')], { encoding: 'utf8' }).split(' ')[1]!;
  const pub = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege-separation dir sshd insists on
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_ed25519')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // Ready when the port accepts.
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((r) => {
      const c = createServer();
      c.once('error', () => r(true)); // in use: sshd is listening
      c.listen(port, '127.0.0.1', () => c.close(() => r(false)));
    });
    if (ok) break;
    if (i > 200 || child.exitCode !== null) {
      child.kill();
      throw new Error(`sshd did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    port,
    dir,
    user: userInfo().username,
    clientKey: join(dir, 'client_ed25519'),
    fingerprint,
    knownHosts: `[127.0.0.1]:${port} ${pub}`,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts one, on a fresh port each try: the port is picked free, then handed to the server, and
 * another test may take it in between (all tests share the machine's ephemeral ports).
 */
export async function startSshd(): Promise<Sshd> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSshdOnce();
    } catch (err) {
      if (attempt >= 3 || !/did not start/.test((err as Error).message)) throw err;
    }
  }
}
