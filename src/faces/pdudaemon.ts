/**
 * The PDUDaemon-compatible face: `GET /power/control/{on,off,reboot}?hostname=DEVICE&port=N
 * [&delay=S]` on a listener of its own, answered with PDUDaemon's status codes and bodies, so
 * LAVA device dictionaries and labgrid's PDUDaemonDriver drive ockle without a change.
 *
 * Every request becomes a journaled action through the gateway, with origin
 * `pdudaemon:<client address>` (or `pdudaemon:<token name>`), and is answered only when the
 * outlet reads back the state asked for (PDUDaemon answers when its driver returns, without a
 * read-back). `hostname=<servers_hostname>&port=SERVER` runs a sequenced action on a server.
 *
 * Access: PDUDaemon has none. Here only the configured client addresses are served (default
 * loopback), a request a web page made a browser send is refused (its power URLs are plain GETs,
 * which any page can trigger), and a `token=` in the query names an ockle token of role operator
 * or above (`require_token` makes one mandatory); anything else gets 403 and nothing is switched.
 *
 * Deliberate differences from PDUDaemon (docs/integrations.md): HEAD is refused (aiohttp runs
 * the GET handler for it, so a link checker would switch power); bad input is refused before
 * anything moves; a failed switch answers 500 with why, where PDUDaemon says 200 regardless.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BlockList, isIP, type AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Gateway } from '../core/gateway.js';
import type { ActionKind, ActionRecord } from '../core/model.js';
import { OckleError, toOckleError } from '../errors.js';
import { sleep } from '../timers.js';
import { commandOf, firstValue, readPduRequest, type PduCommand, type PduTarget } from './pdudaemon-request.js';

/** The `[pdudaemon]` section of ockle.ini (src/config/schema.ts). */
export interface PduDaemonSettings {
  readonly enabled: boolean;
  readonly listen: string;
  readonly port: number;
  readonly allow: readonly string[];
  readonly require_token: boolean;
  readonly servers_hostname: string;
}

export interface PduDaemonFaceOptions {
  readonly gateway: Gateway;
  readonly log: Logger;
  /** Who holds an ockle token (the API's tokens, current after every reload), or null. */
  readonly identify: (token: string) => { readonly name: string; readonly role: 'viewer' | 'operator' | 'admin' } | null;
}

/** PDUDaemon's answers (aiohttp 3.8 with pdudaemon's handler), byte for byte. */
const OK_BODY = 'OK - accepted request\n';
const INVALID_BODY = 'Invalid request\n';
const NOT_FOUND_BODY = '404: Not Found';
const NOT_ALLOWED_BODY = '405: Method Not Allowed';
/** aiohttp's HTTPForbidden body: PDUDaemon never refuses anyone, so this is how its server would. */
const FORBIDDEN_BODY = '403: Forbidden';

interface Listening {
  readonly server: Server;
  readonly listen: string;
  readonly port: number;
}

/** The client address as a plain IP (an IPv4 client of a dual-stack socket comes as ::ffff:a.b.c.d). */
function clientAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

function allowList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const e of entries) {
    const [ip, bits] = e.split('/') as [string, string | undefined];
    const type = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(ip, type);
    else list.addSubnet(ip, Number(bits), type);
  }
  return list;
}

export class PduDaemonFace {
  readonly #gateway: Gateway;
  readonly #log: Logger;
  readonly #identify: PduDaemonFaceOptions['identify'];
  #settings: PduDaemonSettings | null = null;
  #allow = new BlockList();
  #listening: Listening | null = null;
  /** Aborted when the daemon stops: a reboot waiting for its delay does not switch on after that. */
  readonly #stop = new AbortController();
  /** One request at a time per outlet or server, as PDUDaemon runs one job at a time per PDU. */
  readonly #chains = new Map<string, Promise<void>>();

  constructor(o: PduDaemonFaceOptions) {
    this.#gateway = o.gateway;
    this.#log = o.log;
    this.#identify = o.identify;
  }

  /** `http://host:port` while listening, else null. */
  get url(): string | null {
    const l = this.#listening;
    if (!l) return null;
    const { port } = l.server.address() as AddressInfo;
    return `http://${l.listen.includes(':') ? `[${l.listen}]` : l.listen}:${port}`;
  }

  /**
   * Applies `[pdudaemon]` (at start and on every reload): starts, stops or moves the listener
   * when enabled/listen/port change; the allow list, the token rule and the servers' hostname
   * apply to the next request. Requests under way finish on the old listener.
   */
  async configure(settings: PduDaemonSettings): Promise<void> {
    this.#settings = settings;
    this.#allow = allowList(settings.allow);
    const l = this.#listening;
    const same = l !== null && settings.enabled && l.listen === settings.listen && (settings.port === 0 || l.port === settings.port);
    if (same) return;
    if (l) {
      this.#listening = null;
      await new Promise<void>((resolve) => l.server.close(() => resolve()));
      this.#log.info({ listen: l.listen }, 'pdudaemon face closed');
    }
    if (!settings.enabled) return;
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException): void => {
        const where = `${settings.listen}:${settings.port}`;
        const why = err.code === 'EADDRINUSE' ? `${where} is in use` : err.code === 'EACCES' ? `${where} needs privileges ockle does not have` : `${where}: ${err.message}`;
        reject(
          new OckleError('OCKLE_CONFIG_INVALID', `[pdudaemon] cannot listen: ${why}`, {
            hint: 'Set [pdudaemon] port to a free port (PDUDaemon itself may still run on 16421: stop it, or pick another port and point the clients at it).',
            cause: err,
          }),
        );
      };
      server.once('error', failed);
      server.listen(settings.port, settings.listen, () => {
        server.off('error', failed);
        resolve();
      });
    });
    this.#listening = { server, listen: settings.listen, port: (server.address() as AddressInfo).port };
    this.#log.info({ url: this.url, allow: settings.allow, requireToken: settings.require_token }, 'pdudaemon face listening');
  }

  /** Stops listening and drops the connections; actions already accepted run on in the gateway. */
  async close(): Promise<void> {
    this.#stop.abort();
    const l = this.#listening;
    this.#listening = null;
    if (!l) return;
    l.server.closeAllConnections();
    await new Promise<void>((resolve) => l.server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const client = clientAddress(req);
    const send = (status: number, body: string, headers: Record<string, string> = {}): void => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
      res.end(body);
    };
    const settings = this.#settings;
    if (!settings) return send(503, 'not configured\n');
    // 1. Who: an allowed address first (before the path is even read), then the token.
    if (!this.#allow.check(client, isIP(client) === 6 ? 'ipv6' : 'ipv4')) {
      this.#log.warn({ client }, 'pdudaemon request refused: client address not in [pdudaemon] allow');
      return send(403, FORBIDDEN_BODY);
    }
    // A browser's request: a page anywhere (or a DNS-rebound name) could make the browser of an
    // allowed machine GET a power URL, since an <img> needs no CORS. LAVA, labgrid and curl send
    // neither header; a browser sends Sec-Fetch-Site (none only for a URL typed by its user) and,
    // for scripts, Origin.
    const site = req.headers['sec-fetch-site'];
    if (req.headers.origin !== undefined || (site !== undefined && site !== 'none')) {
      this.#log.warn({ client, origin: req.headers.origin, site }, 'pdudaemon request refused: sent by a web page (Origin or Sec-Fetch-Site)');
      return send(403, FORBIDDEN_BODY);
    }
    const url = new URL(req.url ?? '/', 'http://pdudaemon');
    const command = commandOf(url.pathname);
    // 2. The routes PDUDaemon has (aiohttp: 404 for any other path, 405 for another method).
    if (!command) return send(404, NOT_FOUND_BODY);
    if (req.method !== 'GET') return send(405, NOT_ALLOWED_BODY, { allow: 'GET' });
    const token = firstValue(url.searchParams, 'token');
    let who = client;
    if (token !== undefined) {
      const p = this.#identify(token);
      if (!p || p.role === 'viewer') {
        this.#log.warn({ client }, `pdudaemon request refused: ${p ? `token "${p.name}" has role viewer; switching needs operator` : 'the token is not valid'}`);
        return send(403, FORBIDDEN_BODY);
      }
      who = p.name;
    } else if (settings.require_token) {
      this.#log.warn({ client }, 'pdudaemon request refused: no token= and [pdudaemon] require_token is set');
      return send(403, FORBIDDEN_BODY);
    }
    // 3. What: checked whole before anything moves.
    const gw = this.#gateway;
    const parsed = readPduRequest(
      command,
      url.searchParams,
      {
        outletCount: (id) => gw.devices().find((d) => d.id === id)?.outletCount,
        hasServer: (n) => gw.servers().some((s) => s.name === n),
      },
      settings.servers_hostname,
    );
    const fields = { client, origin: `pdudaemon:${who}`, command, hostname: firstValue(url.searchParams, 'hostname'), port: firstValue(url.searchParams, 'port') };
    if (!parsed.ok) {
      this.#log.info({ ...fields, why: parsed.why }, 'pdudaemon request invalid: nothing switched');
      return send(500, INVALID_BODY);
    }
    // 4. Run, one at a time per target, and answer when it is confirmed (or has failed).
    const key = parsed.target.kind === 'outlet' ? `${parsed.target.device}/${parsed.target.outlet}` : `server:${parsed.target.server}`;
    const run = (this.#chains.get(key) ?? Promise.resolve()).then(() => this.#run(parsed.command, parsed.target, parsed.delayS, `pdudaemon:${who}`));
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#chains.set(key, tail);
    void tail.then(() => {
      if (this.#chains.get(key) === tail) this.#chains.delete(key);
    });
    try {
      const ids = await run;
      this.#log.info({ ...fields, delay: parsed.delayS, actions: ids }, 'pdudaemon request done');
      send(200, OK_BODY);
    } catch (err) {
      const e = toOckleError(err);
      this.#log.warn({ ...fields, code: e.code, err: e.message }, 'pdudaemon request failed');
      send(500, `Failed request: ${e.message}\n`);
    }
  }

  /**
   * Carries out one request through the gateway; resolves with the ids of its actions once each
   * finished ok, throws the first failure. reboot of an outlet: off, confirmed; the delay; on,
   * confirmed (PDUDaemon's off, sleep, on). reboot of a server: its sequenced cycle.
   */
  async #run(command: PduCommand, target: PduTarget, delayS: number, origin: string): Promise<string[]> {
    const signal = this.#stop.signal;
    // The reason says what was asked, and the delay only where it is used (a server's reboot is its sequenced cycle).
    const serverReboot = command === 'reboot' && target.kind === 'server';
    const reasonOf = (step: string): string =>
      `PDUDaemon ${command}${serverReboot ? ' (sequenced cycle)' : command === 'reboot' || delayS > 0 ? ` (delay ${delayS} s)` : ''}${step ? `: ${step}` : ''}`;
    const act = async (kind: ActionKind, step: string, offMs?: number): Promise<ActionRecord> => {
      if (signal.aborted) throw toOckleError(signal.reason ?? new Error('the daemon is stopping'));
      const req =
        target.kind === 'outlet'
          ? { kind, targets: [], force: true, origin, reason: reasonOf(step), outlets: [{ device: target.device, outlet: target.outlet }], ...(offMs !== undefined && { offMs }) }
          : { kind, targets: [target.server], force: false, origin, reason: reasonOf(step) };
      const started = this.#gateway.request(req);
      const done = await this.#gateway.waitFor(started.id, signal);
      if (done.status !== 'ok') {
        const e = toOckleError(new Error(done.error ? `${done.error.message} (action ${done.id})` : `action ${done.id} ${done.status}`));
        throw e;
      }
      return done;
    };
    // reboot of an outlet: one cycle action whose off time is the delay (off, confirmed, the
    // delay, on, confirmed): one journal record, each switch confirmed by read-back.
    if (command === 'reboot' && target.kind === 'outlet') return [(await act('cycle', '', Math.round(delayS * 1000))).id];
    // on/off: PDUDaemon waits the (deprecated) delay before it switches.
    if (command !== 'reboot' && delayS > 0) await sleep(delayS * 1000, signal);
    return [(await act(command === 'reboot' ? 'cycle' : command, '')).id];
  }
}
