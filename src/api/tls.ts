/**
 * The API's certificate: the operator's files (`tls = files`), or one ockle makes once for this
 * host (`tls = auto`) and keeps in the state directory, so its fingerprint, checked once in the
 * browser and pinned by the CLI, stays the same across restarts. Read again on SIGHUP (a
 * renewed certificate applies to new connections without a restart).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, readFile, stat } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { tlsFiles, tlsMode } from '../config/api-exposure.js';
import { OckleError } from '../errors.js';
import { atomicWrite } from '../state-files.js';

/** Files of `tls = auto` in the state directory: the certificate, its key (0600), its fingerprint. */
export const AUTO_CERT_FILE = 'api-cert.pem';
export const AUTO_KEY_FILE = 'api-key.pem';
/**
 * The SHA-256 fingerprint of the API's certificate (`AB:CD:…`), written by the daemon beside
 * the local token: the CLI on this machine pins it (src/cli/client.ts).
 */
export const FINGERPRINT_FILE = 'api-cert.sha256';

export interface ApiCertificate {
  readonly cert: string;
  readonly key: string;
  /** SHA-256 of the certificate, `AB:CD:…`, as browsers show it. */
  readonly fingerprint: string;
  /** The DNS names and addresses it is valid for. */
  readonly names: readonly string[];
  /** True when `tls = auto` made it just now (the first start). */
  readonly generated: boolean;
}

/** localhost and this machine's name, with its mDNS name (`rack-pi.local`) when the name has no domain. */
export function localNames(): string[] {
  const h = hostname().toLowerCase();
  return ['localhost', h, ...(h.includes('.') ? [] : [`${h}.local`])];
}

/**
 * What a certificate made here should name: localhost, this host's name, the listen address
 * (every address of the machine when it listens on all), and the configured `names`.
 */
export function hostNames(listen: string, names: readonly string[]): string[] {
  const out = [...localNames(), '127.0.0.1', '::1'];
  const a = listen.replace(/^\[(.*)\]$/, '$1');
  if (a === '0.0.0.0' || a === '::' || a === '') {
    for (const list of Object.values(networkInterfaces()))
      for (const i of list ?? []) if (!i.internal && (a !== '0.0.0.0' || i.family === 'IPv4') && !i.address.startsWith('fe80:')) out.push(i.address);
  } else out.push(a);
  out.push(...names);
  return [...new Set(out.filter((n) => n !== '' && (isIP(n) !== 0 || /^[A-Za-z0-9.-]+$/.test(n))).map((n) => n.toLowerCase()))];
}

/** The names (DNS and IP) a certificate's subjectAltName holds, lower case. */
export function certificateNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .map((e) => /^(?:DNS|IP Address):(.*)$/.exec(e)?.[1]?.toLowerCase())
    .filter((n): n is string => n !== undefined)
    .map((n) => (isIP(n) === 6 ? normalizeV6(n) : n));
}
const normalizeV6 = (a: string): string => new URL(`http://[${a}]/`).hostname.slice(1, -1);

/**
 * `tls = auto`: the certificate in the state directory, made on the first start (and again
 * only when its files are gone or damaged). A certificate that lacks a name configured since is
 * kept (its fingerprint is what users trust); `missing` lists those names for a warning.
 */
export async function autoCertificate(stateDir: string, wanted: readonly string[]): Promise<ApiCertificate & { missing: string[] }> {
  const certFile = join(stateDir, AUTO_CERT_FILE);
  const keyFile = join(stateDir, AUTO_KEY_FILE);
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    const x = new X509Certificate(cert);
    if (x.checkPrivateKey(createPrivateKey(key))) {
      // An older file might have been made under another umask: the key is for ockle alone.
      if (((await stat(keyFile)).mode & 0o077) !== 0) await chmod(keyFile, 0o600);
      const have = certificateNames(x);
      const missing = wanted.map((n) => (isIP(n) === 6 ? normalizeV6(n) : n.toLowerCase())).filter((n) => !have.includes(n));
      return { cert, key, fingerprint: x.fingerprint256, names: have, generated: false, missing };
    }
  } catch {
    // absent or unreadable: made below
  }
  // The certificate writer is loaded only when one is made (once per installation).
  const { selfSignedCertificate } = await import('./x509.js');
  const made = selfSignedCertificate(wanted);
  // The key first: a certificate is never on disk without the key it belongs to.
  await atomicWrite(keyFile, made.key, 0o600);
  await atomicWrite(certFile, made.cert, 0o644);
  const x = new X509Certificate(made.cert);
  return { ...made, fingerprint: x.fingerprint256, names: certificateNames(x), generated: true, missing: [] };
}

/**
 * `tls = files`: the operator's certificate and key, checked as `config check` does (a key
 * others can read is refused, a key that is not the certificate's too).
 * @throws OckleError OCKLE_CONFIG_INVALID naming the file and the fix
 */
export async function fileCertificate(files: { cert: string; key: string }): Promise<ApiCertificate> {
  const fail = (message: string, hint: string): never => {
    throw new OckleError('OCKLE_CONFIG_INVALID', message, { hint });
  };
  let cert = '';
  let key = '';
  try {
    cert = await readFile(files.cert, 'utf8');
  } catch (err) {
    fail(`tls_cert ${files.cert} cannot be read (${(err as NodeJS.ErrnoException).code})`, 'Point [api] tls_cert at the PEM certificate.');
  }
  try {
    const mode = (await stat(files.key)).mode & 0o777;
    if ((mode & 0o077) !== 0) fail(`tls_key ${files.key} is readable by others than its owner (mode ${mode.toString(8).padStart(4, '0')})`, `Run chmod 600 ${files.key}.`);
    key = await readFile(files.key, 'utf8');
  } catch (err) {
    if (err instanceof OckleError) throw err;
    fail(`tls_key ${files.key} cannot be read (${(err as NodeJS.ErrnoException).code})`, 'Point [api] tls_key at the PEM private key.');
  }
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch {
    return fail(`tls_cert ${files.cert} is not a PEM certificate`, 'Point [api] tls_cert at the PEM certificate.');
  }
  let ok = false;
  try {
    ok = x.checkPrivateKey(createPrivateKey(key));
  } catch {
    fail(`tls_key ${files.key} is not a PEM private key`, 'Point [api] tls_key at the unencrypted PEM private key.');
  }
  if (!ok) fail(`tls_key ${files.key} is not the private key of tls_cert ${files.cert}`, 'Name the key the certificate was issued for.');
  return { cert, key, fingerprint: x.fingerprint256, names: certificateNames(x), generated: false };
}

/** The `[api]` keys that choose the certificate. */
export interface TlsSettings {
  readonly listen: string;
  readonly names: readonly string[];
  readonly tls?: 'off' | 'auto' | 'files' | undefined;
  readonly tls_cert?: string | undefined;
  readonly tls_key?: string | undefined;
}

/**
 * The certificate `[api]` asks for: made or reused (auto), read (files), or null (off). Called
 * at start and again on SIGHUP.
 * @throws OckleError OCKLE_CONFIG_INVALID when the files cannot be used
 */
export async function apiCertificate(api: TlsSettings, configDir: string, stateDir: string): Promise<(ApiCertificate & { missing?: string[] }) | null> {
  const mode = tlsMode(api);
  if (mode === 'auto') return autoCertificate(stateDir, hostNames(api.listen, api.names));
  const files = tlsFiles(api, configDir);
  return files ? fileCertificate(files) : null;
}
