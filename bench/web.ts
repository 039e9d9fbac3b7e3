/**
 * Dashboard benchmark (issue 8): the bundle's size, and a cold page load (the page and every
 * asset, gzipped, over loopback) from the daemon's API against a bare node:http server
 * serving the same bytes from memory.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fastify } from 'fastify';
import { serveDashboard, webRoot } from '../src/api/web.js';
import { time } from './timing.js';

type Report = (r: { name: string; unit: string; ockle: number; baseline: number; baselineName: string }) => void;

export async function benchWeb(report: Report): Promise<void> {
  const root = webRoot();
  const assets = readdirSync(join(root, 'assets')).map((f) => `/assets/${f}`);
  const urls = ['/', ...assets];
  const size = (ext: string, gz: boolean) =>
    assets.filter((a) => a.endsWith(ext)).reduce((n, a) => n + (gz ? gzipSync(readFileSync(join(root, a)), { level: 9 }).length : readFileSync(join(root, a)).length), 0) / 1024;
  console.log(`dashboard bundle: JS ${size('.js', false).toFixed(1)} kB (${size('.js', true).toFixed(1)} kB gzip), CSS ${size('.css', false).toFixed(1)} kB (${size('.css', true).toFixed(1)} kB gzip)`);

  const app = fastify();
  serveDashboard(app, root);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const ours = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const bodies = new Map(urls.map((u) => [u, gzipSync(readFileSync(join(root, u === '/' ? 'index.html' : u)), { level: 9 })]));
  const bare = createServer((req, res) => res.writeHead(200, { 'content-encoding': 'gzip' }).end(bodies.get(req.url ?? '/')));
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', () => r()));
  const theirs = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;
  const load = (base: string) => () => Promise.all(urls.map(async (u) => (await fetch(base + u, { headers: { 'accept-encoding': 'gzip' } })).arrayBuffer()));
  await time(20, load(ours));
  await time(20, load(theirs));
  const ockle = await time(200, load(ours));
  const baseline = await time(200, load(theirs));
  report({ name: 'dashboard page load (all assets)', unit: 'ms', ockle, baseline, baselineName: 'bare node:http, same gzip bytes' });
  await app.close();
  bare.close();
}
