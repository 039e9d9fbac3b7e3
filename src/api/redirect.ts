/**
 * `[api] redirect_port`: a plain HTTP listener on the API's address that answers every request
 * with a redirect to the same path over HTTPS, and nothing else, so a browser pointed at
 * http://gateway:80/ ends up on the encrypted dashboard. It reads no token and serves no data.
 * The redirect names the host the request did only when the API answers to that host; any
 * other Host gets 421 (a rebinding page learns nothing from it either).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { hostOf, type ApiGuard } from './guard.js';

/** Starts the redirect listener once `app` listens (on its address), and closes it with `app`. */
export function startRedirect(app: FastifyInstance, port: number, log: Logger, guard?: ApiGuard): void {
  let server: Server | null = null;
  app.addHook('onListen', async () => {
    const { address, port: httpsPort } = app.server.address() as AddressInfo;
    const srv = createServer((req, res) => {
      const host = hostOf(req.headers.host);
      if (host === null || (guard && !guard.hosts.allows(req.headers.host))) {
        res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('This gateway does not answer to that host.\n');
        return;
      }
      const location = `https://${host.includes(':') ? `[${host}]` : host}:${httpsPort}${(req.url ?? '/').startsWith('/') ? req.url : '/'}`;
      res.writeHead(308, { location, 'cache-control': 'no-store', 'content-type': 'text/plain; charset=utf-8' }).end(`${location}\n`);
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`[api] redirect_port ${port}: cannot listen on ${address} (${err.code ?? err.message}); choose another port or remove redirect_port`)));
      srv.listen(port, address, () => resolve());
    });
    server = srv;
    log.info({ port: (srv.address() as AddressInfo).port, to: httpsPort }, 'plain HTTP redirects to HTTPS');
  });
  app.addHook('onClose', async () => {
    const srv = server;
    server = null;
    if (!srv) return;
    srv.closeAllConnections();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  });
}
