/**
 * HTTPS in the API, checked by independent clients: openssl s_client and curl against a real
 * daemon. `tls = auto` makes its certificate once (key 0600) and reuses it; `tls = files` with a
 * key others can read is refused before anything listens; a renewed certificate is served after
 * a reload (SIGHUP) without a restart; clear text beyond loopback is refused at `config check`.
 * The CLI trusts the certificate by its pinned fingerprint, and an impostor with another
 * certificate receives not one byte of a request, token included.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { connect as tlsConnect, createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { defaultRegistry } from '../../drivers/registry.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { AUTO_CERT_FILE, AUTO_KEY_FILE, FINGERPRINT_FILE } from '../../src/api/tls.js';
import { selfSignedCertificate } from '../../src/api/x509.js';
import { Client, resolveClient } from '../../src/cli/client.js';
import { main } from '../../src/cli/commands.js';
import { checkConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon.js';
import { ConfigError, formatProblem } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { makeLab, type Lab } from '../support/lab.js';
import { describePeer } from '../support/peers.js';

/** Runs a program without blocking this process (the daemon under test answers from it). */
function run(cmd: string, args: readonly string[], input = ''): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
    p.stdin.end(input);
  });
}

/** The SHA-256 fingerprint of the certificate a TLS server presents, as openssl sees it. */
async function servedFingerprint(port: number): Promise<string> {
  const s = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost'], '');
  expect(s.out).toContain('BEGIN CERTIFICATE');
  const fp = await run('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], s.out);
  return fp.out.trim().split('=')[1]!;
}

const portOf = (url: string): number => Number(new URL(url).port);

function cli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  return main(argv, { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: (s: string) => ((err += s), true) }, env, cwd: process.cwd() }).then((code) => ({ code, out, err }));
}

describePeer('HTTPS in the API (openssl, curl)', ['openssl', 'curl'], () => {
  let lab: Lab;
  let daemon: Daemon | undefined;
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const apiSection = async (keys: string): Promise<void> => {
    const ini = join(lab.configDir, 'ockle.ini');
    const text = (await readFile(ini, 'utf8')).replace(/^\[api\]\n[\s\S]*?\n\n/m, `[api]\nport = 0\n${keys}\n\n`);
    await writeFile(ini, text);
  };
  const start = async (): Promise<Daemon> => (daemon = await Daemon.start({ configDir: lab.configDir, log: createLogger({ level: 'info', destination: sink }), monitor: false }));

  beforeAll(async () => {
    lab = await makeLab({ a: {}, b: { deps: ['a'] } });
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    lines.length = 0;
  });
  afterAll(() => lab.cleanup());

  it('tls = auto: makes a certificate once (key 0600), serves it, and reuses it after a restart', async () => {
    await apiSection('tls = auto');
    await start();
    expect(daemon!.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const cert = await readFile(join(lab.stateDir, AUTO_CERT_FILE), 'utf8');
    const fingerprint = new X509Certificate(cert).fingerprint256;
    expect((await stat(join(lab.stateDir, AUTO_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect((await readFile(join(lab.stateDir, FINGERPRINT_FILE), 'utf8')).trim()).toBe(fingerprint);
    // The start prints the fingerprint to check in the browser.
    expect(lines.join('')).toContain(`check this SHA-256 fingerprint once in the browser: ${fingerprint}`);
    expect(await servedFingerprint(portOf(daemon!.url))).toBe(fingerprint);

    // curl trusts it given the certificate, for the address and for localhost; not without.
    const port = portOf(daemon!.url);
    const ok = await run('curl', ['-sS', '--cacert', join(lab.stateDir, AUTO_CERT_FILE), `https://127.0.0.1:${port}/api/health`]);
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(ok.out)).toHaveProperty('status');
    const byName = await run('curl', ['-sS', '--cacert', join(lab.stateDir, AUTO_CERT_FILE), '--resolve', `localhost:${port}:127.0.0.1`, `https://localhost:${port}/api/health`]);
    expect(byName.code, byName.err).toBe(0);
    const untrusted = await run('curl', ['-sS', `https://127.0.0.1:${port}/api/health`]);
    expect(untrusted.code).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
    const plain = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/api/health`]);
    expect(plain.out).not.toBe('200');

    // `ockle api fingerprint` prints the same, without a daemon.
    const printed = await cli(['api', 'fingerprint', '--config', lab.configDir]);
    expect(printed.code, printed.err).toBe(0);
    expect(printed.out.split('\n')[0]).toBe(fingerprint);
    expect(printed.out).toContain('127.0.0.1');

    // A client that completed its handshake and sent nothing, and one still before it, do not
    // hold the stop (forceCloseConnections alone reaches only HTTP connections).
    const idle = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await new Promise((r) => idle.once('secureConnect', r));
    const raw = netConnect({ host: '127.0.0.1', port });
    await new Promise((r) => raw.once('connect', r));
    const closed = Promise.all([new Promise((r) => idle.once('close', r)), new Promise((r) => raw.once('close', r))]);
    await daemon!.stop();
    await closed;
    daemon = undefined;
    lines.length = 0;
    await start();
    expect(await readFile(join(lab.stateDir, AUTO_CERT_FILE), 'utf8')).toBe(cert);
    expect(await servedFingerprint(portOf(daemon!.url))).toBe(fingerprint);
    expect(lines.join('')).not.toContain('made a self-signed certificate');
  });

  it('the CLI trusts the certificate by its pinned fingerprint, and refuses another before sending anything', async () => {
    await apiSection('tls = auto');
    await start();
    // The local CLI: URL, token and fingerprint from the state directory.
    const status = await cli(['status', '--json', '--config', lab.configDir]);
    expect(status.code, status.err).toBe(0);
    expect((JSON.parse(status.out) as { servers: unknown[] }).servers).toHaveLength(2);
    const plan = await cli(['plan', 'on', 'b', '--config', lab.configDir]);
    expect(plan.code, plan.err).toBe(0);
    // The event stream (`ockle watch`) over the same pinned connection.
    const client = new Client(resolveClient({ configDir: lab.configDir, env: {} }));
    const ac = new AbortController();
    const listeners = daemon!.events.listenerCount();
    const stream = client.events('config.reloaded', ac.signal)[Symbol.asyncIterator]();
    const first = stream.next();
    await expect.poll(() => daemon!.events.listenerCount()).toBeGreaterThan(listeners);
    await daemon!.reload();
    expect((await first).value).toMatchObject({ event: 'config.reloaded', data: { ok: true } });
    ac.abort();
    await stream.return?.(undefined);

    // A wrong pin: refused, exit 4, the fingerprint seen named.
    const wrong = await cli(['status', '--config', lab.configDir], { OCKLE_FINGERPRINT: 'AB'.repeat(32) });
    expect(wrong.code).toBe(4);
    expect(wrong.err).toContain('not the pinned AB:AB');

    // An impostor on another port with its own certificate: the CLI pinned to the daemon's
    // fingerprint closes the connection after the handshake; the impostor reads zero bytes.
    const impostorCert = selfSignedCertificate(['localhost', '127.0.0.1']);
    let received = 0;
    const connections: Promise<void>[] = [];
    let seen = '';
    const impostor: TlsServer = createTlsServer({ cert: impostorCert.cert, key: impostorCert.key }, (s) => {
      s.on('data', (c: Buffer) => {
        received += c.length;
        seen += c.toString();
        s.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 14\r\nconnection: close\r\n\r\n{"servers":[]}');
      });
    });
    impostor.on('connection', (raw: Socket) => connections.push(new Promise((r) => raw.once('close', () => r()))));
    impostor.on('tlsClientError', () => {});
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
    try {
      const url = `https://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
      const refused = await cli(['status', '--config', lab.configDir, '--url', url]);
      expect(refused.code).toBe(4);
      expect(refused.err).toContain(new X509Certificate(impostorCert.cert).fingerprint256);
      expect(refused.err).toContain('ockle api fingerprint');
      const watch = await cli(['watch', '--config', lab.configDir, '--url', url]);
      expect(watch.code).toBe(4);
      // Each command connected (a command may make several requests at once, a connection each)
      // and closed after the handshake; not a byte of HTTP reached the impostor.
      expect(connections.length).toBeGreaterThanOrEqual(2);
      await Promise.all(connections);
      expect(received).toBe(0);
      // The control: pinned to the impostor's own fingerprint, the same CLI does talk to it.
      const pinnedToIt = await cli(['status', '--json', '--config', lab.configDir, '--url', url], { OCKLE_FINGERPRINT: new X509Certificate(impostorCert.cert).fingerprint256.replace(/:/g, '').toLowerCase() });
      expect(pinnedToIt.code, pinnedToIt.err).toBe(0);
      expect(seen).toMatch(/^GET \/api\/servers HTTP\/1\.1\r\n/);
    } finally {
      await new Promise((r) => impostor.close(r));
    }
  });

  it('tls = files: a key others can read is refused (config check and start); a renewed certificate is served after a reload', async () => {
    const first = selfSignedCertificate(['localhost', '127.0.0.1']);
    await writeFile(join(lab.configDir, 'api.crt'), first.cert);
    await writeFile(join(lab.configDir, 'api.key'), first.key, { mode: 0o644 });
    await chmod(join(lab.configDir, 'api.key'), 0o644);
    await apiSection('tls_cert = api.crt\ntls_key = api.key');
    const text = await readFile(join(lab.configDir, 'ockle.ini'), 'utf8');
    const keyLine = text.split('\n').indexOf('tls_key = api.key') + 1;
    const { problems } = await checkConfig(lab.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    expect(problems.filter((p) => p.severity === 'error').map(formatProblem)).toEqual([
      `ockle.ini:${keyLine}: tls_key ${join(lab.configDir, 'api.key')} is readable by others than its owner (mode 0644) Run chmod 600 ${join(lab.configDir, 'api.key')} (and chown it to the user ockle runs as).`,
    ]);
    await expect(start()).rejects.toBeInstanceOf(ConfigError);
    daemon = undefined;

    await chmod(join(lab.configDir, 'api.key'), 0o600);
    await start();
    const port = portOf(daemon!.url);
    expect(await servedFingerprint(port)).toBe(new X509Certificate(first.cert).fingerprint256);
    const ok = await run('curl', ['-sS', '--cacert', join(lab.configDir, 'api.crt'), `https://127.0.0.1:${port}/api/health`]);
    expect(ok.code, ok.err).toBe(0);

    // Renewed in place (as certbot would), then SIGHUP's reload: new connections get the new one.
    const renewed = selfSignedCertificate(['localhost', '127.0.0.1']);
    await writeFile(join(lab.configDir, 'api.key'), renewed.key);
    await writeFile(join(lab.configDir, 'api.crt'), renewed.cert);
    expect(await daemon!.reload()).toBe(true);
    expect(await servedFingerprint(port)).toBe(new X509Certificate(renewed.cert).fingerprint256);
    expect((await readFile(join(lab.stateDir, FINGERPRINT_FILE), 'utf8')).trim()).toBe(new X509Certificate(renewed.cert).fingerprint256);

    // A broken renewal is reported and the running certificate stays.
    await writeFile(join(lab.configDir, 'api.crt'), 'not a certificate\n');
    await daemon!.reload();
    expect(lines.join('')).toContain('API certificate not reloaded');
    expect(await servedFingerprint(port)).toBe(new X509Certificate(renewed.cert).fingerprint256);
    await writeFile(join(lab.configDir, 'api.crt'), renewed.cert);
  });

  it('a reload that switches TLS on keeps serving as started, and says a restart applies it', async () => {
    await apiSection('');
    await start();
    expect(daemon!.url).toMatch(/^http:/);
    await apiSection('tls = auto');
    expect(await daemon!.reload()).toBe(true);
    expect(lines.join('')).toContain('[api] tls, tls_cert, tls_key, redirect_port apply at the next restart');
    const res = await fetch(`${daemon!.url}/api/health`);
    expect(res.status).toBe(200);
    // A second SIGHUP does not try to swap a certificate into the plain HTTP server.
    expect(await daemon!.reload()).toBe(true);
    expect(lines.join('')).not.toContain('API certificate not reloaded');
  });

  it('redirect_port answers plain HTTP with a redirect to HTTPS and nothing else', async () => {
    // A free port for the redirect (the API itself takes port 0).
    const probe = createTlsServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const redirect = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    await apiSection(`tls = auto\nredirect_port = ${redirect}`);
    await start();
    const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', `http://127.0.0.1:${redirect}/api/servers?x=1`]);
    expect(r.out).toBe(`308 https://127.0.0.1:${portOf(daemon!.url)}/api/servers?x=1`);
    const followed = await run('curl', ['-sS', '-L', '--cacert', join(lab.stateDir, AUTO_CERT_FILE), `http://127.0.0.1:${redirect}/api/health`]);
    expect(followed.code, followed.err).toBe(0);
    const rebinding = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: attacker.example', `http://127.0.0.1:${redirect}/`]);
    expect(rebinding.out).toBe('421');
  });

  it('refuses plain HTTP beyond loopback at config check, with the line and the fix, unless allow_plaintext', async () => {
    await apiSection('listen = 0.0.0.0');
    const text = await readFile(join(lab.configDir, 'ockle.ini'), 'utf8');
    const line = text.split('\n').indexOf('listen = 0.0.0.0') + 1;
    const checked = await cli(['config', 'check', '--config', lab.configDir]);
    expect(checked.code).toBe(2);
    expect(checked.err).toContain(`ockle.ini:${line}: listen = 0.0.0.0 serves the API beyond this machine in plain HTTP`);
    expect(checked.err).toContain('Set tls = auto in [api]');
    await apiSection('listen = 0.0.0.0\nallow_plaintext = true');
    expect((await cli(['config', 'check', '--config', lab.configDir])).code).toBe(0);
    await apiSection('listen = 0.0.0.0\ntls = auto');
    expect((await cli(['config', 'check', '--config', lab.configDir])).code).toBe(0);
    // Loopback needs neither.
    await apiSection('listen = ::1');
    expect((await cli(['config', 'check', '--config', lab.configDir])).code).toBe(0);
  });
});
