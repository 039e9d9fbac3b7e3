/**
 * The pure parts of the API's guards, table-driven: which listen addresses stay on the machine
 * (and so may serve plain HTTP without allow_plaintext, with no warning at start), how a Host
 * header is read, which state changes count as cross-site, and the fingerprints the CLI accepts.
 */
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { checkNotCrossSite, hostOf, HostAllowList } from '../../src/api/guard.js';
import { normalizeFingerprint } from '../../src/cli/client.js';
import { isLoopback, tlsMode } from '../../src/config/api-exposure.js';

describe('API guards', () => {
  it('counts 127.0.0.0/8, ::1 and localhost as loopback, and nothing else', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) expect(isLoopback(a), a).toBe(true);
    for (const a of ['0.0.0.0', '::', '', '128.0.0.1', '::ffff:128.0.0.1', 'localhost.example', 'rack-pi', '1270.0.0.1']) expect(isLoopback(a), a).toBe(false);
  });

  it('reads tls as written, or files when tls_cert is set, else off', () => {
    expect(tlsMode({})).toBe('off');
    expect(tlsMode({ tls_cert: 'a.crt' })).toBe('files');
    expect(tlsMode({ tls: 'auto' })).toBe('auto');
    expect(tlsMode({ tls: 'off', tls_cert: 'a.crt' })).toBe('off');
  });

  it('reads the host of a Host header, and refuses what is not one', () => {
    expect(hostOf('Rack-Pi.Lab:8420')).toBe('rack-pi.lab');
    expect(hostOf('rack-pi.lab.')).toBe('rack-pi.lab');
    expect(hostOf('[::1]:8420')).toBe('::1');
    expect(hostOf('[0:0::1]')).toBe('::1');
    for (const h of [undefined, '', 'a b', 'user@127.0.0.1', '127.0.0.1:port', '[::1', 'a/b', '::1']) expect(hostOf(h), String(h)).toBeNull();
  });

  it('allows loopback, the listen address, the names and *.localhost; nothing else', () => {
    const list = new HostAllowList({ listen: '127.0.0.1', names: ['Rack.Example', '::2'] });
    for (const h of ['127.0.0.1:1', 'localhost', 'rack.example:443', '[::2]:80', 'x.localhost']) expect(list.allows(h), h).toBe(true);
    for (const h of ['attacker.example', 'rack.example.attacker.example', '127.0.0.1.nip.io', '[::3]', undefined]) expect(list.allows(h), String(h)).toBe(false);
    // This machine's name, and its mDNS name when the name has no domain (raspberrypi.local).
    expect(list.allows(hostname())).toBe(true);
    if (!hostname().includes('.')) expect(list.allows(`${hostname()}.local:8420`)).toBe(true);
  });

  it('lets safe methods through, and a change only with a JSON content type or X-Ockle-Client', () => {
    const refused = (method: string, headers: Record<string, string>): boolean => {
      try {
        checkNotCrossSite(method, headers);
        return false;
      } catch {
        return true;
      }
    };
    for (const m of ['GET', 'HEAD', 'OPTIONS']) expect(refused(m, {}), m).toBe(false);
    for (const m of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      expect(refused(m, {}), m).toBe(true);
      expect(refused(m, { 'content-type': 'text/plain' }), m).toBe(true);
      expect(refused(m, { 'content-type': 'application/x-www-form-urlencoded' }), m).toBe(true);
      expect(refused(m, { 'content-type': 'application/json-patch' }), m).toBe(true);
      expect(refused(m, { 'content-type': 'Application/JSON; charset=utf-8' }), m).toBe(false);
      expect(refused(m, { 'x-ockle-client': 'anything' }), m).toBe(false);
    }
  });

  it('accepts a fingerprint with or without colons, in any case, as openssl prints it', () => {
    const colons = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase()).join(':');
    expect(normalizeFingerprint(colons.replace(/:/g, '').toLowerCase())).toBe(colons);
    expect(normalizeFingerprint(`sha256 Fingerprint=${colons}\n`)).toBe(colons);
    expect(normalizeFingerprint('AB:CD')).toBeUndefined();
    expect(normalizeFingerprint('zz'.repeat(32))).toBeUndefined();
  });
});
