/**
 * What a browser-facing API on a LAN needs, against a real daemon: requests naming another
 * Host are refused (DNS rebinding), state changes need a JSON content type or X-Ockle-Client
 * (bodyless ones too), failed authentication is logged without the token, counted and
 * throttled per address while a valid token keeps working, and every /api/* reply (each route
 * of the OpenAPI document, fastify's own 400/404/415/431 too) is no-store and nosniff in the
 * API's error shape. Nothing refused writes to an outlet: the sim PDU's writes are counted.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { generateToken } from '../../src/api/auth.js';
import { AuthThrottle } from '../../src/api/throttle.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { makeLab, type Lab } from '../support/lab.js';

type ErrorBody = { error: { code: string; message: string; hint?: string } };

describe('API hardening', () => {
  let lab: Lab;
  let daemon: Daemon;
  const viewer = generateToken();
  const operator = generateToken();
  const admin = generateToken();
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const writes = (): number => daemon.shared<SimWorld>('sim-world')!.writes('pdu-1').count;
  const call = (path: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    fetch(`${daemon.url}${path}`, { method: o.method ?? 'GET', headers: o.headers ?? {}, ...(o.body !== undefined && { body: o.body }) });
  const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });
  const hardened = (res: { headers: { get(name: string): string | null } }, what: string): void => {
    expect(res.headers.get('cache-control')?.split(/,\s*/), what).toContain('no-store');
    expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
  };
  /** A request through node:http, which sends the Host header given (fetch replaces it). */
  const withHost = (path: string, host: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    new Promise<{ status: number; headers: { get(name: string): string | null }; json(): Promise<unknown> }>((resolve, reject) => {
      const u = new URL(daemon.url);
      const req = httpRequest({ host: u.hostname, port: u.port, path, method: o.method ?? 'GET', headers: { ...o.headers, host } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: { get: (n) => (res.headers[n] as string | undefined) ?? null }, json: async () => JSON.parse(text) as unknown }),
        );
      });
      req.on('error', reject);
      req.end(o.body);
    });

  beforeAll(async () => {
    lab = await makeLab({ a: {}, b: { deps: ['a'] } });
    const ini = join(lab.configDir, 'ockle.ini');
    await writeFile(
      ini,
      (await readFile(ini, 'utf8')).replace('[api]\nport = 0\n', '[api]\nport = 0\nnames = ockle.lab.example, 127.0.0.9\nanonymous_role = viewer\n') +
        `\n[token.vera]\nrole = viewer\nsha256 = ${viewer.sha256}\n\n[token.otto]\nrole = operator\nsha256 = ${operator.sha256}\n\n[token.ada]\nrole = admin\nsha256 = ${admin.sha256}\n`,
    );
    daemon = await Daemon.start({ configDir: lab.configDir, log: createLogger({ level: 'info', destination: sink }), monitor: false });
  });
  afterAll(async () => {
    await daemon?.stop();
    await lab?.cleanup();
  });

  it('answers only to its own Host names: loopback, the listen address, the configured names (421 otherwise)', async () => {
    const port = new URL(daemon.url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'ockle.lab.example', `OCKLE.lab.example.:${port}`, '127.0.0.9', 'app.localhost']) {
      const res = await withHost('/api/servers', host);
      expect(res.status, host).toBe(200);
    }
    for (const host of ['attacker.example', `attacker.example:${port}`, 'ockle.lab.example.attacker.example', '127.0.0.1.nip.io', 'user@127.0.0.1']) {
      const res = await withHost('/api/servers', host, { headers: bearer(admin.token) });
      expect(res.status, host).toBe(421);
      hardened(res, host);
      expect(((await res.json()) as ErrorBody).error).toMatchObject({ code: 'OCKLE_API_HOST', hint: expect.stringContaining('[api] names') as string });
    }
    // The dashboard page too: a rebinding page cannot read it either.
    expect((await withHost('/', 'attacker.example')).status).toBe(421);
    // Nothing switched by a rebinding page's POST.
    const before = writes();
    const post = await withHost('/api/servers/a/actions', 'attacker.example', { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(operator.token) }, body: '{"action":"on","force":true}' });
    expect(post.status).toBe(421);
    expect(writes()).toBe(before);
  });

  it('refuses state changes a page on another site could send: no JSON content type and no X-Ockle-Client, bodyless too', async () => {
    const before = writes();
    // Anonymous viewer: a cross-site no-cors POST runs no plugin command (403, not 404: refused before routing).
    for (const [path, headers, body] of [
      ['/api/commands/auto-control.status', { 'content-type': 'text/plain' }, '{}'],
      ['/api/servers/a/actions', { 'content-type': 'text/plain;charset=UTF-8', ...bearer(operator.token) }, '{"action":"on","force":true}'],
      ['/api/servers/a/actions', { 'content-type': 'application/x-www-form-urlencoded', ...bearer(operator.token) }, 'action=on&force=true'],
      ['/api/servers/a/actions', { 'content-type': 'multipart/form-data; boundary=x', ...bearer(operator.token) }, '--x--'],
      ['/api/actions/a0000/cancel', bearer(operator.token), undefined],
      ['/api/config/undo', bearer(admin.token), undefined],
    ] as const) {
      const res = await call(path, { method: 'POST', headers: { ...headers }, ...(body !== undefined && { body }) });
      expect(res.status, path).toBe(403);
      hardened(res, path);
      expect(((await res.json()) as ErrorBody).error.code, path).toBe('OCKLE_API_CROSS_SITE');
    }
    expect(writes()).toBe(before);
    // The dashboard's and the CLI's requests carry both; a bodyless one with either passes the guard.
    const cancel = await call('/api/actions/a0000/cancel', { method: 'POST', headers: { 'x-ockle-client': 'web', ...bearer(operator.token) } });
    expect(((await cancel.json()) as ErrorBody).error.code).toBe('OCKLE_ACTION_UNKNOWN');
    const json = await call('/api/actions/a0000/cancel', { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(operator.token) } });
    expect(((await json.json()) as ErrorBody).error.code).toBe('OCKLE_ACTION_UNKNOWN');
    const on = await call('/api/servers/a/actions', { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(operator.token) }, body: '{"action":"on","force":true,"reason":"guard test"}' });
    expect(on.status).toBe(202);
    const { action } = (await on.json()) as { action: { id: string } };
    expect((await daemon.gateway.waitFor(action.id)).status).toBe('ok');
    expect(writes()).toBe(before + 1);
  });

  it('logs, counts and throttles 2000 wrong tokens from one address; a valid token works at once, never slowed', async () => {
    lines.length = 0;
    const statuses = new Map<number, number>();
    let retryAfter: string | null = null;
    const wrong = generateToken().token;
    for (let i = 0; i < 2000; i++) {
      const res = await call('/api/servers', { headers: bearer(`${wrong}${i}`) });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 429) {
        retryAfter ??= res.headers.get('retry-after');
        hardened(res, '429');
        if (i === 1999) expect(((await res.json()) as ErrorBody).error.code).toBe('OCKLE_AUTH_THROTTLED');
        else await res.body?.cancel();
      } else await res.body?.cancel();
    }
    expect(Object.fromEntries(statuses)).toEqual({ 401: 20, 429: 1980 });
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    // A valid token from the same address, right now: served, no Retry-After.
    for (const t of [viewer.token, admin.token]) {
      const ok = await call('/api/servers', { headers: bearer(t) });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('retry-after')).toBeNull();
    }
    // The log: one line per failure up to the limit, one when throttled; the address and the
    // reason, never a token.
    const log = lines.map((l) => JSON.parse(l) as { msg: string; address?: string; reason?: string });
    const failed = log.filter((l) => l.msg === 'authentication failed');
    expect(failed).toHaveLength(20);
    expect(failed[0]).toMatchObject({ address: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$/) as string, reason: 'invalid token' });
    expect(log.filter((l) => l.msg.startsWith('authentication failures throttled'))).toHaveLength(1);
    expect(lines.join('')).not.toContain(wrong);
    expect(lines.join('')).not.toContain('ockle_');
    // The counters, in the Prometheus text format.
    const metrics = await (await call('/api/metrics', { headers: bearer(viewer.token) })).text();
    expect(metrics).toContain('ockle_api_auth_failures_total{reason="invalid token"} 2000\n');
    expect(metrics).toContain('ockle_api_auth_throttled_total 1980\n');
    expect(metrics).toContain('ockle_api_auth_throttled_addresses 1\n');
  }, 120_000);

  it('walks every route of the OpenAPI document: each reply is no-store and nosniff, and nothing is written', async () => {
    const before = writes();
    const doc = (await (await call('/api/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => [m.toUpperCase(), path] as const));
    expect(routes.length).toBeGreaterThan(30);
    for (const [method, path] of routes) {
      const url = path.replace(/\{path\}/g, 'servers/zz.ini').replace(/\{outlet\}/g, '1').replace(/\{[a-z]+\}/g, 'zz');
      // Changes as a viewer (refused by role before any handler), reads as an admin, and each anonymously.
      const token = method === 'GET' ? admin.token : viewer.token;
      for (const headers of [{ ...bearer(token), 'x-ockle-client': 'api' }, { 'x-ockle-client': 'api' }, { ...bearer('wrong'), 'x-ockle-client': 'api' }]) {
        const ac = new AbortController();
        const res = await fetch(`${daemon.url}${url}`, { method, headers, signal: ac.signal });
        hardened(res, `${method} ${url}`);
        if (res.status >= 400) expect(Object.keys(((await res.json()) as ErrorBody).error), `${method} ${url}`).toEqual(expect.arrayContaining(['code', 'message']));
        ac.abort();
      }
    }
    expect(writes()).toBe(before);
  });

  it("answers fastify's own refusals (400, 404, 415, 413, 431) in the API's shape, hardened", async () => {
    const cases: [string, Response][] = [
      ['bad URL', await call('/api/servers/%E0%A4%A', { headers: bearer(admin.token) })],
      ['no route', await call('/api/nope', { headers: bearer(admin.token) })],
      ['text body', await call('/api/actions', { method: 'POST', headers: { 'x-ockle-client': 'api', 'content-type': 'text/plain', ...bearer(operator.token) }, body: 'on' })],
      ['not JSON', await call('/api/actions', { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(operator.token) }, body: '{' })],
      ['too large', await call('/api/actions', { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(operator.token) }, body: JSON.stringify({ reason: 'x'.repeat(20_000) }) })],
    ];
    expect(cases.map(([w, r]) => `${w} ${r.status}`)).toEqual(['bad URL 400', 'no route 404', 'text body 415', 'not JSON 400', 'too large 413']);
    for (const [what, res] of cases) {
      hardened(res, what);
      expect(((await res.json()) as ErrorBody).error, what).toMatchObject({ code: expect.stringMatching(/^OCKLE_/) as string, message: expect.any(String) as string });
    }
    // Headers too large for Node's parser: answered before fastify, in the same shape.
    const raw = await new Promise<string>((resolve, reject) => {
      const url = new URL(daemon.url);
      const s = connect({ host: url.hostname, port: Number(url.port) }, () => s.write(`GET /api/servers HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString()));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 431 /);
    expect(raw).toMatch(/\r\nCache-Control: no-store\r\n/i);
    expect(raw).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as ErrorBody).toMatchObject({ error: { code: 'OCKLE_REQUEST_INVALID' } });
  });

  it('applies new [api] names on a reload', async () => {
    expect((await withHost('/api/servers', 'rack.example')).status).toBe(421);
    const ini = join(lab.configDir, 'ockle.ini');
    await writeFile(ini, (await readFile(ini, 'utf8')).replace('names = ockle.lab.example, 127.0.0.9', 'names = rack.example'));
    expect(await daemon.reload()).toBe(true);
    expect((await withHost('/api/servers', 'rack.example')).status).toBe(200);
    expect((await withHost('/api/servers', 'ockle.lab.example')).status).toBe(421);
  });
});

describe('failed-authentication throttle', () => {
  it('opens a fresh window per address when the last one ends, and says so once', () => {
    let now = 1_000_000;
    const throttle = new AuthThrottle({ limit: 3, windowMs: 10_000, log: silentLogger(), now: () => now });
    const fail = (address: string): number | null => {
      try {
        throttle.failed(address, 'invalid token', 'GET /api/servers');
        return null;
      } catch (err) {
        return (err as { retryAfter: number }).retryAfter;
      }
    };
    expect([fail('a'), fail('a'), fail('a')]).toEqual([null, null, null]);
    expect(fail('a')).toBe(10);
    expect(fail('b')).toBeNull(); // another address has its own count
    now += 7_500;
    expect(fail('a')).toBe(3); // the rest of the window, rounded up
    now += 2_500;
    expect(fail('a')).toBeNull(); // the window ended: counted anew
    expect(throttle.failures.get('invalid token')).toBe(7);
    expect(throttle.throttledTotal).toBe(2);
  });
});
