/**
 * The daemon serves the dashboard: from memory, gzip when asked, hashed assets cached for a
 * year and the page never, a strict CSP; a clear 503 when nothing is built. And the bundle
 * stays small enough to serve from a Raspberry Pi (a size budget, not a timing).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { fastify } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveDashboard, webRoot } from '../../src/api/web.js';

describe('dashboard serving', () => {
  let dir: string;
  const app = fastify();
  const js = `console.log(${JSON.stringify('x'.repeat(4000))});\n`;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ockle-web-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>ockle</title><script type="module" src="/assets/app-1a2b3c.js"></script>');
    await writeFile(join(dir, 'assets', 'app-1a2b3c.js'), js);
    serveDashboard(app, dir);
  });
  afterAll(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the page with a strict CSP, never cached', async () => {
    const r = await app.inject({ url: '/' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(r.headers['content-security-policy']).toContain("default-src 'self'");
    expect(r.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.body).toContain('/assets/app-1a2b3c.js');
  });

  it('serves hashed assets immutable, gzipped when the browser accepts it', async () => {
    const plain = await app.inject({ url: '/assets/app-1a2b3c.js' });
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toBe(js);
    const gz = await app.inject({ url: '/assets/app-1a2b3c.js', headers: { 'accept-encoding': 'gzip, br' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString()).toBe(js);
    expect(gz.rawPayload.length).toBeLessThan(js.length / 10);
    expect((await app.inject({ url: '/assets/nope.js' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/assets/../index.html' })).statusCode).not.toBe(200);
  });

  it('says how to build the dashboard when there is none', async () => {
    const empty = fastify();
    serveDashboard(empty, join(dir, 'missing'));
    const r = await empty.inject({ url: '/' });
    expect(r.statusCode).toBe(503);
    expect(r.body).toContain('npm run build');
    await empty.close();
  });

  it('the built bundle stays small: under 80 kB of gzipped JavaScript and 10 kB of CSS', () => {
    const assets = join(webRoot(), 'assets');
    const files = readdirSync(assets);
    const gz = (ext: string) => files.filter((f) => f.endsWith(ext)).reduce((n, f) => n + gzipSync(readFileSync(join(assets, f)), { level: 9 }).length, 0);
    expect(files.some((f) => f.endsWith('.js'))).toBe(true);
    expect(gz('.js')).toBeLessThan(80 * 1024);
    expect(gz('.css')).toBeLessThan(10 * 1024);
  });
});
