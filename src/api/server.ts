/**
 * The HTTP JSON API. Every route checks the bearer token's role, every body and query is
 * validated by a JSON schema (bad input gets a 4xx naming the field and changes nothing), and
 * every error answers `{error: {code, message, hint}}`.
 */
import { fastify, LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Gateway, Health } from '../core/gateway.js';
import type { ActionKind, OutletRef } from '../core/model.js';
import type { FileView } from '../config/view.js';
import type { ConfigSchema } from './config-schema.js';
import type { ConfigChange, ConfigFileText, HistoryEntry } from '../config/edit/editor.js';
import type { Edit } from '../config/edit/text.js';
import { OckleError, toOckleError, type ConfigProblem } from '../errors.js';
import { upsRoutes, type UpsFace } from './ups-routes.js';
import { EVENT_NAMES, isEventName, type PluginEventName } from '../plugin-host/contract.js';
import type { CommandParams } from '../plugin-host/protocol.js';
import { authFailureReason, type Auth, type Principal, type Role } from './auth.js';
import { API_HEADERS, checkNotCrossSite, type ApiGuard } from './guard.js';
import { startRedirect } from './redirect.js';
import { lazyCompilers, schemas } from './schemas.js';
import { serveDashboard } from './web.js';

/** A plugin as `ockle plugins` shows it. */
export interface PluginStatus {
  readonly name: string;
  readonly description: string;
  readonly where: 'main thread' | 'worker';
  readonly state: string;
  readonly lastError: string | null;
  readonly bugs: number;
  /** Where it comes from: shipped with ockle, or installed beside it (docs/plugins.md). */
  readonly source?: 'bundled' | 'installed';
  /** What a running worker plugin last reported of itself (`ctx.status`): the mqtt plugin's connection, say. */
  readonly status?: Readonly<Record<string, string | number | boolean | null>>;
}

/** One setting of a plugin's template, and its value (`ockle plugins show NAME`). */
export interface PluginSettingInfo {
  readonly key: string;
  /** The template's kind: str, int, bool, select, list, multilist, secret, duration. */
  readonly kind: string;
  /** The kind in words: `integer 1–48`, `one of: a, b`… */
  readonly describe: string;
  readonly help: string;
  readonly required: boolean;
  /** The default as it would be written in ockle.ini, or null (a secret's is never shown). */
  readonly default: string | null;
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** The value in effect as it would be written (`[secret]` for a secret, never its value), or null when unset. */
  readonly value: string | null;
  /** The line of ockle.ini that sets it; null when the default applies. */
  readonly line: number | null;
}

/** A plugin with its settings template (`GET /api/plugins/NAME`). */
export interface PluginDetail extends PluginStatus {
  readonly source: 'bundled' | 'installed';
  /** The package's version for an installed plugin; ockle's for a bundled one. */
  readonly version: string;
  /** The package.json an installed plugin was read from. */
  readonly file?: string;
  /** Whether `[plugins] enabled` names it. */
  readonly enabled: boolean;
  readonly settings: readonly PluginSettingInfo[];
}

/** The answer to enabling or disabling a plugin. */
export interface PluginToggle {
  /** Its status after the change (and the reload that applied it). */
  readonly plugin: PluginStatus;
  /** False when it already was in that state: nothing was written. */
  readonly changed: boolean;
  /** Whether the reload after writing was applied (false: written, but the daemon runs on the previous configuration; see its log). */
  readonly reloaded: boolean;
  /** The file written (absent when nothing changed), and the backup of its previous version. */
  readonly file?: string;
  readonly backup?: string | null;
}

/** A command registered by a plugin (`ockle cmd`). */
export interface CommandInfo {
  readonly name: string;
  readonly plugin: string;
  readonly description: string;
  /** The least token role that may run it. */
  readonly role: Role;
  /** The arguments it declared (absent: any JSON object). */
  readonly params?: CommandParams;
}

/** The configuration faces of the daemon (admin only). */
export interface ConfigFace {
  /** The loaded configuration: every file, section and key with the schema's help; secrets masked. */
  view(): { readonly dir: string; readonly files: readonly FileView[] };
  /** Checks the loaded config with one file replaced by `text`, changing nothing. */
  check(file: string, text: string): Promise<readonly ConfigProblem[]>;
  /** The templates the forms are built from (src/api/config-schema.ts). */
  schema?(): ConfigSchema;
  /**
   * Editing the files (src/config/edit/editor.ts): each change names the version it is based
   * on, is checked whole, written atomically, recorded in the history, then reloaded. `who` is
   * `client:token-name`. Throws OCKLE_CONFIG_PATH, OCKLE_CONFIG_CONFLICT (409),
   * OCKLE_CONFIG_INVALID (400, with the problems), OCKLE_CONFIG_UNWRITABLE, having changed nothing.
   */
  readonly editor?: {
    read(path: string): Promise<ConfigFileText>;
    replace(path: string, version: string, text: string, who: string): Promise<ConfigChange>;
    edit(path: string, version: string, edits: readonly Edit[], who: string): Promise<ConfigChange>;
    create(path: string, text: string, who: string): Promise<ConfigChange>;
    remove(path: string, version: string, who: string): Promise<ConfigChange>;
    undo(who: string): Promise<ConfigChange>;
    history(): Promise<HistoryEntry[]>;
  };
}

export interface ApiOptions {
  readonly config?: ConfigFace;
  /** Serve the dashboard at `/` (default: from dist/web); a path serves that directory; false: none. */
  readonly web?: boolean | string;
  /** The daemon's plugins (absent: none). */
  readonly plugins?: {
    list(): readonly PluginStatus[];
    restart(name: string): Promise<void>;
    commands(): readonly CommandInfo[];
    invoke(name: string, params: unknown, origin: string): Promise<unknown>;
    /** One plugin with its settings template; throws OCKLE_NOT_FOUND (naming the others) for an unknown one. */
    show?(name: string): Promise<PluginDetail>;
    /**
     * Enables or disables a plugin: edits `[plugins] enabled` in ockle.ini (checked whole
     * before it is written, written atomically with a backup) and reloads. Throws OCKLE_NOT_FOUND,
     * OCKLE_PLUGIN_BROKEN, OCKLE_CONFIG_INVALID, OCKLE_CONFIG_CONFLICT or OCKLE_CONFIG_UNWRITABLE,
     * having changed nothing.
     */
    setEnabled?(name: string, enabled: boolean): Promise<PluginToggle>;
  };
  readonly auth: Auth;
  readonly log: Logger;
  readonly version: string;
  /** Route validators compile this long after the API listens, or on a route's first request if sooner (default 3 s). */
  readonly compileSchemasAfterMs?: number;
  /** Interval of SSE keep-alive comments (default 15 s). */
  readonly keepaliveMs?: number;
  /**
   * An SSE client with more than this many bytes waiting for it is closed (default 1 MiB): it
   * stopped reading, and each event would otherwise stay in the daemon's memory.
   */
  readonly sseMaxBufferedBytes?: number;
  /** Host allow-list and failed-authentication throttle (src/api/guard.ts); absent: any Host, no throttle (unit tests). */
  readonly guard?: ApiGuard;
  /** Serve HTTPS with this certificate; `server.setSecureContext` swaps it on SIGHUP. */
  readonly https?: { readonly cert: string; readonly key: string };
  /** With https: a plain HTTP port on the same address that only redirects to HTTPS. */
  readonly redirectPort?: number;
  /** The daemon's UPSes and their power-cut policies (absent: none). */
  readonly ups?: UpsFace;
  /**
   * Settles when the real states are adopted (absent: they are). Until then the API answers
   * reads (servers say "not read yet", /api/health `starting`) and holds every request that could
   * change something: nothing is decided on states not read yet.
   */
  readonly ready?: Promise<void>;
}

/** The events of the SSE stream (and their `?types=` names): the plugin contract's table. */
export { EVENT_NAMES };
const CLIENTS = ['cli', 'web', 'api'] as const;
/** Methods that change nothing (the others wait for the start's adoption, ApiOptions.ready). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const { actionBody, multiActionBody, outletActionBody, maintenanceBody, configFileBody, configCreateBody, configEditBody } = schemas;

function sendError(reply: FastifyReply, e: OckleError): FastifyReply {
  if (e.code === 'OCKLE_AUTH_REQUIRED') void reply.header('www-authenticate', 'Bearer');
  const retryAfter = (e as { retryAfter?: number }).retryAfter;
  if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
  return reply.code(e.status).send({ error: e.toJSON() });
}

/** fastify/ajv errors → OCKLE_REQUEST_INVALID with the field named. */
function requestError(err: FastifyError): OckleError {
  if (err.validation && err.validation.length > 0) {
    const v = err.validation[0]!;
    const where = `${err.validationContext ?? 'request'}${v.instancePath || ''}`;
    const params = v.params as Record<string, unknown>;
    let detail = v.message ?? 'is not valid';
    if (v.keyword === 'enum') detail = `must be one of ${(params.allowedValues as string[]).join(', ')}`;
    if (v.keyword === 'additionalProperties') detail = `has an unknown property "${String(params.additionalProperty)}"`;
    if (v.keyword === 'required') detail = `needs property "${String(params.missingProperty)}"`;
    return new OckleError('OCKLE_REQUEST_INVALID', `${where} ${detail}`);
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new OckleError('OCKLE_REQUEST_INVALID', `the request body is too large (at most ${BODY_LIMIT} bytes)`, { hint: 'Send a smaller JSON body.' });
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new OckleError('OCKLE_REQUEST_INVALID', err.message, { hint: 'Send JSON with Content-Type: application/json.' });
  return new OckleError('OCKLE_REQUEST_INVALID', err.message);
}

const BODY_LIMIT = 16 * 1024;

/**
 * JSON bodies, parsed by ockle so that every refusal is in the API's shape and says what is
 * wrong: not JSON (with the parser's reason), or a key that could reach an object's prototype
 * (`__proto__`, `constructor.prototype`), refused outright.
 */
function parseJsonBody(_req: FastifyRequest, body: string, done: (err: Error | null, value?: unknown) => void): void {
  if (body === '') return done(null, undefined);
  let bad: string | null = null;
  let value: unknown;
  try {
    value = JSON.parse(body, function (this: unknown, key, v: unknown) {
      if (key === '__proto__' || (key === 'constructor' && v !== null && typeof v === 'object' && 'prototype' in v)) bad ??= key;
      return v;
    });
  } catch (err) {
    return done(Object.assign(new OckleError('OCKLE_REQUEST_INVALID', `the body is not valid JSON: ${(err as Error).message}`, { hint: 'Send a JSON object, e.g. {"action":"on","targets":["web-1"]}.' })));
  }
  if (bad) return done(new OckleError('OCKLE_REQUEST_INVALID', `the body has a "${bad}" key, which ockle refuses`, { hint: 'Remove it: no request of the API uses it.' }));
  done(null, value);
}

export function createApi(gateway: Gateway, opts: ApiOptions): FastifyInstance {
  const compilers = lazyCompilers();
  const app = fastify({
    ...(opts.https && { https: { cert: opts.https.cert, key: opts.https.key, minVersion: 'TLSv1.2' as const } }),
    loggerInstance: opts.log as unknown as FastifyBaseLogger,
    // Requests are not logged one by one (a dashboard polls); writes get their own info line.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // Errors fastify raises before a route runs (a URL that cannot be decoded…): the API's shape.
    frameworkErrors: (err, req, reply) => {
      // Before routing, so the onSend hook below does not see it: the API's headers here.
      if (req.url.startsWith('/api/')) void reply.headers(API_HEADERS);
      void sendError(reply, new OckleError('OCKLE_REQUEST_INVALID', err.code === 'FST_ERR_BAD_URL' ? `the URL cannot be decoded (${err.message})` : err.message, { hint: 'Check the URL and the request.' }));
    },
    // Requests Node's HTTP parser refuses (headers too large, a malformed request line) never
    // reach fastify: answer them in the API's shape too, then close.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const status = tooLarge ? 431 : 400;
      const body = JSON.stringify({
        error: new OckleError('OCKLE_REQUEST_INVALID', tooLarge ? 'the request headers are too large' : `the request is not valid HTTP (${err.code ?? err.message})`, {
          hint: tooLarge ? 'Send fewer or smaller headers (a cookie jar for another site?).' : 'Use an HTTP/1.1 client.',
        }).toJSON(),
      });
      socket.end(
        `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
    // SSE streams never go idle: without this a connected `ockle watch` or dashboard would hold
    // the daemon's stop until systemd's TimeoutStopSec.
    forceCloseConnections: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    // Route schemas are compiled on a route's first request, not before the first answer.
    schemaController: { compilersFactory: compilers },
  });
  // The validators compile in idle time after the start (the worker plugins load first), not
  // in the first request of each route.
  const idle = new AbortController();
  const compileAll = () => compilers.compilePending(idle.signal).catch((err: Error) => opts.log.error({ err: err.message }, 'a route schema does not compile'));
  app.addHook('onListen', async () => void setTimeout(() => void compileAll(), opts.compileSchemasAfterMs ?? 3000).unref());
  app.addHook('onClose', async () => idle.abort());
  // JSON only: a text/plain body gets 415, not a confusing schema error.
  app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody);
  // Before any route (the dashboard's too): a Host this gateway answers to, and no state change
  // a page on another site could have sent (src/api/guard.ts).
  app.addHook('onRequest', async (req) => {
    opts.guard?.hosts.check(req.headers.host);
    checkNotCrossSite(req.method, req.headers);
  });
  // Before the states are adopted, a request that could change something waits for them (after
  // its authentication and validation: a wrong token or body is refused at once).
  let starting = opts.ready !== undefined;
  if (opts.ready) {
    const ready = opts.ready.finally(() => (starting = false));
    app.addHook('preHandler', async (req) => {
      if (starting && !SAFE_METHODS.has(req.method)) await ready;
    });
  }
  // Every /api/* reply, errors included: never cached, never sniffed.
  app.addHook('onSend', async (req, reply) => {
    if (req.url.startsWith('/api/')) void reply.headers(API_HEADERS);
  });
  if (opts.https && opts.redirectPort !== undefined) startRedirect(app, opts.redirectPort, opts.log, opts.guard);
  if (opts.https) {
    // forceCloseConnections reaches only connections that got as far as HTTP: one that is still
    // in (or idle right after) its TLS handshake would hold the daemon's stop until systemd
    // kills it. Every TCP connection is tracked and ended on close.
    const sockets = new Set<Socket>();
    app.server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    app.addHook('preClose', async () => {
      for (const socket of sockets) socket.destroy();
    });
  }
  const principals = new WeakMap<FastifyRequest, Principal>();
  const need =
    (role: Role | null) =>
    async (req: FastifyRequest): Promise<void> => {
      if (role === null) return;
      try {
        principals.set(req, opts.auth.check(req.headers.authorization, role));
      } catch (err) {
        // A missing or wrong token: logged and counted per address, and 429 past the limit. A
        // valid token with too low a role is no authentication failure.
        if (err instanceof OckleError && err.code === 'OCKLE_AUTH_REQUIRED' && opts.guard)
          opts.guard.throttle.failed(req.ip, authFailureReason(req.headers.authorization), `${req.method} ${req.routeOptions.url ?? ''}`);
        throw err;
      }
    };

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err instanceof OckleError) return sendError(reply, err);
    if (err.validation || (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)) {
      const e = requestError(err);
      return reply.code(err.statusCode && err.statusCode !== 400 ? err.statusCode : 400).send({ error: e.toJSON() });
    }
    const e = toOckleError(err);
    opts.log.error({ err: e.message, code: e.code }, 'API request failed');
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new OckleError('OCKLE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`, { hint: 'GET /api/openapi.json lists every route.' })),
  );

  app.get('/api/health', async (): Promise<Health> => (starting ? { ...gateway.health(), status: 'starting' } : gateway.health()));
  // The API's own counters (failed authentications), in the Prometheus text format.
  app.get('/api/metrics', { onRequest: need('viewer') }, async (_req, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(opts.guard?.throttle.metrics() ?? ''),
  );
  if (opts.web !== false) serveDashboard(app, typeof opts.web === 'string' ? opts.web : undefined);
  app.get('/api/openapi.json', async () => (await import('./openapi.js')).openApiDocument(opts.version));
  app.get('/api/servers', { onRequest: need('viewer') }, async () => ({ servers: gateway.servers() }));
  if (opts.ups) upsRoutes(app, { ups: opts.ups, need, who: (req) => `api:${principals.get(req)?.name ?? '?'}`, log: opts.log });
  app.get<{ Params: { name: string } }>('/api/servers/:name', { onRequest: need('viewer') }, async (req) => gateway.server(req.params.name));
  app.get('/api/tree', { onRequest: need('viewer') }, async () => gateway.tree());
  app.get('/api/devices', { onRequest: need('viewer') }, async () => ({ devices: gateway.devices() }));
  app.get<{ Querystring: { limit: number; server?: string; status?: 'running' | 'ok' | 'failed' | 'cancelled' | 'interrupted' } }>(
    '/api/actions',
    {
      onRequest: need('viewer'),
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
            server: { type: 'string', maxLength: 64 },
            status: { type: 'string', enum: ['running', 'ok', 'failed', 'cancelled', 'interrupted'] },
          },
        },
      },
    },
    async (req) => ({
      actions: gateway.actions({
        limit: req.query.limit,
        ...(req.query.server !== undefined && { server: req.query.server }),
        ...(req.query.status !== undefined && { status: req.query.status }),
      }),
    }),
  );
  app.get<{ Params: { id: string }; Querystring: { wait: number } }>(
    '/api/actions/:id',
    {
      onRequest: need('viewer'),
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { wait: { type: 'number', minimum: 0, maximum: 300, default: 0 } },
        },
      },
    },
    async (req) => {
      const current = gateway.action(req.params.id);
      if (current.status !== 'running' || req.query.wait === 0) return current;
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), req.query.wait * 1000);
      const onClose = (): void => ac.abort();
      req.raw.once('close', onClose);
      try {
        return await gateway.waitFor(req.params.id, ac.signal);
      } finally {
        clearTimeout(timer);
        req.raw.off('close', onClose);
      }
    },
  );

  const startAction = (req: FastifyRequest, kind: ActionKind, targets: readonly string[], force: boolean, reason: string, queue: boolean, outlets?: readonly OutletRef[]) => {
    const header = req.headers['x-ockle-client'];
    const client = header === undefined ? 'api' : String(header);
    if (!(CLIENTS as readonly string[]).includes(client))
      throw new OckleError('OCKLE_REQUEST_INVALID', `header X-Ockle-Client must be one of ${CLIENTS.join(', ')}`);
    const who = principals.get(req)!;
    const origin = `${client}:${who.name}`;
    const action = gateway.request({ kind, targets, force, origin, reason, queue, ...(outlets && { outlets }) });
    opts.log.info({ origin, action: kind, targets, ...(outlets && { outlets }), force, queue, reason, actionId: action.id }, 'power action requested');
    return { action };
  };
  app.post<{ Params: { name: string }; Body: { action: ActionKind; force: boolean; reason: string; queue: boolean } }>(
    '/api/servers/:name/actions',
    { onRequest: need('operator'), schema: { body: actionBody } },
    async (req, reply) =>
      reply.code(202).send(startAction(req, req.body.action, [req.params.name], req.body.force, req.body.reason, req.body.queue)),
  );
  // Maintenance: pause or resume servers (no keep-alive, no automatic action meanwhile).
  app.post<{ Body: { action: 'pause' | 'resume'; targets?: string[]; all?: boolean; reason?: string } }>(
    '/api/maintenance',
    { onRequest: need('operator'), schema: { body: maintenanceBody } },
    async (req) => {
      const { action, targets, all, reason } = req.body;
      if ((all === true) === (targets !== undefined))
        throw new OckleError('OCKLE_REQUEST_INVALID', 'body needs either "targets" or "all": true, not both', { hint: 'Name the servers in targets, or set all.' });
      const who = principals.get(req)!;
      const header = req.headers['x-ockle-client'];
      const origin = `${header === undefined || !(CLIENTS as readonly string[]).includes(String(header)) ? 'api' : String(header)}:${who.name}`;
      const which = all ? 'all' : targets!;
      const changed = action === 'pause' ? gateway.pause(which, origin, reason ?? '') : gateway.resume(which);
      opts.log.info({ origin, action, targets: which, changed, reason }, action === 'pause' ? 'servers paused for maintenance' : 'servers resumed from maintenance');
      return { changed, paused: gateway.servers().filter((s) => s.paused).map((s) => ({ server: s.name, ...s.paused! })) };
    },
  );
  // A server's tests, now (probes only: nothing is switched).
  app.post<{ Params: { name: string } }>('/api/servers/:name/tests', { onRequest: need('operator') }, async (req) => {
    const who = principals.get(req)!;
    opts.log.info({ origin: `api:${who.name}`, server: req.params.name }, 'tests run on request');
    return { server: await gateway.test(req.params.name) };
  });
  // One outlet of one device, whatever it powers: forced, journaled, confirmed by read-back.
  app.post<{ Params: { id: string; outlet: string }; Body: { action: ActionKind; reason: string } }>(
    '/api/devices/:id/outlets/:outlet/actions',
    { onRequest: need('operator'), schema: { body: outletActionBody } },
    async (req, reply) => {
      const n = Number(req.params.outlet);
      if (!/^\d+$/.test(req.params.outlet)) throw new OckleError('OCKLE_REQUEST_INVALID', `outlet "${req.params.outlet}" is not an outlet number`, { hint: 'Outlets are numbered from 1.' });
      return reply.code(202).send(startAction(req, req.body.action, [], true, req.body.reason, false, [{ device: req.params.id, outlet: n }]));
    },
  );
  app.post<{ Body: { action: ActionKind; targets?: string[]; all: boolean; force: boolean; reason: string; queue: boolean } }>(
    '/api/actions',
    { onRequest: need('operator'), schema: { body: multiActionBody } },
    async (req, reply) => {
      const { targets, all } = req.body;
      if (all === (targets !== undefined))
        throw new OckleError('OCKLE_REQUEST_INVALID', 'body needs either "targets" or "all": true, not both', {
          hint: 'Name the servers in targets, or set all to act on the whole tree.',
        });
      const names = all ? gateway.tree().order : targets!;
      return reply.code(202).send(startAction(req, req.body.action, names, req.body.force, req.body.reason, req.body.queue));
    },
  );
  app.post<{ Params: { id: string } }>('/api/actions/:id/cancel', { onRequest: need('operator') }, async (req) => {
    const who = principals.get(req)!;
    const action = gateway.cancel(req.params.id, `api:${who.name}`);
    opts.log.info({ origin: `api:${who.name}`, actionId: action.id }, 'action cancel requested');
    return { action };
  });
  app.get<{ Querystring: { action: 'on' | 'off'; targets?: string; all: boolean } }>(
    '/api/plan',
    {
      onRequest: need('viewer'),
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['action'],
          properties: {
            action: { type: 'string', enum: ['on', 'off'] },
            targets: { type: 'string', minLength: 1, maxLength: 2000 },
            all: { type: 'boolean', default: false },
          },
        },
      },
    },
    async (req) => {
      const { action, targets, all } = req.query;
      if (all === (targets !== undefined))
        throw new OckleError('OCKLE_REQUEST_INVALID', 'querystring needs either targets=a,b or all=true, not both');
      return gateway.plan(action, all ? 'all' : targets!.split(',').map((t) => t.trim()).filter(Boolean));
    },
  );
  app.get('/api/config/problems', { onRequest: need('admin') }, async () => ({ problems: gateway.configProblems() }));
  app.get('/api/whoami', { onRequest: need('viewer') }, async (req) => principals.get(req)!);
  app.get('/api/config', { onRequest: need('admin') }, async () => {
    if (!opts.config) throw new OckleError('OCKLE_NOT_FOUND', 'this daemon does not expose its configuration');
    return opts.config.view();
  });
  app.get('/api/config/schema', { onRequest: need('admin') }, async () => {
    if (!opts.config?.schema) throw new OckleError('OCKLE_NOT_FOUND', 'this daemon does not expose its configuration schema');
    return opts.config.schema();
  });
  app.post<{ Body: { file: string; text: string } }>(
    '/api/config/check',
    {
      onRequest: need('admin'),
      bodyLimit: 300 * 1024,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['file', 'text'],
          properties: {
            file: { type: 'string', pattern: '^(ockle\\.ini|(devices|servers)/[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\\.ini)$', maxLength: 80 },
            text: { type: 'string', maxLength: 256 * 1024 },
          },
        },
      },
    },
    async (req) => {
      if (!opts.config) throw new OckleError('OCKLE_NOT_FOUND', 'this daemon does not expose its configuration');
      const problems = await opts.config.check(req.body.file, req.body.text);
      return { file: req.body.file, ok: !problems.some((p) => p.severity === 'error'), problems };
    },
  );

  // Config editing (admin): read a file with its version, replace, edit, create, delete, undo.
  const editor = () => {
    if (!opts.config?.editor) throw new OckleError('OCKLE_NOT_FOUND', 'this daemon does not edit its configuration');
    return opts.config.editor;
  };
  const editorOf = (req: FastifyRequest): string => {
    const header = req.headers['x-ockle-client'];
    const client = header !== undefined && (CLIENTS as readonly string[]).includes(String(header)) ? String(header) : 'api';
    return `${client}:${principals.get(req)!.name}`;
  };
  /** Runs a change and logs a refusal (who, what, code; never a value). */
  const change = async (req: FastifyRequest, file: string, op: string, fn: (who: string) => Promise<ConfigChange>): Promise<ConfigChange> => {
    const who = editorOf(req);
    try {
      return await fn(who);
    } catch (err) {
      const e = toOckleError(err);
      opts.log.warn({ origin: who, file: file.slice(0, 200), op, code: e.code }, `config ${op} refused: nothing changed`);
      throw err;
    }
  };
  const filePath = (req: FastifyRequest): string => (req.params as { '*': string })['*'];
  const EDIT_LIMIT = 300 * 1024;
  app.get('/api/config/files/*', { onRequest: need('admin') }, async (req) => editor().read(filePath(req)));
  app.put<{ Body: { version: string; text: string } }>('/api/config/files/*', { onRequest: need('admin'), bodyLimit: EDIT_LIMIT, schema: { body: configFileBody } }, async (req) =>
    change(req, filePath(req), 'replace', (who) => editor().replace(filePath(req), req.body.version, req.body.text, who)),
  );
  app.post<{ Body: { text: string } }>('/api/config/files/*', { onRequest: need('admin'), bodyLimit: EDIT_LIMIT, schema: { body: configCreateBody } }, async (req, reply) =>
    reply.code(201).send(await change(req, filePath(req), 'create', (who) => editor().create(filePath(req), req.body.text, who))),
  );
  app.delete<{ Querystring: { version: string } }>(
    '/api/config/files/*',
    {
      onRequest: need('admin'),
      schema: { querystring: { type: 'object', additionalProperties: false, required: ['version'], properties: { version: configFileBody.properties.version } } },
    },
    async (req) => change(req, filePath(req), 'delete', (who) => editor().remove(filePath(req), req.query.version, who)),
  );
  app.post<{ Body: { file: string; version: string; edits: Edit[] } }>('/api/config/edit', { onRequest: need('admin'), schema: { body: configEditBody } }, async (req) => {
    for (const [i, e] of req.body.edits.entries()) {
      if ((e.op === 'set' || e.op === 'unset') && (e as { key?: string }).key === undefined) throw new OckleError('OCKLE_REQUEST_INVALID', `body/edits/${i} (${e.op}) needs property "key"`);
      if (e.op === 'set' && (e as { value?: string }).value === undefined) throw new OckleError('OCKLE_REQUEST_INVALID', `body/edits/${i} (set) needs property "value"`);
    }
    return change(req, req.body.file, 'edit', (who) => editor().edit(req.body.file, req.body.version, req.body.edits, who));
  });
  app.post('/api/config/undo', { onRequest: need('admin') }, async (req) => change(req, '', 'undo', (who) => editor().undo(who)));
  app.get<{ Querystring: { limit: number } }>(
    '/api/config/history',
    { onRequest: need('admin'), schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } } } } },
    async (req) => ({ changes: (await editor().history()).reverse().slice(0, req.query.limit) }),
  );

  app.get('/api/plugins', { onRequest: need('viewer') }, async () => ({ plugins: opts.plugins?.list() ?? [] }));
  app.post<{ Params: { name: string } }>('/api/plugins/:name/restart', { onRequest: need('admin') }, async (req) => {
    const p = opts.plugins?.list().find((x) => x.name === req.params.name);
    if (!p || p.where !== 'worker')
      throw new OckleError('OCKLE_NOT_FOUND', `no worker plugin "${req.params.name}"`, { hint: `Worker plugins: ${(opts.plugins?.list() ?? []).filter((x) => x.where === 'worker').map((x) => x.name).join(', ') || 'none enabled'}.` });
    await opts.plugins!.restart(p.name);
    opts.log.info({ origin: `api:${principals.get(req)!.name}`, plugin: p.name }, 'plugin restart requested');
    return { plugin: opts.plugins!.list().find((x) => x.name === p.name) };
  });

  app.get<{ Params: { name: string } }>('/api/plugins/:name', { onRequest: need('viewer') }, async (req) => {
    if (!opts.plugins?.show) throw new OckleError('OCKLE_NOT_FOUND', 'this daemon does not describe its plugins');
    return { plugin: await opts.plugins.show(req.params.name) };
  });
  // Enable/disable: ockle.ini is edited and reloaded; who did it, what and which file are logged.
  const toggle =
    (verb: 'enable' | 'disable') =>
    async (req: FastifyRequest<{ Params: { name: string } }>): Promise<PluginToggle> => {
      if (!opts.plugins?.setEnabled) throw new OckleError('OCKLE_NOT_FOUND', `this daemon cannot ${verb} plugins`);
      const origin = `api:${principals.get(req)!.name}`;
      const plugin = req.params.name;
      try {
        const r = await opts.plugins.setEnabled(plugin, verb === 'enable');
        if (r.changed)
          opts.log.info(
            { origin, plugin, action: verb, file: r.file, backup: r.backup, reloaded: r.reloaded, state: r.plugin.state },
            `plugin ${plugin} ${verb}d by ${origin}: ${r.file} written${r.reloaded ? ' and reloaded' : ', but the reload was refused (the daemon runs on the previous configuration)'}`,
          );
        else opts.log.info({ origin, plugin, action: verb }, `plugin ${plugin} already ${verb}d: nothing written`);
        return r;
      } catch (err) {
        const e = toOckleError(err);
        opts.log.warn({ origin, plugin, action: verb, code: e.code, err: e.message }, `${verb} plugin ${plugin} refused: nothing changed`);
        throw err;
      }
    };
  app.post<{ Params: { name: string } }>('/api/plugins/:name/enable', { onRequest: need('admin') }, toggle('enable'));
  app.post<{ Params: { name: string } }>('/api/plugins/:name/disable', { onRequest: need('admin') }, toggle('disable'));

  app.get('/api/commands', { onRequest: need('viewer') }, async () => ({ commands: opts.plugins?.commands() ?? [] }));
  app.post<{ Params: { name: string }; Body: unknown }>(
    '/api/commands/:name',
    { onRequest: need('viewer'), bodyLimit: 64 * 1024, schema: { body: { type: ['object', 'null'] } } },
    async (req) => {
      const cmd = opts.plugins?.commands().find((c) => c.name === req.params.name);
      if (!cmd)
        throw new OckleError('OCKLE_NOT_FOUND', `no command "${req.params.name}"`, {
          hint: `Commands: ${(opts.plugins?.commands() ?? []).map((c) => c.name).join(', ') || 'none registered (is the plugin enabled and running?)'}.`,
        });
      const who = principals.get(req)!;
      opts.auth.require(who, cmd.role, `run ${cmd.name}`);
      const origin = `api:${who.name}`;
      const started = Date.now();
      try {
        const result = await opts.plugins!.invoke(cmd.name, req.body ?? {}, origin);
        opts.log.info({ origin, command: cmd.name, ms: Date.now() - started }, 'plugin command ran');
        return { command: cmd.name, result };
      } catch (err) {
        opts.log.warn({ origin, command: cmd.name, ms: Date.now() - started, code: toOckleError(err).code }, 'plugin command failed');
        throw err;
      }
    },
  );

  // One event's text, made once for every stream: the bus hands the same payload to each
  // stream's listener in one emit, so the first serialises it and the others reuse it. The text
  // is kept for that emit only (forgotten at the next microtask), so a payload object emitted
  // again later, even changed, is serialised anew. The id counts the daemon's events, so it is
  // the same on every stream.
  let sseLast: { readonly payload: unknown; readonly name: string; readonly text: string } | null = null;
  let sseId = 0;
  const sseText = (name: string, payload: unknown): string => {
    if (sseLast === null || sseLast.payload !== payload || sseLast.name !== name) {
      if (sseLast === null) queueMicrotask(() => (sseLast = null));
      sseLast = { payload, name, text: `event: ${name}\nid: ${++sseId}\ndata: ${JSON.stringify(payload)}\n\n` };
    }
    return sseLast.text;
  };

  app.get<{ Querystring: { types?: string } }>(
    '/api/events',
    {
      onRequest: need('viewer'),
      schema: { querystring: { type: 'object', additionalProperties: false, properties: { types: { type: 'string', maxLength: 500 } } } },
    },
    async (req, reply) => {
      // Unless asked for by name, device.metered is left out: a metering poll every few seconds
      // per device would drown the changes a watcher is looking for.
      const filter = eventFilter(req.query.types) ?? DEFAULT_EVENTS;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store, no-transform',
        'x-content-type-options': 'nosniff',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write('retry: 2000\n\n');
      // A client that stops reading (a tab frozen in the background, a laptop gone to sleep, a
      // pipe into a stuck process) leaves what is written for it in the daemon's memory, event
      // after event, until the connection times out, hours later. Past the limit it is closed;
      // the dashboard and `ockle watch` reconnect and read the state again.
      const maxBuffered = opts.sseMaxBufferedBytes ?? 1024 * 1024;
      // What a turn of the event loop emitted goes out in one write per client at its end: a
      // sequence emits thousands of events, and a write (a system call) per event per client
      // made fifty open dashboards cost seconds of the main thread per sequence.
      let pending: string[] = [];
      let flushing: NodeJS.Immediate | null = null;
      const flush = (): void => {
        flushing = null;
        const text = pending.join('');
        pending = [];
        if (res.writableLength > maxBuffered) {
          opts.log.warn({ origin: `api:${principals.get(req)?.name ?? '?'}`, buffered: res.writableLength }, 'event stream closed: the client stopped reading (it reconnects and reads the state again)');
          close();
          res.destroy();
          return;
        }
        res.write(text);
      };
      const send = (text: string): void => {
        pending.push(text);
        flushing ??= setImmediate(flush);
      };
      const off = gateway.events.onAny((name, payload) => {
        if (filter.has(name)) send(sseText(name, payload));
      });
      const keepalive = setInterval(() => send(': keepalive\n\n'), opts.keepaliveMs ?? 15_000);
      keepalive.unref();
      // A reload that removes this token ends the stream; the client's reconnect then gets 401.
      const header = req.headers.authorization;
      const offAuth = opts.auth.onChange(() => {
        if (opts.auth.identify(header)) return;
        close();
        res.end();
      });
      function close(): void {
        off();
        offAuth();
        clearInterval(keepalive);
        if (flushing) clearImmediate(flushing);
        flushing = null;
        pending = [];
      }
      req.raw.once('close', close);
      res.once('close', close);
    },
  );

  return app;
}

/** What an SSE client without `?types=` gets: every event but device.metered. */
export const DEFAULT_EVENTS: ReadonlySet<PluginEventName> = new Set(EVENT_NAMES.filter((e) => e !== 'device.metered'));

/**
 * The events an SSE client asked for with `?types=a,b` (null: none named, DEFAULT_EVENTS).
 * @throws OckleError OCKLE_REQUEST_INVALID naming the first name that is no event
 */
export function eventFilter(types: string | undefined): ReadonlySet<PluginEventName> | null {
  const wanted = types?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
  const unknown = wanted.find((t) => !isEventName(t));
  if (unknown !== undefined) throw new OckleError('OCKLE_REQUEST_INVALID', `querystring/types has unknown event "${unknown}"`, { hint: `Events are: ${EVENT_NAMES.join(', ')}.` });
  return wanted.length > 0 ? new Set(wanted.filter(isEventName)) : null;
}
