/**
 * The ssh control against Debian's sshd on 127.0.0.1: a pinned host key or a known_hosts file,
 * never blind trust; the shutdown command's exit status; authentication failures; a hang.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fingerprint, sshControllerDriver } from '../../drivers/ssh/index.js';
import type { SpecOf } from '../../drivers/types.js';
import { Secret } from '../../src/config/types.js';
import { makeDriverContext } from '../support/driver-context.js';
import { describePeer } from '../support/peers.js';
import { startSshd, type Sshd } from '../support/sshd.js';

type Spec = SpecOf<typeof sshControllerDriver>;

describePeer('ssh control against sshd', ['sshd', 'ssh-keygen'], () => {
  let sshd: Sshd;
  beforeAll(async () => {
    sshd = await startSshd();
  }, 20_000);
  afterAll(async () => {
    await sshd?.stop();
  });
  const sig = (): AbortSignal => new AbortController().signal;
  const marker = (): string => join(sshd.dir, `called-${Math.random().toString(36).slice(2)}`);
  const control = (over: Partial<Record<keyof Spec, unknown>>) =>
    sshControllerDriver.create(
      {
        host: '127.0.0.1',
        port: sshd.port,
        user: sshd.user,
        key_file: sshd.clientKey,
        passphrase: undefined,
        password: undefined,
        command: 'true',
        host_key: sshd.fingerprint,
        known_hosts: undefined,
        connect_timeout: 5000,
        ...over,
      } as Spec,
      makeDriverContext({ id: 'db-1/ssh', server: { name: 'db-1', host: '127.0.0.1', outlets: [] } }),
    );

  it('runs the shutdown command on a host whose key matches the pinned fingerprint', async () => {
    const f = marker();
    await control({ command: `sh -c 'echo poweroff >> ${f}'` }).shutdown(sig());
    expect(readFileSync(f, 'utf8')).toBe('poweroff\n');
  });

  it('accepts a host key found in known_hosts', async () => {
    const kh = join(sshd.dir, 'known_hosts');
    writeFileSync(kh, `# lab hosts\n${sshd.knownHosts}\n`);
    const f = marker();
    await control({ host_key: undefined, known_hosts: kh, command: `touch ${f}` }).shutdown(sig());
    expect(existsSync(f)).toBe(true);
  });

  it('refuses a host whose key does not match, and sends nothing', async () => {
    const f = marker();
    const wrong = fingerprint(Buffer.from('not the host key'));
    const err = (await control({ host_key: wrong, command: `touch ${f}` }).shutdown(sig()).catch((e: unknown) => e)) as Error & { code: string; hint: string };
    expect(err).toMatchObject({ code: 'OCKLE_CONTROL_FAILED', message: expect.stringMatching(`host key ${sshd.fingerprint.replace(/[+/]/g, '.')} does not match host_key; nothing was sent`) });
    expect(existsSync(f)).toBe(false);
  });

  it('reports a command that fails with its exit code and stderr', async () => {
    await expect(control({ command: `sh -c 'echo "sudo: a password is required" >&2; exit 1'` }).shutdown(sig())).rejects.toMatchObject({
      code: 'OCKLE_CONTROL_FAILED',
      message: expect.stringMatching(/exited 1: sudo: a password is required$/),
      hint: expect.stringMatching(/sudo -n/),
    });
  });

  it('reports an authentication failure without echoing the password', async () => {
    const err = (await control({ key_file: undefined, password: new Secret('hunter2-not-it') }).shutdown(sig()).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'OCKLE_CONTROL_FAILED', message: expect.stringMatching(/authentication failed/) });
    expect(JSON.stringify(err) + err.message).not.toContain('hunter2');
  });

  it('a command that hangs is ended by the control’s time limit (abort)', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    await expect(control({ command: 'sleep 30' }).shutdown(ac.signal)).rejects.toMatchObject({ code: 'OCKLE_OPERATION_ABORTED' });
  });

  it('config: no host key pinning is an error, not blind trust', () => {
    const problems = sshControllerDriver.check!({ ...({} as Spec), user: 'root', key_file: sshd.clientKey, host_key: undefined, known_hosts: undefined, passphrase: undefined, password: undefined } as Spec);
    expect(problems.map((p) => p.message)).toContain('an ssh control needs host_key or known_hosts (the host key is never trusted blindly)');
  });
});
