/**
 * Serves the built dashboard (dist/web, made by `npm run build`) from memory: each file is read
 * on its first request and kept with its gzip form, so a Raspberry Pi answers later page loads
 * without disk reads or per-request compression, and the daemon's start (and a daemon nobody
 * opens the dashboard of) neither reads nor compresses them. Hashed assets are cached for a
 * year; index.html never.
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
/** A file of the build, listed at start; its bytes are read on the first request. */
interface Entry {
  readonly file: string;
  asset?: Asset;
}

/** dist/web next to dist/src when running the build; from the sources, the repository's dist/web. */
export function webRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = join(here, '..', '..', 'web');
  return existsSync(join(built, 'index.html')) ? built : join(here, '..', '..', 'dist', 'web');
}

/** The files of the build by URL: names only. */
function list(root: string): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const file = join(dir, name);
      if (statSync(file).isDirectory()) walk(file);
      else entries.set('/' + relative(root, file).split(sep).join('/'), { file });
    }
  };
  walk(root);
  return entries;
}

function load(url: string, file: string): Asset {
  const body = readFileSync(file);
  const type = TYPES[extname(file)] ?? 'application/octet-stream';
  const squeezable = /^(text|application\/(json|manifest)|image\/svg)/.test(type) && body.length > 512;
  return { type, body, gzip: squeezable ? gzipSync(body, { level: 9 }) : null, immutable: url.startsWith('/assets/') };
}

/** Registers `/` and the asset routes. Without a build, `/` says how to make one. */
export function serveDashboard(app: FastifyInstance, root = webRoot()): { files: number } {
  const assets = existsSync(join(root, 'index.html')) ? list(root) : new Map<string, Entry>();
  const get = (url: string): Asset | undefined => {
    const e = assets.get(url);
    return e && (e.asset ??= load(url, e.file));
  };
  app.get('/', async (req, reply) => send(req.headers['accept-encoding'], reply, get('/index.html')));
  app.get('/index.html', async (_req, reply) => reply.redirect('/', 301));
  app.get<{ Params: { '*': string } }>('/assets/*', async (req, reply) => send(req.headers['accept-encoding'], reply, get(`/assets/${req.params['*']}`)));
  for (const url of assets.keys())
    if (!url.startsWith('/assets/') && url !== '/index.html') app.get(url, async (req, reply) => send(req.headers['accept-encoding'], reply, get(url)));
  return { files: assets.size };

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
