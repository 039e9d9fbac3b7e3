/**
 * Config editing through the API (issue 17): versions and conflicts, whole-lab validation,
 * line-level writes, history and undo, refusals that leave the directory byte for byte as it
 * was, secrets never shown or logged, and no outlet ever written by an edit.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { generateToken } from '../../src/api/auth.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';
import { readOnly, writable } from '../support/read-only.js';

/** Every file under `dir` (names, modes and bytes) hashed: equal hashes, identical trees. */
function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const st = statSync(p);
      h.update(`${p.slice(dir.length)}\0${st.mode}\0`);
      if (st.isDirectory()) walk(p);
      else h.update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

interface Change {
  file: string;
  changed: boolean;
  version: string;
  previous: string;
  reloaded: boolean;
  id: string | null;
  diff: { added: number; removed: number; lines: { op: string; line: number; text: string }[] };
}
interface ErrorBody {
  error: { code: string; message: string; problems?: { file: string; line?: number; message: string; severity: string }[]; version?: string; diff?: Change['diff'] | null };
}

describe('config editing API', () => {
  let demo: DemoCopy;
  let daemon: Daemon;
  const logLines: string[] = [];
  const viewer = generateToken();
  const operator = generateToken();
  const adminToken = generateToken();
  const admin = adminToken.token;
  const SECRET = 'sup3r-s3cret';
  const writes = (): number => {
    const w = daemon.shared<SimWorld>('sim-world')!;
    return ['pdu-a', 'pdu-b', 'relay-1'].reduce((n, d) => n + w.writes(d).count, 0);
  };
  const call = async (path: string, o: { token?: string; method?: string; body?: unknown } = {}): Promise<{ status: number; body: unknown; text: string }> => {
    const res = await fetch(`${daemon.url}${path}`, {
      method: o.method ?? 'GET',
      // X-Ockle-Client: a bodyless DELETE must say it is no cross-site form (src/api/guard.ts).
      headers: { authorization: `Bearer ${o.token ?? admin}`, 'x-ockle-client': 'api', ...(o.body !== undefined && { 'content-type': 'application/json' }) },
      ...(o.body !== undefined && { body: JSON.stringify(o.body) }),
    });
    const text = await res.text();
    return { status: res.status, text, body: text ? (JSON.parse(text) as unknown) : undefined };
  };
  const getFile = async (path: string) => (await call(`/api/config/files/${path}`)).body as { path: string; version: string; text: string; exists: boolean };
  const edit = (file: string, version: string, edits: unknown[], token = admin) => call('/api/config/edit', { method: 'POST', token, body: { file, version, edits } });
  /** A refused request: the status, the code, and the tree unchanged. */
  const refused = async (fn: () => Promise<{ status: number; body: unknown }>, status: number, code: string): Promise<ErrorBody['error']> => {
    const before = treeHash(demo.configDir);
    const w = writes();
    const r = await fn();
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect((r.body as ErrorBody).error.code).toBe(code);
    expect(treeHash(demo.configDir)).toBe(before);
    expect(writes()).toBe(w);
    return (r.body as ErrorBody).error;
  };

  beforeAll(async () => {
    demo = await demoConfig();
    await demo.write(
      'ockle.ini',
      (await demo.read('ockle.ini')) +
        `\n[token.vera]\nrole = viewer\nsha256 = ${viewer.sha256}\n\n[token.otto]\nrole = operator\nsha256 = ${operator.sha256}\n\n[token.ada]\nrole = admin\nsha256 = ${adminToken.sha256}\n`,
    );
    await demo.write('devices/pdu-snmp.ini', `; unreachable on purpose\n[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nport = 9\ncommunity = ${SECRET}\noutlets = 8\ntimeout = 200ms\nretries = 0\n`);
    const log = createLogger({ level: 'info', destination: { write: (s: string) => void logLines.push(s) } });
    daemon = await Daemon.start({ configDir: demo.configDir, port: 0, log, monitor: false });
  });
  afterAll(async () => {
    await daemon.stop();
    await demo.cleanup();
  });

  it('is for admins only', async () => {
    for (const token of [viewer.token, operator.token]) {
      expect((await call('/api/config/files/servers/web-1.ini', { token })).status).toBe(403);
      expect((await edit('servers/web-1.ini', 'absent', [{ op: 'set', section: 'server', key: 'description', value: 'x' }], token)).status).toBe(403);
      expect((await call('/api/config/undo', { method: 'POST', token, body: {} })).status).toBe(403);
      expect((await call('/api/config/history', { token })).status).toBe(403);
    }
  });

  it('reads a file with its version (sha256 of its bytes), secrets masked', async () => {
    const f = await getFile('devices/pdu-snmp.ini');
    expect(f.version).toBe(createHash('sha256').update(readFileSync(join(demo.configDir, 'devices/pdu-snmp.ini'))).digest('hex'));
    expect(f.text).toContain('community = [secret]');
    expect(f.text).not.toContain(SECRET);
    expect(await getFile('servers/nope.ini')).toEqual({ path: 'servers/nope.ini', version: 'absent', exists: false, text: '' });
  });

  it('sets a key on its line only, keeps comments, reloads, and switches nothing', async () => {
    const before = await demo.read('servers/web-1.ini');
    const w = writes();
    const f = await getFile('servers/web-1.ini');
    const r = await edit('servers/web-1.ini', f.version, [{ op: 'set', section: 'server', key: 'description', value: 'Front end; edited' }]);
    expect(r.status, r.text).toBe(200);
    const c = r.body as Change;
    expect(c).toMatchObject({ changed: true, reloaded: true, previous: f.version });
    const after = await demo.read('servers/web-1.ini');
    const a = before.split('\n');
    const b = after.split('\n');
    expect(b.length).toBe(a.length);
    const changed = a.flatMap((l, i) => (l === b[i] ? [] : [i + 1]));
    expect(changed).toEqual([3]);
    expect(b[2]).toBe('description = "Front end; edited"');
    expect(b[0]).toBe(a[0]); // the comment
    expect(c.diff.lines).toEqual([
      { op: '-', line: 3, text: a[2] },
      { op: '+', line: 3, text: b[2] },
    ]);
    const server = (await call('/api/servers/web-1', { token: viewer.token })).body as { description: string };
    expect(server.description).toBe('Front end; edited');
    expect(writes()).toBe(w);
    // An absent key goes after the section's last key.
    const g = await getFile('servers/web-1.ini');
    expect((await edit('servers/web-1.ini', g.version, [{ op: 'set', section: 'server', key: 'max_attempts', value: '5' }])).status).toBe(200);
    const lines = (await demo.read('servers/web-1.ini')).split('\n');
    expect(lines[lines.indexOf('shed_priority = 2') + 1]).toBe('max_attempts = 5');
    expect(writes()).toBe(w);
  });

  it('refuses a value out of range, an unknown key, a missing dependency and a cycle with the check’s problems at file:line, writing nothing', async () => {
    const f = await getFile('servers/web-1.ini');
    const set = (key: string, value: string, file = 'servers/web-1.ini', version = f.version) => () => edit(file, version, [{ op: 'set', section: 'server', key, value }]);
    const range = await refused(set('max_attempts', '99'), 400, 'OCKLE_CONFIG_INVALID');
    expect(range.message).toMatch(/servers\/web-1\.ini:\d+: max_attempts = 99/);
    expect(range.problems).toEqual(expect.arrayContaining([expect.objectContaining({ file: 'servers/web-1.ini', line: expect.any(Number) as number, severity: 'error' })]));
    const unknown = await refused(set('max_attempt', '3'), 400, 'OCKLE_CONFIG_INVALID');
    expect(unknown.message).toMatch(/servers\/web-1\.ini:\d+: unknown key "max_attempt" in \[server\] Did you mean "max_attempts"\?/);
    const missing = await refused(set('dependencies', 'db-1, nas'), 400, 'OCKLE_CONFIG_INVALID');
    expect(missing.message).toMatch(/servers\/web-1\.ini:\d+: dependency "nas" is not a configured server/);
    const db = await getFile('servers/db-1.ini');
    const cycle = await refused(set('dependencies', 'web-1', 'servers/db-1.ini', db.version), 400, 'OCKLE_CONFIG_INVALID');
    expect(cycle.message).toMatch(/dependency cycle: .*web-1.*db-1|dependency cycle: .*db-1.*web-1/);
    // A value the INI grammar cannot hold.
    const nl = await refused(set('description', 'a\nb'), 400, 'OCKLE_REQUEST_INVALID');
    expect(nl.message).toMatch(/line break/);
  });

  it('refuses paths outside the config directory, other files and non-.ini files', async () => {
    const f = await getFile('servers/web-1.ini');
    for (const file of ['../x.ini', 'servers/../../x.ini', '/etc/x.ini', 'servers/web-1.txt', 'other/x.ini', 'servers/.ini'])
      await refused(() => edit(file, f.version, [{ op: 'set', section: 'server', key: 'description', value: 'x' }]), 400, 'OCKLE_CONFIG_PATH');
    await refused(() => call('/api/config/files/servers/evil.txt', { method: 'POST', body: { text: '[server]\n' } }), 400, 'OCKLE_CONFIG_PATH');
    // Raw request paths (fetch would normalise them): .. and %2e%2e are resolved by the router
    // (to a route outside /api/config/files/: 404); encoded slashes reach the editor (400).
    const raw = (path: string, method = 'GET') =>
      new Promise<{ status: number; body: unknown }>((resolve, reject) => {
        const req = httpRequest(`${daemon.url}${path}`, { method, headers: { authorization: `Bearer ${admin}`, 'x-ockle-client': 'api' } }, (res) => {
          let t = '';
          res.on('data', (c: Buffer) => (t += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(t) as unknown }));
        });
        req.on('error', reject);
        req.end();
      });
    for (const p of ['/api/config/files/../ockle.ini', '/api/config/files/%2e%2e/x.ini', '/api/config/files/servers%2F..%2F..%2Fx.ini', '/api/config/files/servers/..%2f..%2fstate%2fx.ini']) {
      const r = await raw(p);
      expect([400, 404], `${p}: ${JSON.stringify(r.body)}`).toContain(r.status);
      if (r.status === 400) expect((r.body as ErrorBody).error.code).toBe('OCKLE_CONFIG_PATH');
      await refused(() => raw(`${p}?version=absent`, 'DELETE'), r.status, r.status === 400 ? 'OCKLE_CONFIG_PATH' : 'OCKLE_NOT_FOUND');
    }
    // A symbolic link leading out of the directory.
    const outside = join(demo.configDir, '..', 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'x.ini'), '[server]\n');
    await symlink(join(outside, 'x.ini'), join(demo.configDir, 'servers', 'link.ini'));
    try {
      await refused(() => call('/api/config/files/servers/link.ini', { method: 'PUT', body: { version: 'absent', text: '[server]\n' } }), 400, 'OCKLE_CONFIG_PATH');
      expect((await call('/api/config/files/servers/link.ini')).status).toBe(400);
    } finally {
      await (await import('node:fs/promises')).unlink(join(demo.configDir, 'servers', 'link.ini'));
    }
  });

  it('refuses to write into a read-only config directory, with a clear error, changing nothing', async () => {
    const f = await getFile('servers/web-2.ini');
    const dir = join(demo.configDir, 'servers');
    await readOnly(dir);
    try {
      const e = await refused(() => edit('servers/web-2.ini', f.version, [{ op: 'set', section: 'server', key: 'description', value: 'ro' }]), 500, 'OCKLE_CONFIG_UNWRITABLE');
      expect(e.message).toMatch(/servers\/ is not writable.*nothing was changed/);
    } finally {
      await writable(dir);
    }
  });

  it('refuses the second of two clients saving the same version: 409 with the current version and what changed', async () => {
    const a = await getFile('servers/vm-1.ini');
    const b = await getFile('servers/vm-1.ini');
    const [ra, rb] = await Promise.all([
      call('/api/config/files/servers/vm-1.ini', { method: 'PUT', body: { version: a.version, text: a.text.replace(/^\[server\]/m, '[server]\nmax_attempts = 4') } }),
      edit('servers/vm-1.ini', b.version, [{ op: 'set', section: 'server', key: 'max_attempts', value: '6' }]),
    ]);
    const statuses = [ra.status, rb.status].sort();
    expect(statuses).toEqual([200, 409]);
    const lost = (ra.status === 409 ? ra : rb).body as ErrorBody;
    const won = (ra.status === 200 ? ra : rb).body as Change;
    expect(lost.error.code).toBe('OCKLE_CONFIG_CONFLICT');
    expect(lost.error.version).toBe(won.version);
    expect(lost.error.diff?.added).toBeGreaterThan(0);
    expect((await getFile('servers/vm-1.ini')).version).toBe(won.version);
  });

  it('never shows or logs a secret; a masked file sent back keeps it', async () => {
    const path = 'devices/pdu-snmp.ini';
    const f = await getFile(path);
    // Unchanged: nothing written.
    const same = await call(`/api/config/files/${path}`, { method: 'PUT', body: { version: f.version, text: f.text } });
    expect(same.status, same.text).toBe(200);
    expect((same.body as Change).changed).toBe(false);
    // Another line changed, the secret still masked: kept.
    const r = await call(`/api/config/files/${path}`, { method: 'PUT', body: { version: f.version, text: f.text.replace('timeout = 200ms', 'timeout = 300ms') } });
    expect(r.status, r.text).toBe(200);
    expect(r.text).not.toContain(SECRET);
    expect(await demo.read(path)).toContain(`community = ${SECRET}`);
    // A new secret: written, never echoed in the answer, the history or the log.
    const g = await getFile(path);
    const s = await call(`/api/config/files/${path}`, { method: 'PUT', body: { version: g.version, text: g.text.replace('community = [secret]', 'community = n3w-s3cret') } });
    expect(s.status, s.text).toBe(200);
    expect(s.text).not.toContain('n3w-s3cret');
    expect((s.body as Change).diff.lines.map((l) => l.text)).toEqual(['community = [secret]', 'community = [secret]']);
    expect(await demo.read(path)).toContain('community = n3w-s3cret');
    const history = await readFile(join(demo.stateDir, 'config-history', 'log.jsonl'), 'utf8');
    expect(history).not.toMatch(/s3cret/);
    expect(logLines.join('')).not.toMatch(/s3cret/);
    expect((await call('/api/config/history')).text).not.toMatch(/s3cret/);
    // [secret] for a key that has no stored value is refused.
    const h = await getFile('servers/web-2.ini');
    await refused(() => call('/api/config/files/servers/web-2.ini', { method: 'PUT', body: { version: h.version, text: `${h.text}\n[bmc]\npassword = [secret]\n` } }), 400, 'OCKLE_REQUEST_INVALID');
  });

  it('undoes the last change byte for byte, itself checked and recorded', async () => {
    const path = 'devices/pdu-a.ini';
    const original = readFileSync(join(demo.configDir, path));
    const f = await getFile(path);
    expect((await edit(path, f.version, [{ op: 'set', section: 'device', key: 'load_watts', value: '200' }, { op: 'unset', section: 'device', key: 'poll_interval' }])).status).toBe(200);
    expect(readFileSync(join(demo.configDir, path)).equals(original)).toBe(false);
    const w = writes();
    const u = await call('/api/config/undo', { method: 'POST', body: {} });
    expect(u.status, u.text).toBe(200);
    expect(u.body).toMatchObject({ file: path, op: 'undo', changed: true, reloaded: true, version: f.version });
    expect(readFileSync(join(demo.configDir, path)).equals(original)).toBe(true);
    expect(writes()).toBe(w);
    const { changes } = (await call('/api/config/history?limit=2')).body as { changes: { op: string; file: string; who: string; undoes?: string }[] };
    expect(changes[0]).toMatchObject({ op: 'undo', file: path, who: 'api:ada', undoes: expect.any(String) as string });
    expect(changes[1]).toMatchObject({ op: 'edit', file: path });
  });

  it('creates and deletes a file; a delete another server depends on is refused naming it', async () => {
    const w = writes();
    const text = '; a new server\n[server]\ndescription = spare\noutlets = power\n\n[power]\ndevice = pdu-a\noutlet = 8\n';
    const c = await call('/api/config/files/servers/spare.ini', { method: 'POST', body: { text } });
    expect(c.status, c.text).toBe(201);
    expect(await demo.read('servers/spare.ini')).toBe(text);
    expect((await call('/api/servers/spare', { token: viewer.token })).status).toBe(200);
    // Creating it again: 409.
    await refused(() => call('/api/config/files/servers/spare.ini', { method: 'POST', body: { text } }), 409, 'OCKLE_CONFIG_CONFLICT');
    const db = await getFile('servers/db-1.ini');
    const e = await refused(() => call(`/api/config/files/servers/db-1.ini?version=${db.version}`, { method: 'DELETE' }), 400, 'OCKLE_CONFIG_INVALID');
    expect(e.message).toMatch(/servers\/\S+\.ini:\d+: dependency "db-1" is not a configured server/);
    const main = await getFile('ockle.ini');
    await refused(() => call(`/api/config/files/ockle.ini?version=${main.version}`, { method: 'DELETE' }), 400, 'OCKLE_CONFIG_PATH');
    const s = await getFile('servers/spare.ini');
    await refused(() => call(`/api/config/files/servers/spare.ini?version=${'0'.repeat(64)}`, { method: 'DELETE' }), 409, 'OCKLE_CONFIG_CONFLICT');
    const d = await call(`/api/config/files/servers/spare.ini?version=${s.version}`, { method: 'DELETE' });
    expect(d.status, d.text).toBe(200);
    expect((await getFile('servers/spare.ini')).exists).toBe(false);
    expect((await call('/api/servers/spare', { token: viewer.token })).status).toBe(404);
    expect(writes()).toBe(w);
  });

  it('describes every route in the OpenAPI document', async () => {
    const doc = (await call('/api/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/api/config/files/{path}']!)).toEqual(expect.arrayContaining(['delete', 'get', 'post', 'put']));
    expect(doc.paths['/api/config/edit']!.post).toBeDefined();
    expect(doc.paths['/api/config/undo']!.post).toBeDefined();
    expect(doc.paths['/api/config/history']!.get).toBeDefined();
  });
});
