/**
 * The self-signed certificate of `tls = auto` as OpenSSL reads it: v3, the names in its
 * subjectAltName, a server certificate that is no CA, a signature that verifies, the key that
 * matches, and the fingerprint OpenSSL computes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fingerprint, keyMatches, selfSignedCertificate } from '../../src/api/x509.js';
import { describePeer } from '../support/peers.js';

const openssl = (...args: string[]): { code: number | null; out: string } => {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
};

describePeer('self-signed certificate read by openssl', ['openssl'], () => {
  let dir: string;
  const made = selfSignedCertificate(['localhost', 'rack-pi.lab', '127.0.0.1', '::1', '127.0.0.2']);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ockle-x509-'));
    await writeFile(join(dir, 'cert.pem'), made.cert);
    await writeFile(join(dir, 'key.pem'), made.key, { mode: 0o600 });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is a v3 ECDSA server certificate for every name given, not a CA', () => {
    const r = openssl('x509', '-in', join(dir, 'cert.pem'), '-noout', '-text');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('Version: 3 (0x2)');
    expect(r.out).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(r.out).toContain('ASN1 OID: prime256v1');
    expect(r.out).toMatch(/Subject: CN ?= ?ockle localhost/);
    expect(r.out).toMatch(/DNS:localhost, DNS:rack-pi\.lab, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1, IP Address:127\.0\.0\.2/);
    expect(r.out).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(r.out).toMatch(/Key Usage: critical\s+Digital Signature/);
    expect(r.out).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication/);
  });

  it('verifies against itself as the trust anchor, for a host name and an address', () => {
    for (const [flag, name] of [['-verify_hostname', 'rack-pi.lab'], ['-verify_ip', '127.0.0.1'], ['-verify_ip', '::1']] as const) {
      const r = openssl('verify', '-CAfile', join(dir, 'cert.pem'), '-purpose', 'sslserver', flag, name, join(dir, 'cert.pem'));
      expect(r.out).toContain('OK');
      expect(r.code).toBe(0);
    }
    const wrong = openssl('verify', '-CAfile', join(dir, 'cert.pem'), '-verify_hostname', 'elsewhere.lab', join(dir, 'cert.pem'));
    expect(wrong.code).not.toBe(0);
  });

  it('writes an IPv6 address with an IPv4 tail as the same 16 bytes', () => {
    const c = selfSignedCertificate(['localhost', '::ffff:127.0.0.1', '::']);
    const text = spawnSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName'], { input: c.cert, encoding: 'utf8' }).stdout;
    expect(text).toContain('IP Address:0:0:0:0:0:FFFF:7F00:1, IP Address:0:0:0:0:0:0:0:0');
  });

  it('has the key it was made with, and the fingerprint openssl computes', () => {
    const pub = (args: string[]) => openssl(...args).out;
    expect(pub(['x509', '-in', join(dir, 'cert.pem'), '-noout', '-pubkey'])).toBe(pub(['pkey', '-in', join(dir, 'key.pem'), '-pubout']));
    expect(keyMatches(made.cert, made.key)).toBe(true);
    expect(keyMatches(made.cert, selfSignedCertificate(['localhost']).key)).toBe(false);
    const fp = openssl('x509', '-in', join(dir, 'cert.pem'), '-noout', '-fingerprint', '-sha256').out.trim().split('=')[1];
    expect(fingerprint(made.cert)).toBe(fp);
    expect(fingerprint(made.cert)).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('is valid from a day before it was made, for 3650 days (three of them leap days), past 2049 in GeneralizedTime', () => {
    const later = selfSignedCertificate(['localhost'], { now: new Date('2045-06-01T00:00:00Z'), days: 3650 });
    const dates = spawnSync('openssl', ['x509', '-noout', '-startdate', '-enddate'], { input: later.cert, encoding: 'utf8' }).stdout;
    expect(dates).toContain('notBefore=May 31 00:00:00 2045 GMT');
    expect(dates).toContain('notAfter=May 30 00:00:00 2055 GMT');
  });
});
