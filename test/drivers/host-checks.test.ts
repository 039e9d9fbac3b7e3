/**
 * Testers (tcp, http, ping, command) and the command control against real peers on 127.0.0.1:
 * a TCP listener and an HTTP server started here, the system ping, local programs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttp, type Server as HttpServer } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { commandControllerDriver } from '../../drivers/host/controllers.js';
import { splitArgs } from '../../drivers/host/process.js';
import { commandTesterDriver, httpTesterDriver, pingTesterDriver, tcpTesterDriver } from '../../drivers/host/testers.js';
import { makeDriverContext } from '../support/driver-context.js';
import { describePeer } from '../support/peers.js';

const sig = (): AbortSignal => new AbortController().signal;
const ctx = (host?: string) => makeDriverContext({ id: 'web-1/check', server: { name: 'web-1', host, outlets: [] } });
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function listen<S extends Server | HttpServer>(s: S): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  closers.push(() => new Promise<void>((r) => s.close(() => r())));
  return (s.address() as { port: number }).port;
}

describe('tcp tester', () => {
  it('passes when the port accepts, with latency; fails with the reason when refused', async () => {
    const port = await listen(createServer((c) => c.end()));
    const up = tcpTesterDriver.create({ host: undefined, port }, ctx('127.0.0.1'));
    const p = await up.probe(sig());
    expect(p).toMatchObject({ passed: true, detail: `127.0.0.1:${port} accepts connections (${p.latencyMs} ms)` });
    const closed = await listen(createServer());
    await closers.pop()!();
    expect(await tcpTesterDriver.create({ host: '127.0.0.1', port: closed }, ctx()).probe(sig())).toMatchObject({ passed: false, detail: `127.0.0.1:${closed}: connection refused` });
  });

  it('needs a host from its section or its server', () => {
    expect(() => tcpTesterDriver.create({ host: undefined, port: 22 }, ctx())).toThrow(expect.objectContaining({ code: 'OCKLE_CONFIG_INVALID', hint: expect.stringMatching(/servers\/web-1\.ini/) }));
  });
});

describe('http tester', () => {
  let port = 0;
  const http = (over: Partial<Record<string, unknown>>) =>
    httpTesterDriver.create({ url: `http://127.0.0.1:${port}/health`, expect_status: '2xx', body_match: undefined, ca_file: undefined, insecure: false, ...over }, ctx('127.0.0.1'));
  afterEach(() => {
    port = 0;
  });
  const start = async (): Promise<void> => {
    port = await listen(
      createHttp((req, res) => {
        if (req.url === '/health') res.end('{"status":"healthy"}');
        else if (req.url === '/hang') return;
        else res.writeHead(503).end('maintenance');
      }),
    );
  };

  it('passes on an expected status and matching body', async () => {
    await start();
    expect(await http({ body_match: '"status":"healthy"' }).probe(sig())).toMatchObject({ passed: true, detail: expect.stringMatching(/HTTP 200 in/) });
    expect(await http({ url: `http://{host}:${port}/health`, expect_status: '200, 204' }).probe(sig())).toMatchObject({ passed: true });
  });

  it('fails on another status, a body that does not match, and a refused connection', async () => {
    await start();
    expect(await http({ url: `http://127.0.0.1:${port}/down` }).probe(sig())).toMatchObject({ passed: false, detail: expect.stringMatching(/HTTP 503, expected 2xx/) });
    expect(await http({ body_match: 'ready' }).probe(sig())).toMatchObject({ passed: false, detail: expect.stringMatching(/does not match \/ready\//) });
    const dead = port;
    await closers.pop()!();
    expect(await http({ url: `http://127.0.0.1:${dead}/health` }).probe(sig())).toMatchObject({ passed: false, detail: expect.stringMatching(/connection refused/) });
  });

  it('a server that hangs is ended by the test’s timeout (abort)', async () => {
    await start();
    const ac = new AbortController();
    const p = http({ url: `http://127.0.0.1:${port}/hang` }).probe(ac.signal);
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toMatchObject({ code: 'OCKLE_OPERATION_ABORTED' });
  });
});

describePeer('http tester over TLS', ['openssl'], () => {
  it('checks the certificate: a lab CA file passes, an unknown one fails with the reason, insecure passes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ockle-tls-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const port = await listen(createHttps({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_, res) => res.end('ok')));
    const t = (over: Record<string, unknown>) =>
      httpTesterDriver.create({ url: `https://127.0.0.1:${port}/`, expect_status: '200', body_match: undefined, ca_file: undefined, insecure: false, ...over }, ctx());
    expect(await t({ ca_file: join(dir, 'cert.pem') }).probe(sig())).toMatchObject({ passed: true });
    expect(await t({}).probe(sig())).toMatchObject({ passed: false, detail: expect.stringMatching(/self[- ]signed certificate/) });
    expect(await t({ insecure: true }).probe(sig())).toMatchObject({ passed: true });
  });
});

describePeer('ping tester', ['ping'], () => {
  it('passes against 127.0.0.1 with the reply time as latency', async () => {
    const p = await pingTesterDriver.create({ host: undefined, count: 1, wait: 1 }, ctx('127.0.0.1')).probe(sig());
    expect(p.passed).toBe(true);
    expect(p.detail).toMatch(/^reply from 127\.0\.0\.1 in [\d.]+ ms$/);
    expect(p.latencyMs).toBeGreaterThanOrEqual(0);
  });
});

describe('command tester and control (no shell)', () => {
  it('splits like a shell but never runs one', () => {
    expect(splitArgs(`/usr/bin/check --name "db 1" 'a;b' x\\ y`)).toEqual(['/usr/bin/check', '--name', 'db 1', 'a;b', 'x y']);
    expect(() => splitArgs('echo "open')).toThrow(/unclosed/);
  });

  it('tester: exit 0 passes, anything else fails with the exit code, a hang is killed at its limit', async () => {
    const t = (command: string, limit = 5) => commandTesterDriver.create({ command, time_limit: limit }, ctx());
    expect(await t('true').probe(sig())).toMatchObject({ passed: true, detail: 'true exited 0' });
    expect(await t(`sh -c 'echo degraded >&2; exit 3'`).probe(sig())).toMatchObject({ passed: false, detail: 'sh exited 3: degraded' });
    expect(await t('sleep 30', 1).probe(sig())).toMatchObject({ passed: false, detail: 'sleep did not finish within 1000 ms' });
    expect(await t('/nonexistent/check').probe(sig())).toMatchObject({ passed: false, detail: 'cannot run /nonexistent/check: ENOENT' });
    // `;` is an argument, not a command separator: no shell.
    expect(await t('echo ok; false').probe(sig())).toMatchObject({ passed: true, detail: 'echo exited 0: ok; false' });
  });

  it('control: exit 0 is accepted; a failure says why; a hang is stopped by the signal', async () => {
    const c = (command: string) => commandControllerDriver.create({ command }, ctx());
    await expect(c('true').shutdown(sig())).resolves.toBeUndefined();
    await expect(c(`sh -c 'echo permission denied >&2; exit 1'`).shutdown(sig())).rejects.toMatchObject({ code: 'OCKLE_CONTROL_FAILED', message: 'sh exited 1: permission denied' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await expect(c('sleep 30').shutdown(ac.signal)).rejects.toMatchObject({ code: 'OCKLE_CONTROL_TIMEOUT' });
  });
});
