/**
 * `redfish` outlet device (one ComputerSystem = one outlet) and `redfish-graceful` control.
 * ServiceRoot → Systems → ComputerSystem: PowerState is read, `ComputerSystem.Reset` is posted
 * with a ResetType the system advertises (On, ForceOff, PowerCycle, GracefulShutdown). Session
 * auth (X-Auth-Token, logged out on close) or basic auth. TLS is verified against the system CAs,
 * a configured CA file, or a pinned certificate fingerprint; `insecure` turns checks off and is
 * warned about at start.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Infer } from '../../src/config/types.js';
import type { OckleError} from '../../src/errors.js';
import { asControlError, DeviceRefusedError, DeviceReplyError, DeviceUnreachableError, OperationAbortedError, UnknownOutletError } from '../../src/errors.js';
import { defineDriver, type Controller, type DeviceInfo, type DriverContext, type OutletDevice, type Power, type SwitchAction } from '../types.js';
import { redfishGracefulSketch, redfishSketch, redfishTemplate } from './definition.js';

export { redfishTemplate };

type Spec = Infer<typeof redfishTemplate>;

interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Record<string, unknown>;
}

/** A Redfish client for one BMC: TLS policy, authentication, one retry after a lapsed session. */
export class RedfishClient {
  readonly #s: Spec;
  readonly #base: URL;
  readonly #ca: Buffer | undefined;
  #token: string | null = null;
  #session: string | null = null;

  constructor(
    readonly id: string,
    spec: Spec,
    ctx: DriverContext,
  ) {
    this.#s = spec;
    this.#base = new URL(spec.url);
    this.#ca = spec.ca_file ? readFileSync(spec.ca_file) : undefined;
    if (spec.insecure) ctx.log.warn({ device: id }, 'TLS certificate checks are OFF for this BMC (insecure = true); set fingerprint = … instead');
    if (this.#base.protocol === 'http:') ctx.log.warn({ device: id }, 'plain HTTP to the BMC: the password crosses the network in the clear');
  }

  /** The BMC's certificate, once its fingerprint matched the pin (then trusted as its own CA). */
  #pinned: string | null = null;

  /**
   * Pinning: Node only runs checkServerIdentity on certificates that already verified, so a
   * self-signed BMC certificate is checked here, on a TLS connection that sends nothing, and
   * then trusted as its own CA for the requests (host name not checked: the pin is the trust).
   */
  async #pin(signal: AbortSignal): Promise<void> {
    const want = this.#s.fingerprint!.toUpperCase();
    const port = Number(this.#base.port || 443);
    const cert = await new Promise<X509Certificate>((resolve, reject) => {
      const sock = tlsConnect({ host: this.#base.hostname, port, rejectUnauthorized: false, ...(isIP(this.#base.hostname) ? {} : { servername: this.#base.hostname }), signal } as ConnectionOptions, () => {
        const raw = sock.getPeerCertificate(false).raw;
        sock.destroy();
        if (raw) resolve(new X509Certificate(raw));
        else reject(new Error('the BMC sent no certificate'));
      });
      sock.setTimeout(this.#s.request_timeout, () => sock.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      sock.once('error', reject);
    }).catch((e: unknown) => {
      throw signal.aborted ? new OperationAbortedError() : this.#transportError(e as NodeJS.ErrnoException, 'TLS handshake');
    });
    if (cert.fingerprint256.toUpperCase() !== want)
      throw new DeviceRefusedError(this.id, `${this.id}: the BMC's certificate fingerprint ${cert.fingerprint256} is not the pinned ${want}; nothing was sent`, {
        hint: 'If the BMC got a new certificate, check its fingerprint out of band and update fingerprint =.',
      });
    this.#pinned = cert.toString();
  }

  #tls(): Record<string, unknown> {
    const s = this.#s;
    if (s.insecure) return { rejectUnauthorized: false };
    if (s.fingerprint) return { ca: this.#pinned!, checkServerIdentity: () => undefined };
    return this.#ca ? { ca: this.#ca } : {};
  }

  async request(method: 'GET' | 'POST' | 'DELETE', path: string, signal: AbortSignal, body?: unknown, retried = false): Promise<Reply> {
    if (this.#s.auth === 'session' && !this.#token && !path.endsWith('/Sessions') && path !== '/redfish/v1') await this.login(signal);
    const url = new URL(path, this.#base);
    if (this.#s.fingerprint && !this.#pinned && url.protocol === 'https:') await this.#pin(signal);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json', 'odata-version': '4.0' };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (this.#s.auth === 'basic') headers.authorization = `Basic ${Buffer.from(`${this.#s.user}:${this.#s.password.reveal()}`).toString('base64')}`;
    else if (this.#token) headers['x-auth-token'] = this.#token;
    const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const reply = await new Promise<Reply>((resolve, reject) => {
      const r = req(url, { method, headers, signal, timeout: this.#s.request_timeout, agent: false, ...this.#tls() }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let parsed: Record<string, unknown> = {};
          try {
            parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            // not JSON: keep {}
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      });
      r.on('timeout', () => r.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      r.on('error', (e: NodeJS.ErrnoException) => reject(signal.aborted ? new OperationAbortedError() : this.#transportError(e, `${method} ${path}`)));
      if (payload !== undefined) r.write(payload);
      r.end();
    });
    // A lapsed session: nothing was done; log in again and repeat once.
    if (reply.status === 401 && this.#s.auth === 'session' && !retried && !path.endsWith('/Sessions')) {
      this.#token = null;
      return this.request(method, path, signal, body, true);
    }
    if (reply.status >= 400) throw this.#httpError(reply, `${method} ${path}`);
    return reply;
  }

  async login(signal: AbortSignal): Promise<void> {
    const root = await this.request('GET', '/redfish/v1', signal);
    const sessions =
      ((root.body.Links as { Sessions?: { '@odata.id'?: string } } | undefined)?.Sessions?.['@odata.id']) ?? '/redfish/v1/SessionService/Sessions';
    const r = await this.request('POST', sessions, signal, { UserName: this.#s.user, Password: this.#s.password.reveal() });
    const token = r.headers['x-auth-token'];
    if (typeof token !== 'string') throw new DeviceReplyError(this.id, `${this.id}: the BMC created a session without an X-Auth-Token`, { hint: 'Use auth = basic for this BMC.' });
    this.#token = token;
    this.#session = typeof r.headers.location === 'string' ? new URL(r.headers.location, this.#base).pathname : null;
  }

  async logout(): Promise<void> {
    const s = this.#session;
    this.#session = null;
    if (!s || !this.#token) return;
    await this.request('DELETE', s, AbortSignal.timeout(this.#s.request_timeout)).catch(() => {});
    this.#token = null;
  }

  #transportError(e: NodeJS.ErrnoException, what: string): OckleError {
    const at = `${this.id}: ${what} (${this.#base.host})`;
    if (/certificate|self[- ]signed|fingerprint|CERT|UNABLE_TO_VERIFY/i.test(`${e.code} ${e.message}`))
      return new DeviceRefusedError(this.id, `${at}: TLS: ${e.message}`, {
        hint: 'Give ca_file = the CA that signed it, or pin it with fingerprint = (openssl s_client -connect HOST:443 | openssl x509 -noout -fingerprint -sha256).',
      });
    return new DeviceUnreachableError(this.id, `${at}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ETIMEDOUT' ? 'no answer' : e.message}`, {
      hint: 'Check url and that the BMC’s Redfish service is enabled.',
    });
  }

  #httpError(r: Reply, what: string): OckleError {
    const at = `${this.id}: ${what} (${this.#base.host})`;
    const err = r.body.error as { message?: string; '@Message.ExtendedInfo'?: { Message?: string }[] } | undefined;
    const detail = err?.['@Message.ExtendedInfo']?.[0]?.Message ?? err?.message ?? '';
    if (r.status === 401) return new DeviceRefusedError(this.id, `${at}: HTTP 401, login refused`, { hint: 'Check user and password.' });
    if (r.status === 403) return new DeviceRefusedError(this.id, `${at}: HTTP 403${detail ? `: ${detail}` : ''}`, { hint: 'The user needs the ConfigureComponents privilege (Operator role) for power control.' });
    return new DeviceReplyError(this.id, `${at}: HTTP ${r.status}${detail ? `: ${detail}` : ''}`, { hint: 'See the BMC’s Redfish documentation; the request changed nothing it confirmed.' });
  }
}

interface SystemView {
  readonly path: string;
  readonly model: string | undefined;
  readonly resetTarget: string;
  readonly resetTypes: readonly string[];
}

async function findSystem(client: RedfishClient, spec: Spec, signal: AbortSignal): Promise<SystemView> {
  let path = spec.system;
  if (!path) {
    const col = await client.request('GET', '/redfish/v1/Systems', signal);
    const members = (col.body.Members as { '@odata.id': string }[] | undefined) ?? [];
    if (members.length === 0) throw new DeviceReplyError(client.id, `${client.id}: the BMC lists no ComputerSystem`, { hint: 'Set system = its path.' });
    path = members[0]!['@odata.id'];
  }
  const sys = await client.request('GET', path, signal);
  const reset = (sys.body.Actions as Record<string, { target?: string; 'ResetType@Redfish.AllowableValues'?: string[] }> | undefined)?.['#ComputerSystem.Reset'];
  if (!reset?.target) throw new DeviceReplyError(client.id, `${client.id}: ${path} has no ComputerSystem.Reset action`, { hint: 'This system cannot be switched through Redfish.' });
  return {
    path,
    model: typeof sys.body.Model === 'string' ? sys.body.Model : undefined,
    resetTarget: reset.target,
    // Not listing the values is allowed by the schema: then assume the common ones.
    resetTypes: reset['ResetType@Redfish.AllowableValues'] ?? ['On', 'ForceOff', 'GracefulShutdown', 'ForceRestart'],
  };
}

async function reset(client: RedfishClient, sys: SystemView, type: string, signal: AbortSignal): Promise<void> {
  if (!sys.resetTypes.includes(type))
    throw new DeviceRefusedError(client.id, `${client.id}: ${sys.path} does not offer ResetType ${type} (it offers ${sys.resetTypes.join(', ')})`, {
      hint: 'Nothing was sent.',
    });
  await client.request('POST', sys.resetTarget, signal, { ResetType: type });
}

export class RedfishSystem implements OutletDevice {
  readonly outletCount = 1;
  readonly #client: RedfishClient;
  readonly #spec: Spec;
  #sys: SystemView | null = null;

  constructor(
    readonly id: string,
    spec: Spec,
    ctx: DriverContext,
  ) {
    this.#spec = spec;
    this.#client = new RedfishClient(id, spec, ctx);
  }

  get caps(): OutletDevice['caps'] {
    return {
      cycle: this.#sys?.resetTypes.includes('PowerCycle') ?? false,
      reset: this.#sys?.resetTypes.includes('ForceRestart') ?? true,
      metering: false,
      bulkRead: false,
      readBack: 'real',
      maxConcurrency: 1,
    };
  }

  async open(signal: AbortSignal): Promise<void> {
    this.#sys = await findSystem(this.#client, this.#spec, signal);
  }

  #check(outlets: readonly number[]): void {
    for (const n of outlets) if (n !== 1) throw new UnknownOutletError(this.id, n, 1);
  }

  async read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>> {
    this.#check(outlets);
    if (outlets.length === 0) return new Map();
    this.#sys ??= await findSystem(this.#client, this.#spec, signal);
    const r = await this.#client.request('GET', this.#sys.path, signal);
    const p = r.body.PowerState;
    return new Map([[1, p === 'On' ? 'on' : p === 'Off' ? 'off' : p === 'PoweringOn' || p === 'PoweringOff' ? 'switching' : 'unknown']]);
  }

  async switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    this.#check([outlet]);
    this.#sys ??= await findSystem(this.#client, this.#spec, signal);
    const type = { on: 'On', off: 'ForceOff', cycle: 'PowerCycle', reset: 'ForceRestart' }[action];
    await reset(this.#client, this.#sys, type, signal);
  }

  info(): DeviceInfo {
    return { ...(this.#sys?.model && { model: this.#sys.model }), details: { system: this.#sys?.path ?? '?', resetTypes: this.#sys?.resetTypes.join(', ') ?? '?' } };
  }

  async close(): Promise<void> {
    await this.#client.logout();
  }
}

/** `redfish-graceful`: ResetType GracefulShutdown through the BMC (the OS shuts down cleanly). */
export class RedfishGraceful implements Controller {
  readonly #client: RedfishClient;
  readonly #spec: Spec;
  constructor(
    readonly id: string,
    spec: Spec,
    ctx: DriverContext,
  ) {
    this.#spec = spec;
    this.#client = new RedfishClient(id, spec, ctx);
  }
  async shutdown(signal: AbortSignal): Promise<void> {
    try {
      const sys = await findSystem(this.#client, this.#spec, signal);
      await reset(this.#client, sys, 'GracefulShutdown', signal);
    } catch (err) {
      throw asControlError(err);
    } finally {
      await this.#client.logout();
    }
  }
  async close(): Promise<void> {
    await this.#client.logout();
  }
}


export const redfishDriver = defineDriver({
  ...redfishSketch,
  create: (spec, ctx) => new RedfishSystem(ctx.id, spec, ctx),
});

export const redfishGracefulDriver = defineDriver({
  ...redfishGracefulSketch,
  create: (spec, ctx) => new RedfishGraceful(ctx.id, spec, ctx),
});
