/**
 * The HTTP API of a real daemon on the demo lab: roles, validation (bad input changes
 * nothing), errors, SSE and long-poll.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { generateToken } from '../../src/api/auth.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';

describe('HTTP API', () => {
  let demo: DemoCopy;
  let daemon: Daemon;
  const viewer = generateToken();
  const operator = generateToken();
  const adminToken = generateToken();
  const admin = adminToken.token;
  const writes = (): number => {
    const w = daemon.shared<SimWorld>('sim-world')!;
    return ['pdu-a', 'pdu-b', 'relay-1'].reduce((n, d) => n + w.writes(d).count, 0);
  };
  const call = (path: string, o: { token?: string; method?: string; body?: string; headers?: Record<string, string> } = {}) =>
    fetch(`${daemon.url}${path}`, {
      method: o.method ?? 'GET',
      headers: {
        ...(o.token && { authorization: `Bearer ${o.token}` }),
        ...(o.body !== undefined && { 'content-type': 'application/json' }),
        ...o.headers,
      },
      ...(o.body !== undefined && { body: o.body }),
    });

  beforeAll(async () => {
    demo = await demoConfig();
    await demo.write(
      'ockle.ini',
      (await demo.read('ockle.ini')) +
        `\n[token.vera]\nrole = viewer\nsha256 = ${viewer.sha256}\n\n[token.otto]\nrole = operator\nsha256 = ${operator.sha256}\n\n[token.ada]\nrole = admin\nsha256 = ${adminToken.sha256}\n`,
    );
    // A PDU nobody answers for (unreachable is fine here), to show its community is never shown.
    await demo.write('devices/pdu-snmp.ini', '[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nport = 9\ncommunity = sup3r-s3cret\noutlets = 8\ntimeout = 200ms\nretries = 0\n');
    daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false });
    // The demo's worker plugins subscribe to events as they start: let them settle first, so
    // listener counts below are the API's own.
    for (let i = 0; i < 500 && !daemon.plugins().every((p) => p.state === 'running' || p.state === 'disabled'); i++) await new Promise((r) => setTimeout(r, 10));
  });
  afterAll(async () => {
    await daemon.stop();
    await demo.cleanup();
  });

  it('tells a token who it is (whoami), for the dashboard', async () => {
    expect(await (await call('/api/whoami', { token: viewer.token })).json()).toEqual({ name: 'vera', role: 'viewer' });
    expect(await (await call('/api/whoami', { token: operator.token })).json()).toEqual({ name: 'otto', role: 'operator' });
    expect((await call('/api/whoami')).status).toBe(401);
  });

  it('shows the loaded configuration with the schema’s help to admins only, secrets masked', async () => {
    expect((await call('/api/config', { token: operator.token })).status).toBe(403);
    const res = await call('/api/config', { token: admin });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain('sup3r-s3cret');
    const view = JSON.parse(text) as { files: { file: string; sections: { name: string; keys: { key: string; value: string | null; line: number | null; help: string; default: string | null; secret: boolean }[] }[] }[] };
    expect(view.files.map((f) => f.file)).toEqual(expect.arrayContaining(['ockle.ini', 'devices/pdu-a.ini', 'devices/pdu-snmp.ini', 'servers/web-1.ini']));
    const key = (file: string, section: string, k: string) => view.files.find((f) => f.file === file)!.sections.find((s) => s.name === section)!.keys.find((x) => x.key === k)!;
    expect(key('devices/pdu-snmp.ini', 'device', 'community')).toMatchObject({ value: '[secret]', secret: true, default: null });
    expect(key('devices/pdu-a.ini', 'device', 'outlets')).toMatchObject({ value: '8', line: expect.any(Number) as number });
    // A key left at its default is shown with the default and no line.
    expect(key('ockle.ini', 'plugins', 'stop_timeout')).toMatchObject({ value: '5s', default: '5s', line: null, help: expect.stringContaining('terminated') as string });
  });

  it('checks an edited config file without saving or applying it', async () => {
    const before = await demo.read('devices/pdu-a.ini');
    const check = (file: string, text: string, token = admin) => call('/api/config/check', { token, method: 'POST', body: JSON.stringify({ file, text }) });
    const good = await check('devices/pdu-a.ini', before.replace('outlets = 8', 'outlets = 12'));
    expect(await good.json()).toMatchObject({ ok: true, problems: [] });
    const bad = (await (await check('devices/pdu-a.ini', before.replace('outlets = 8', 'outlets = eight'))).json()) as { ok: boolean; problems: { file: string; line: number; message: string }[] };
    expect(bad.ok).toBe(false);
    expect(bad.problems).toContainEqual(expect.objectContaining({ file: 'devices/pdu-a.ini', line: expect.any(Number) as number, message: expect.stringContaining('eight') as string }));
    // A new server file is checked against the rest of the lab.
    const fresh = (await (await check('servers/new-box.ini', '[server]\noutlets = psu\n\n[psu]\ndevice = pdu-z\noutlet = 1\n')).json()) as typeof bad;
    expect(fresh.problems).toContainEqual(expect.objectContaining({ file: 'servers/new-box.ini', message: expect.stringContaining('"pdu-z", which is not defined') as string }));
    expect((await check('../etc/passwd', 'x')).status).toBe(400);
    expect((await check('devices/pdu-a.ini', 'x', operator.token)).status).toBe(403);
    expect(await demo.read('devices/pdu-a.ini')).toBe(before);
    expect(existsSync(join(demo.configDir, 'servers', 'new-box.ini'))).toBe(false);
  });

  it("answers every malformed request in the API's error shape, switching nothing", async () => {
    const before = writes();
    const shape = async (res: Response, status: number, code: string, message: RegExp): Promise<void> => {
      expect(res.status).toBe(status);
      const body = (await res.json()) as { error: { code: string; message: string; hint?: string } };
      expect(Object.keys(body)).toEqual(['error']);
      expect(body.error.code).toBe(code);
      expect(body.error.message).toMatch(message);
      expect(typeof body.error.hint).toBe('string');
    };
    // A key that would pollute a prototype is named, not called "not valid JSON".
    await shape(await call('/api/actions', { token: operator.token, method: 'POST', body: '{"action":"off","targets":["web-1"],"__proto__":{"force":true}}' }), 400, 'OCKLE_REQUEST_INVALID', /"__proto__"/);
    await shape(await call('/api/actions', { token: operator.token, method: 'POST', body: '{"action":"off",' }), 400, 'OCKLE_REQUEST_INVALID', /not valid JSON/);
    await shape(await call('/api/actions', { token: operator.token, method: 'POST', body: 'x'.repeat(20_000) }), 413, 'OCKLE_REQUEST_INVALID', /too large/);
    await shape(await call('/api/servers/%E0%A4%A', { token: viewer.token }), 400, 'OCKLE_REQUEST_INVALID', /URL/);
    // Headers larger than Node accepts: answered by the HTTP parser, before any route.
    await shape(await call('/api/health', { headers: { 'x-big': 'y'.repeat(20_000) } }), 431, 'OCKLE_REQUEST_INVALID', /headers/i);
    expect(writes()).toBe(before);
  });

  it('answers health without a token', async () => {
    const res = await call('/api/health');
    expect(res.status).toBe(200);
    // The extra SNMP PDU nobody answers for makes it degraded, and named.
    expect(await res.json()).toMatchObject({ status: 'degraded', servers: 10, devices: 4, unreachableDevices: ['pdu-snmp'] });
  });

  it('refuses reads without a valid token, with a Bearer challenge', async () => {
    for (const token of [undefined, 'ockle_not-a-real-token', viewer.sha256]) {
      const res = await call('/api/servers', token === undefined ? {} : { token });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('OCKLE_AUTH_REQUIRED');
    }
  });

  it('lets a viewer read but not switch, and switches nothing', async () => {
    expect((await call('/api/servers', { token: viewer.token })).status).toBe(200);
    expect((await call('/api/tree', { token: viewer.token })).status).toBe(200);
    const res = await call('/api/servers/web-1/actions', { token: viewer.token, method: 'POST', body: '{"action":"off","force":true}' });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: { code: 'OCKLE_AUTH_FORBIDDEN', message: '"vera" has role viewer; this needs operator', hint: expect.any(String) },
    });
    expect((await call('/api/config/problems', { token: viewer.token })).status).toBe(403);
    expect(writes()).toBe(0);
  });

  it('lets an operator switch, recording who through which client', async () => {
    const res = await call('/api/servers/backup/actions', {
      token: operator.token,
      method: 'POST',
      body: JSON.stringify({ action: 'off', force: true, reason: 'api test' }),
      headers: { 'x-ockle-client': 'web' },
    });
    expect(res.status).toBe(202);
    const { action } = (await res.json()) as { action: { id: string; status: string } };
    expect(action.status).toBe('running');
    const done = (await (await call(`/api/actions/${action.id}?wait=10`, { token: viewer.token })).json()) as Record<string, unknown>;
    expect(done).toMatchObject({ status: 'ok', origin: 'web:otto', reason: 'api test', targets: ['backup'] });
    expect(daemon.shared<SimWorld>('sim-world')!.outlet('relay-1', 2)).toBe('off');
  });

  const BAD: [string, string, string | undefined, RegExp][] = [
    ['missing action', '/api/servers/web-1/actions', '{"force":true}', /body needs property "action"/],
    ['action not in the enum', '/api/servers/web-1/actions', '{"action":"reboot","force":true}', /body\/action must be one of on, off, cycle/],
    ['unknown property', '/api/servers/web-1/actions', '{"action":"off","force":true,"now":1}', /body has an unknown property "now"/],
    ['force of the wrong type', '/api/servers/web-1/actions', '{"action":"off","force":"yes"}', /body\/force must be boolean/],
    ['reason too long', '/api/servers/web-1/actions', JSON.stringify({ action: 'off', force: true, reason: 'x'.repeat(201) }), /body\/reason must NOT have more than 200 characters/],
    ['malformed JSON', '/api/servers/web-1/actions', '{"action":', /JSON/i],
    ['empty targets', '/api/actions', '{"action":"off","targets":[],"force":true}', /body\/targets must NOT have fewer than 1 items/],
    ['too many targets', '/api/actions', JSON.stringify({ action: 'off', force: true, targets: Array.from({ length: 101 }, (_, i) => `s${i}`) }), /body\/targets must NOT have more than 100 items/],
    ['unknown server', '/api/servers/web-9/actions', '{"action":"off","force":true}', /no server "web-9"/],
    ['unknown server among targets', '/api/actions', '{"action":"off","force":true,"targets":["web-1","nas"]}', /no server "nas"/],
    ['oversized body', '/api/actions', JSON.stringify({ action: 'off', force: true, targets: ['web-1'], reason: 'x'.repeat(20_000) }), /too large/i],
  ];
  it.each(BAD)('rejects %s with a 4xx naming it, switching nothing', async (_name, path, body, message) => {
    const before = writes();
    const res = await call(path, { token: operator.token, method: 'POST', ...(body !== undefined && { body }) });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const err = ((await res.json()) as { error: { code: string; message: string } }).error;
    expect(err.message).toMatch(message);
    expect(writes()).toBe(before);
    expect(daemon.gateway.actions({ status: 'running' })).toEqual([]);
  });

  it('rejects a body that is not JSON and an unknown client header', async () => {
    // A text/plain POST is what a page on another site can send: refused before its body is read.
    const cross = await call('/api/servers/web-1/actions', { token: operator.token, method: 'POST', body: 'action=off', headers: { 'content-type': 'text/plain' } });
    expect(cross.status).toBe(403);
    expect(((await cross.json()) as { error: { code: string } }).error.code).toBe('OCKLE_API_CROSS_SITE');
    const a = await call('/api/servers/web-1/actions', { token: operator.token, method: 'POST', body: 'action=off', headers: { 'content-type': 'text/plain', 'x-ockle-client': 'cli' } });
    expect(a.status).toBe(415);
    const b = await call('/api/servers/web-1/actions', { token: operator.token, method: 'POST', body: '{"action":"off","force":true}', headers: { 'x-ockle-client': 'curl' } });
    expect(b.status).toBe(400);
    expect(((await b.json()) as { error: { message: string } }).error.message).toMatch(/X-Ockle-Client/);
    expect(writes()).toBe(0 + 1); // the operator's earlier switch of backup only
  });

  it('refuses a body naming both targets and all, switching nothing', async () => {
    const before = writes();
    const res = await call('/api/actions', { token: operator.token, method: 'POST', body: '{"action":"off","all":true,"targets":["web-1"]}' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/either "targets" or "all"/);
    expect(writes()).toBe(before);
  });

  it('answers 404 for unknown routes, servers and actions', async () => {
    expect((await call('/api/nope', { token: viewer.token })).status).toBe(404);
    expect(((await (await call('/api/servers/nas', { token: viewer.token })).json()) as { error: { code: string } }).error.code).toBe('OCKLE_TREE_UNKNOWN_SERVER');
    expect((await call('/api/actions/a0000', { token: viewer.token })).status).toBe(404);
    expect((await call('/api/actions?limit=0', { token: viewer.token })).status).toBe(400);
  });

  it('serves an OpenAPI description of every route', async () => {
    const doc = (await (await call('/api/openapi.json')).json()) as { paths: Record<string, unknown> };
    // Every route the server registers (read from its source) is described.
    const source = readFileSync(join(REPO, 'src', 'api', 'server.ts'), 'utf8');
    const routes = [...source.matchAll(/app\.(?:get|post|put|delete)(?:<[^(]*?>)?\(\s*'([^']+)'/g)].map((m) => m[1]!.replace(/:(\w+)/g, '{$1}').replace(/\/\*$/, '/{path}'));
    expect(routes.length).toBeGreaterThan(15);
    for (const r of routes) if (r !== '/api/openapi.json') expect(Object.keys(doc.paths), r).toContain(r);
  });

  it('streams events over SSE in order, and releases its listener when the client goes', async () => {
    const base = daemon.events.listenerCount();
    const ac = new AbortController();
    const res = await fetch(`${daemon.url}/api/events?types=action.started,action.finished`, {
      headers: { authorization: `Bearer ${viewer.token}` },
      signal: ac.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect(daemon.events.listenerCount()).toBe(base + 1);
    const reader = res.body!.getReader();
    const rec = daemon.gateway.request({ kind: 'on', targets: ['backup'], force: true, origin: 'api:test', reason: '' });
    let text = '';
    while (!text.includes('action.finished')) text += new TextDecoder().decode((await reader.read()).value);
    const events = [...text.matchAll(/event: (.*)\nid: (\d+)\ndata: (.*)\n/g)].map((m) => [m[1], Number(m[2]), (JSON.parse(m[3]!) as { action: { id: string } }).action.id]);
    expect(events).toEqual([
      ['action.started', 1, rec.id],
      ['action.finished', 2, rec.id],
    ]);
    ac.abort();
    for (let i = 0; i < 100 && daemon.events.listenerCount() > base; i++) await new Promise((r) => setTimeout(r, 10));
    expect(daemon.events.listenerCount()).toBe(base);
  });

  it('streams sequence progress (wave, percentage) as action.progress', async () => {
    const ac = new AbortController();
    const res = await fetch(`${daemon.url}/api/events?types=action.progress`, { headers: { authorization: `Bearer ${viewer.token}` }, signal: ac.signal });
    const reader = res.body!.getReader();
    const p = { actionId: 'a1', kind: 'on', server: 'db-1', event: 'done', wave: 3, waves: 4, currentWave: 3, done: 5, total: 8, percent: 63, active: ['vm-1'] } as const;
    daemon.events.emit('action.progress', p);
    let text = '';
    while (!/data: .*\n\n/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    const m = /event: action\.progress\nid: \d+\ndata: (.*)\n/.exec(text);
    expect(JSON.parse(m![1]!)).toEqual(p);
  });

  it('refuses a reset of servers behind a PDU before anything is sent', async () => {
    const before = writes();
    const res = await call('/api/actions', { token: operator.token, method: 'POST', body: '{"action":"reset","targets":["web-1"]}' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string; hint: string } };
    expect(body.error).toMatchObject({ code: 'OCKLE_REQUEST_INVALID', message: expect.stringMatching(/^reset needs a BMC that can reset the machine; web-1 \(pdu-/), hint: expect.stringMatching(/cycle/) });
    expect(writes()).toBe(before);
  });

  it('rejects an SSE filter naming an unknown event', async () => {
    const res = await call('/api/events?types=server.exploded', { token: viewer.token });
    expect(res.status).toBe(400);
  });

  it('applies token changes on reload: a removed token is refused at once and its event stream ends', async () => {
    const stream = await call('/api/events', { token: viewer.token, headers: { accept: 'text/event-stream' } });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    const ended = (async () => {
      for (;;) if ((await reader.read()).done) return true;
    })();
    await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace(/\[token\.vera\][^[]*/, ''));
    expect(await daemon.reload()).toBe(true);
    expect(await ended).toBe(true);
    expect((await call('/api/servers', { token: viewer.token })).status).toBe(401);
    expect((await call('/api/servers', { token: operator.token })).status).toBe(200);
    // The daemon's local token (the CLI's) survives a reload.
    const local = readFileSync(join(demo.stateDir, 'api-token'), 'utf8').trim();
    expect((await call('/api/whoami', { token: local })).status).toBe(200);
  });
});
