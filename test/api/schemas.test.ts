/**
 * Route schemas are compiled on a route's first request, not at start (so that the API answers
 * sooner). A schema Ajv refuses would then only show on that first request: this asks every
 * validated route once with input its schema refuses, and wants the API's 400 naming the field,
 * never a 500. It also checks that coercion and defaults still apply.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/core/gateway.js';
import { Auth, generateToken } from '../../src/api/auth.js';
import { lazyCompilers } from '../../src/api/schemas.js';
import { createApi } from '../../src/api/server.js';
import { silentLogger } from '../../src/log.js';

describe('route schemas, compiled on first use', () => {
  const admin = generateToken();
  const seen: unknown[] = [];
  const gateway = {
    actions: (q: unknown) => (seen.push(q), []),
  } as unknown as Gateway;
  const app = createApi(gateway, {
    auth: new Auth({ tokens: [{ name: 'ada', role: 'admin', sha256: admin.sha256 }], anonymousRole: 'none' }),
    log: silentLogger(),
    version: 'test',
    web: false,
  });
  afterAll(() => app.close());
  const ask = (method: 'GET' | 'POST', url: string, body?: unknown) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${admin.token}`, ...(body !== undefined && { 'content-type': 'application/json' }) }, ...(body !== undefined && { payload: JSON.stringify(body) }) });

  it.each([
    ['GET', '/api/actions?limit=0', undefined, 'querystring/limit'],
    ['GET', '/api/actions/a1?wait=-1', undefined, 'querystring/wait'],
    ['POST', '/api/servers/web-1/actions', { action: 'explode' }, 'body/action'],
    ['POST', '/api/actions', { action: 'on', targets: [] }, 'body/targets'],
    ['GET', '/api/plan?action=sideways', undefined, 'querystring/action'],
    ['POST', '/api/config/check', { file: '../etc/passwd', text: '' }, 'body/file'],
    ['POST', '/api/commands/x.y', 42, 'body'],
    ['GET', '/api/events?types=1&colour=red', undefined, 'querystring'],
  ] as const)('%s %s: 400 naming the field', async (method, url, body, field) => {
    const r = await ask(method, url, body);
    expect(r.statusCode).toBe(400);
    const { error } = r.json<{ error: { code: string; message: string } }>();
    expect(error.code).toBe('OCKLE_REQUEST_INVALID');
    expect(error.message).toContain(field);
    // The second time uses the compiled validator: the same answer.
    expect((await ask(method, url, body)).json()).toEqual({ error });
  });

  it('coerces query strings and fills defaults, as before', async () => {
    expect((await ask('GET', '/api/actions?limit=7')).statusCode).toBe(200);
    expect((await ask('GET', '/api/actions')).statusCode).toBe(200);
    expect(seen).toEqual([{ limit: 7 }, { limit: 50 }]);
  });
});

describe('compiling ahead of the first request', () => {
  const route = (schema: unknown) => ({ schema, method: 'GET', url: '/x', httpPart: 'querystring' });
  it('compiles every pending validator, with fastify’s Ajv and options, unless told to stop', async () => {
    const c = lazyCompilers();
    const compile = c.buildValidator({}, { customOptions: { coerceTypes: 'array' } }) as unknown as (r: unknown) => (data: unknown, cxt?: unknown) => boolean;
    const good = compile(route({ type: 'object', properties: { limit: { type: 'integer', default: 50 } } }));
    compile(route({ type: 'no-such-type' }));
    const stop = new AbortController();
    stop.abort();
    await c.compilePending(stop.signal); // told to stop: compiles nothing, so the bad schema does not throw
    await expect(c.compilePending()).rejects.toThrow(/no-such-type|type/);
    const q: Record<string, unknown> = { limit: '7' };
    expect(good(q)).toBe(true);
    expect(q).toEqual({ limit: 7 });
  });

  it('the API compiles its routes’ validators after it listens, every one without error', async () => {
    const errors: string[] = [];
    const log = Object.assign(silentLogger(), { error: (o: { err: string }) => errors.push(o.err) });
    const app = createApi({} as Gateway, { auth: new Auth({ tokens: [], anonymousRole: 'viewer' }), log, version: 'test', web: false, compileSchemasAfterMs: 0 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => setTimeout(r, 1500));
    await app.close();
    expect(errors).toEqual([]);
  });
});
