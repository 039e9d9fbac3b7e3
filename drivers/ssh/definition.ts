/**
 * `ssh`'s definition: its config keys and checks (a key file is parsed by ssh2, loaded then), without
 * the login code (index.ts) that config loading and `config check` need not load.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type ssh2 from 'ssh2';
import { duration, int, secret, str } from '../../src/config/types.js';
import { sketchDriver } from '../types.js';

// Loaded on first use (a login, or a key_file to check): a lab with no ssh control, and the
// CLI, never pay for it. require() keeps the config check's key parsing synchronous.
let lib: typeof ssh2 | null = null;
export const ssh = (): typeof ssh2 => (lib ??= createRequire(import.meta.url)('ssh2') as typeof ssh2);

export const sshTemplate = {
  host: str({ help: 'Host to log in to (default: the server’s host).' }),
  port: int({ min: 1, max: 65535, default: 22, help: 'SSH port.' }),
  user: str({ required: true, help: 'User to log in as (root, or a user allowed to run the command through sudo without a password).' }),
  key_file: str({ help: 'Private key file (OpenSSH format). Keep it readable by the daemon user only.' }),
  passphrase: secret({ help: 'Passphrase of key_file, if it has one. Never logged.' }),
  password: secret({ help: 'Password login instead of a key (not recommended). Never logged.' }),
  command: str({ default: 'systemctl poweroff', help: 'Remote command that starts a clean shutdown, e.g. sudo -n /sbin/poweroff.' }),
  host_key: str({
    pattern: /^SHA256:[A-Za-z0-9+/]{43}=?$/,
    patternHelp: 'an OpenSSH SHA256 fingerprint such as SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8',
    help: 'Pinned host key fingerprint (ssh-keyscan -p PORT HOST | ssh-keygen -lf -).',
  }),
  known_hosts: str({ help: 'known_hosts file to check the host key against (instead of host_key).' }),
  connect_timeout: duration({ min: 100, max: 120_000, default: 10_000, help: 'Time to connect and authenticate.' }),
};

export const sshSketch = sketchDriver({
  kind: 'controller',
  type: 'ssh',
  usesServerHost: true,
  description: 'Logs in over SSH (pinned host key) and runs a shutdown command.',
  template: sshTemplate,
  check: (spec) => {
    const p: { key: string; message: string; hint: string }[] = [];
    if (!spec.host_key && !spec.known_hosts)
      p.push({ key: 'host_key', message: 'an ssh control needs host_key or known_hosts (the host key is never trusted blindly)', hint: 'Add host_key = SHA256:… from `ssh-keyscan -p PORT HOST | ssh-keygen -lf -`.' });
    if (!spec.key_file && !spec.password) p.push({ key: 'key_file', message: 'an ssh control needs key_file or password', hint: 'Add key_file = the daemon’s private key (its public key in the server’s authorized_keys).' });
    if (spec.key_file) {
      try {
        const parsed = ssh().utils.parseKey(readFileSync(spec.key_file), spec.passphrase?.reveal());
        if (parsed instanceof Error) p.push({ key: 'key_file', message: `key_file ${spec.key_file}: ${parsed.message}`, hint: 'Give an OpenSSH private key (and passphrase if it has one).' });
      } catch (err) {
        p.push({ key: 'key_file', message: `key_file ${spec.key_file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, hint: 'Check the path and that the daemon user may read it.' });
      }
    }
    return p;
  },
});
