/**
 * The `ssh` control: logs in to the server (package `ssh2`, pure JavaScript) and runs the
 * shutdown command, by default `systemctl poweroff`. The host key is never trusted blindly: it
 * is pinned by fingerprint (`host_key = SHA256:…`) or checked against a known_hosts file; a
 * mismatch refuses to send anything. Password and key passphrase are secrets.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

import type { Infer } from '../../src/config/types.js';
import { ControlError, OperationAbortedError } from '../../src/errors.js';
import { defineDriver, type Controller, type DriverContext } from '../types.js';
import { hostOf } from '../host/testers.js';
import { ssh, sshSketch, sshTemplate } from './definition.js';

export { sshTemplate };


type Spec = Infer<typeof sshTemplate>;

/** OpenSSH's fingerprint of a raw host key: SHA256, base64 without padding. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** Host keys for host:port in an OpenSSH known_hosts file (plain entries; hashed entries matched by HMAC). */
export function knownKeys(file: string, host: string, port: number): Buffer[] {
  const names = port === 22 ? [host, `[${host}]:22`] : [`[${host}]:${port}`];
  const out: Buffer[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 3 || parts[0]!.startsWith('#') || parts[0]!.startsWith('@')) continue;
    const [hosts, , b64] = parts as [string, string, string];
    const match = hosts.startsWith('|1|')
      ? names.some((n) => {
          const [, , salt, hash] = hosts.split('|');
          return createHmac('sha1', Buffer.from(salt!, 'base64')).update(n).digest('base64') === hash;
        })
      : hosts.split(',').some((h) => names.includes(h));
    if (match) out.push(Buffer.from(b64, 'base64'));
  }
  return out;
}

export class SshController implements Controller {
  readonly #s: Spec;
  readonly #host: string;

  constructor(
    readonly id: string,
    spec: Spec,
    ctx: DriverContext,
  ) {
    this.#s = spec;
    this.#host = hostOf(spec.host, ctx, 'the ssh control');
  }

  #verify(key: Buffer): boolean {
    const fp = fingerprint(key);
    if (this.#s.host_key) return fp === this.#s.host_key;
    if (this.#s.known_hosts) return knownKeys(this.#s.known_hosts, this.#host, this.#s.port).some((k) => k.equals(key));
    return false;
  }

  shutdown(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(new OperationAbortedError());
    const s = this.#s;
    const where = `${s.user}@${this.#host}:${s.port}`;
    return new Promise<void>((resolve, reject) => {
      const conn = new (ssh().Client)();
      let seenKey: string | null = null;
      let started = false;
      let settled = false;
      const finish = (err?: Error): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        conn.end();
        if (err) reject(err);
        else resolve();
      };
      const onAbort = (): void => finish(new OperationAbortedError());
      signal.addEventListener('abort', onAbort, { once: true });
      conn.on('error', (err: Error & { level?: string }) => {
        if (started) {
          // The host went down while the shutdown command ran: that is the request taking effect.
          return finish();
        }
        if (seenKey && !this.#verify(Buffer.from(seenKey, 'base64')))
          return finish(
            new ControlError(`${where}: host key ${fingerprint(Buffer.from(seenKey, 'base64'))} does not match ${s.host_key ? 'host_key' : 'known_hosts'}; nothing was sent`, {
              hint: 'If the server was reinstalled, check its new fingerprint out of band and update host_key.',
            }),
          );
        const auth = err.level === 'client-authentication';
        finish(
          new ControlError(`${where}: ${auth ? 'authentication failed' : err.message}`, {
            hint: auth ? 'Check user, key_file (or password) and the server’s authorized_keys.' : 'Check host and port, and that sshd runs.',
          }),
        );
      });
      conn.on('ready', () => {
        started = true;
        conn.exec(s.command, (err, stream) => {
          if (err) return finish(new ControlError(`${where}: cannot run the command: ${err.message}`));
          let stderr = '';
          stream.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
          stream.on('data', () => {});
          stream.on('close', (code: number | null) => {
            if (code === 0 || code === null || code === undefined) return finish();
            finish(
              new ControlError(`${where}: "${s.command}" exited ${code}${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}`, {
                hint: 'Run the command by hand as that user; a non-root user needs sudo rights without a password (sudo -n).',
              }),
            );
          });
        });
      });
      // A connection dropped by the host while the command runs ends without exit code: accepted.
      conn.on('close', () => (started ? finish() : undefined));
      try {
        conn.connect({
          host: this.#host,
          port: s.port,
          username: s.user,
          readyTimeout: s.connect_timeout,
          ...(s.key_file && { privateKey: readFileSync(s.key_file) }),
          ...(s.passphrase && { passphrase: s.passphrase.reveal() }),
          ...(s.password && { password: s.password.reveal() }),
          hostVerifier: (key: Buffer) => {
            seenKey = key.toString('base64');
            return this.#verify(key);
          },
        });
      } catch (err) {
        finish(new ControlError(`${where}: ${(err as Error).message}`, { hint: 'Check key_file (OpenSSH private key) and passphrase.' }));
      }
    });
  }
}

export const sshControllerDriver = defineDriver({
  ...sshSketch,
  create: (spec, ctx) => new SshController(ctx.id, spec, ctx),
});

