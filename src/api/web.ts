/**
 * Serves the built dashboard (dist/web, made by `npm run build`) from memory: every file is read
 * once at start and kept with its gzip form, so a Raspberry Pi answers a page load without disk
 * reads or per-request compression. Hashed assets are cached for a year; index.html never.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
};

/** Headers that keep the page from being framed, sniffed or talking to anything but this daemon. */
export const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer | null;
  readonly immutable: boolean;
}

/** dist/web next to dist/src when running the build; from the sources, the repository's dist/web. */
export function webRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = join(here, '..', '..', 'web');
  return existsSync(join(built, 'index.html')) ? built : join(here, '..', '..', 'dist', 'web');
}

function load(root: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const file = join(dir, name);
      if (statSync(file).isDirectory()) walk(file);
      else {
        const body = readFileSync(file);
        const type = TYPES[extname(name)] ?? 'application/octet-stream';
        const squeezable = /^(text|application\/(json|manifest)|image\/svg)/.test(type) && body.length > 512;
        const url = '/' + relative(root, file).split(sep).join('/');
        assets.set(url, { type, body, gzip: squeezable ? gzipSync(body, { level: 9 }) : null, immutable: url.startsWith('/assets/') });
      }
    }
  };
  walk(root);
  return assets;
}

/** Registers `/` and the asset routes. Without a build, `/` says how to make one. */
export function serveDashboard(app: FastifyInstance, root = webRoot()): { files: number; bytes: number; gzipBytes: number } {
  const assets = existsSync(join(root, 'index.html')) ? load(root) : new Map<string, Asset>();
  app.get('/', async (req, reply) => send(req.headers['accept-encoding'], reply, assets.get('/index.html')));
  app.get('/index.html', async (_req, reply) => reply.redirect('/', 301));
  app.get<{ Params: { '*': string } }>('/assets/*', async (req, reply) => send(req.headers['accept-encoding'], reply, assets.get(`/assets/${req.params['*']}`)));
  for (const url of assets.keys())
    if (!url.startsWith('/assets/') && url !== '/index.html') app.get(url, async (req, reply) => send(req.headers['accept-encoding'], reply, assets.get(url)));
  const all = [...assets.values()];
  return { files: all.length, bytes: all.reduce((n, a) => n + a.body.length, 0), gzipBytes: all.reduce((n, a) => n + (a.gzip ?? a.body).length, 0) };

  function send(acceptEncoding: string | string[] | undefined, reply: FastifyReply, asset: Asset | undefined) {
    if (!asset) {
      if (assets.size === 0)
        return reply.code(503).type('text/plain; charset=utf-8').send('The dashboard is not built: run `npm run build` (npm start does), then reload.\n');
      return reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
    }
    reply.headers(PAGE_HEADERS);
    reply.header('content-type', asset.type);
    reply.header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    reply.header('vary', 'accept-encoding');
    const gz = asset.gzip && /\bgzip\b/.test(String(acceptEncoding ?? ''));
    if (gz) reply.header('content-encoding', 'gzip');
    return reply.send(gz ? asset.gzip : asset.body);
  }
}
