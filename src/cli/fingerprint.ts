/**
 * `ockle api fingerprint`: the SHA-256 fingerprint of the API's certificate, read from the
 * files (no daemon needed), so an operator can compare it with what the browser shows once, or
 * hand it to a CLI on another machine (OCKLE_FINGERPRINT).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ini from 'ini';
import { AUTO_CERT_FILE, certificateNames } from '../api/tls.js';
import { tlsFiles, tlsMode } from '../config/api-exposure.js';
import { resolveStateDir } from '../config/paths.js';
import { OckleError } from '../errors.js';

export interface CertificateInfo {
  readonly fingerprint: string;
  readonly file: string;
  readonly names: readonly string[];
  readonly validTo: string;
}

/** @throws OckleError OCKLE_REQUEST_INVALID when TLS is off, or the certificate is not there (yet) */
export function apiFingerprint(configDir: string, env: NodeJS.ProcessEnv): CertificateInfo {
  let main: { daemon?: { state_dir?: string }; api?: { tls?: 'off' | 'auto' | 'files'; tls_cert?: string; tls_key?: string } } = {};
  try {
    main = ini.decode(readFileSync(join(configDir, 'ockle.ini'), 'utf8')) as typeof main;
  } catch (err) {
    throw new OckleError('OCKLE_CONFIG_UNREADABLE', `cannot read ${join(configDir, 'ockle.ini')} (${(err as NodeJS.ErrnoException).code})`, { hint: 'Pass --config DIR.' });
  }
  const api = main.api ?? {};
  const mode = tlsMode(api);
  if (mode === 'off')
    throw new OckleError('OCKLE_REQUEST_INVALID', `[api] in ${join(configDir, 'ockle.ini')} serves plain HTTP: there is no certificate`, { hint: 'Set tls = auto (or tls_cert and tls_key) in [api] and restart the daemon.' });
  const file = mode === 'auto' ? join(resolveStateDir(configDir, String(main.daemon?.state_dir ?? ''), env), AUTO_CERT_FILE) : tlsFiles(api, configDir)?.cert;
  if (!file) throw new OckleError('OCKLE_REQUEST_INVALID', 'tls = files but tls_cert is not set', { hint: 'Set tls_cert and tls_key in [api].' });
  let x: X509Certificate;
  try {
    x = new X509Certificate(readFileSync(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new OckleError('OCKLE_REQUEST_INVALID', code === 'ENOENT' ? `${file} does not exist${mode === 'auto' ? ': the daemon makes it on its first start with tls = auto' : ''}` : `${file} cannot be read as a certificate (${code ?? 'not PEM'})`, {
      hint: mode === 'auto' ? 'Start the daemon once, then run this again.' : 'Check [api] tls_cert.',
    });
  }
  return { fingerprint: x.fingerprint256, file, names: certificateNames(x), validTo: x.validTo };
}
