/**
 * Who can reach the API, and over what: the `[api]` rules `config check` enforces before a
 * daemon starts. Plain HTTP beyond loopback carries bearer tokens in clear text, so it is
 * refused unless `allow_plaintext = true`; a TLS key others can read is refused too. The
 * daemon and `config check` read the same answers from here.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import type { ConfigProblem } from '../errors.js';
import type { apiTemplate } from './schema.js';
import type { Infer } from './types.js';

type Api = Partial<Infer<typeof apiTemplate>>;

/** How the API serves: plain HTTP, a certificate made by ockle, or the operator's files. */
export type TlsMode = 'off' | 'auto' | 'files';

/** `tls` as written, or its default: files when tls_cert is set, else off. */
export function tlsMode(api: Api): TlsMode {
  return api.tls ?? (api.tls_cert ? 'files' : 'off');
}

/** The certificate and key files of `tls = files`, absolute (relative paths are from the config directory). */
export function tlsFiles(api: Api, configDir: string): { cert: string; key: string } | null {
  if (tlsMode(api) !== 'files' || !api.tls_cert || !api.tls_key) return null;
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(configDir, p));
  return { cert: at(api.tls_cert), key: at(api.tls_key) };
}

/** Whether binding `address` keeps the API on this machine: 127.0.0.0/8, ::1 or localhost. */
export function isLoopback(address: string): boolean {
  const a = address.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (a === 'localhost' || a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  if (isIP(a) === 4) return a.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped !== null && mapped[1]!.startsWith('127.');
}

/**
 * The `[api]` exposure problems of ockle.ini: clear text beyond loopback, a TLS setup that
 * cannot start (a missing, unreadable or mismatched certificate or key), a key others can read.
 * `lineOf(key)` is the line of a key (undefined: not set); `sectionLine` that of `[api]`.
 */
export function checkApiExposure(api: Api, configDir: string, lineOf: (key: string) => number | undefined, sectionLine: number): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const error = (key: string, message: string, hint: string): void => void out.push({ file: 'ockle.ini', line: lineOf(key) ?? sectionLine, key, message, hint, severity: 'error' });
  const mode = tlsMode(api);
  const listen = api.listen ?? '127.0.0.1';
  if (mode === 'off' && !isLoopback(listen) && api.allow_plaintext !== true)
    error(
      'listen',
      `listen = ${listen} serves the API beyond this machine in plain HTTP: bearer tokens would cross the network in clear text`,
      'Set tls = auto in [api] (a self-signed certificate; `ockle api fingerprint` prints what to check in the browser), or tls_cert and tls_key, or listen = 127.0.0.1 behind a TLS proxy (docs/security.md); allow_plaintext = true accepts clear text.',
    );
  if (mode !== 'files' && (api.tls_cert !== undefined || api.tls_key !== undefined))
    error(api.tls_cert !== undefined ? 'tls_cert' : 'tls_key', `tls = ${mode} but ${api.tls_cert !== undefined ? 'tls_cert' : 'tls_key'} is set: which certificate is meant?`, 'Remove tls (or set tls = files) to use your files, or remove tls_cert and tls_key.');
  if (mode === 'files') {
    if (!api.tls_cert || !api.tls_key) {
      error(api.tls_cert ? 'tls_key' : 'tls_cert', `tls = files needs both tls_cert and tls_key (${api.tls_cert ? 'tls_key' : 'tls_cert'} is not set)`, 'Name the PEM certificate and its private key, or set tls = auto.');
      return out;
    }
    const files = tlsFiles(api, configDir)!;
    let cert: X509Certificate | null = null;
    try {
      cert = new X509Certificate(readFileSync(files.cert));
    } catch (err) {
      error('tls_cert', `tls_cert ${files.cert} ${readProblem(err, 'a PEM certificate')}`, 'Point tls_cert at the PEM certificate (the server certificate first, then its chain).');
    }
    let mode: number | null = null;
    try {
      mode = statSync(files.key).mode & 0o777;
    } catch (err) {
      error('tls_key', `tls_key ${files.key} ${readProblem(err, 'a PEM private key')}`, 'Point tls_key at the certificate’s PEM private key.');
    }
    if (mode !== null && (mode & 0o077) !== 0)
      error('tls_key', `tls_key ${files.key} is readable by others than its owner (mode ${mode.toString(8).padStart(4, '0')})`, `Run chmod 600 ${files.key} (and chown it to the user ockle runs as).`);
    else if (mode !== null) {
      try {
        const key = createPrivateKey(readFileSync(files.key));
        if (cert && !cert.checkPrivateKey(key)) error('tls_key', `tls_key ${files.key} is not the private key of tls_cert ${files.cert}`, 'Name the key the certificate was issued for.');
      } catch (err) {
        error('tls_key', `tls_key ${files.key} ${readProblem(err, 'a PEM private key')}`, 'Point tls_key at the certificate’s PEM private key (unencrypted).');
      }
    }
  }
  if (api.redirect_port !== undefined && mode === 'off')
    error('redirect_port', 'redirect_port redirects to HTTPS, but the API serves plain HTTP (tls is off)', 'Set tls = auto or tls_cert/tls_key, or remove redirect_port.');
  return out;
}

function readProblem(err: unknown, what: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES') return 'cannot be read by this user';
  return `is not ${what}`;
}
