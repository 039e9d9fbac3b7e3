/**
 * Route schemas are compiled on a route's first request, not at start (so that the API answers
 * sooner). A schema Ajv refuses would then only show on that first request: this asks every
 * validated route once with input its schema refuses, and wants the API's 400 naming the field,
 * never a 500. It also checks that coercion and defaults still apply.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/core/gateway.js';
import { Auth, generateToken } from '../../src/api/auth.js';
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
