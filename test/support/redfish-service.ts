/**
 * A small Redfish service for tests, written after the DMTF schema: ServiceRoot → Systems →
 * ComputerSystem with PowerState and the ComputerSystem.Reset action, SessionService sessions
 * (X-Auth-Token) and basic auth, over HTTPS with a throwaway self-signed certificate (made
 * with openssl). Knobs: the ResetTypes offered, expiring every session.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedfishService {
  readonly url: string;
  readonly user: string;
  readonly password: string;
  /** PEM of the self-signed certificate (its own CA). */
  readonly certFile: string;
  readonly fingerprint: string;
  power: 'On' | 'Off';
  resetTypes: string[];
  /** ResetTypes posted, in order. */
  readonly resets: string[];
  /** Sessions ever created, and logged out. */
  sessionsCreated: number;
  sessionsDeleted: number;
  expireSessions(): void;
  stop(): Promise<void>;
}

export async function startRedfish(o: { power?: 'On' | 'Off'; resetTypes?: string[] } = {}): Promise<RedfishService> {
  const dir = mkdtempSync(join(tmpdir(), 'ockle-redfish-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'cert.pem'));
  const user = 'ockle';
  const password = 'redfish-pass-1';
  const tokens = new Map<string, string>(); // token → session path
  let nextSession = 1;
  const state: Omit<RedfishService, 'url' | 'stop' | 'expireSessions'> = {
    user,
    password,
    certFile: join(dir, 'cert.pem'),
    fingerprint: new X509Certificate(cert).fingerprint256,
    power: o.power ?? 'On',
    resetTypes: o.resetTypes ?? ['On', 'ForceOff', 'GracefulShutdown', 'ForceRestart', 'PowerCycle'],
    resets: [],
    sessionsCreated: 0,
    sessionsDeleted: 0,
  };
  const json = (res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'odata-version': '4.0', ...headers });
    res.end(body === undefined ? '' : JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, id: string, message: string): void =>
    json(res, status, { error: { code: `Base.1.8.${id}`, message, '@Message.ExtendedInfo': [{ MessageId: `Base.1.8.${id}`, Message: message }] } });
  const authed = (req: IncomingMessage): boolean => {
    const t = req.headers['x-auth-token'];
    if (typeof t === 'string' && tokens.has(t)) return true;
    const b = req.headers.authorization;
    return typeof b === 'string' && b === `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  };
  const system = (): unknown => ({
    '@odata.id': '/redfish/v1/Systems/1',
    '@odata.type': '#ComputerSystem.v1_13_0.ComputerSystem',
    Id: '1',
    Name: 'Test System',
    Model: 'ockle test server',
    PowerState: state.power,
    Actions: {
      '#ComputerSystem.Reset': { target: '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset', 'ResetType@Redfish.AllowableValues': state.resetTypes },
    },
  });
  const server: Server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const path = (req.url ?? '/').replace(/\/$/, '') || '/';
      let body: Record<string, unknown> = {};
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        return error(res, 400, 'MalformedJSON', 'The request body is not JSON.');
      }
      if (req.method === 'GET' && path === '/redfish') return json(res, 200, { v1: '/redfish/v1/' });
      if (req.method === 'GET' && path === '/redfish/v1')
        return json(res, 200, {
          '@odata.id': '/redfish/v1',
          '@odata.type': '#ServiceRoot.v1_5_0.ServiceRoot',
          Id: 'RootService',
          Name: 'Root Service',
          RedfishVersion: '1.6.0',
          Systems: { '@odata.id': '/redfish/v1/Systems' },
          SessionService: { '@odata.id': '/redfish/v1/SessionService' },
          Links: { Sessions: { '@odata.id': '/redfish/v1/SessionService/Sessions' } },
        });
      if (req.method === 'POST' && path === '/redfish/v1/SessionService/Sessions') {
        if (body.UserName !== user || body.Password !== password) return error(res, 401, 'NoValidSession', 'Invalid user name or password.');
        const token = `tok-${Math.random().toString(36).slice(2)}`;
        const loc = `/redfish/v1/SessionService/Sessions/${nextSession++}`;
        tokens.set(token, loc);
        state.sessionsCreated++;
        return json(res, 201, { '@odata.id': loc, Id: loc.split('/').at(-1), UserName: user }, { 'x-auth-token': token, location: loc });
      }
      if (!authed(req)) return error(res, 401, 'NoValidSession', 'There is no valid session established with the implementation.');
      if (req.method === 'GET' && path === '/redfish/v1/SessionService')
        return json(res, 200, { '@odata.id': '/redfish/v1/SessionService', Id: 'SessionService', Sessions: { '@odata.id': '/redfish/v1/SessionService/Sessions' } });
      if (req.method === 'DELETE' && path.startsWith('/redfish/v1/SessionService/Sessions/')) {
        for (const [t, p] of tokens) if (p === path) tokens.delete(t);
        state.sessionsDeleted++;
        return json(res, 204);
      }
      if (req.method === 'GET' && path === '/redfish/v1/Systems')
        return json(res, 200, { '@odata.id': '/redfish/v1/Systems', Name: 'Computer System Collection', Members: [{ '@odata.id': '/redfish/v1/Systems/1' }], 'Members@odata.count': 1 });
      if (req.method === 'GET' && path === '/redfish/v1/Systems/1') return json(res, 200, system());
      if (req.method === 'POST' && path === '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset') {
        const t = body.ResetType;
        if (typeof t !== 'string' || !state.resetTypes.includes(t)) return error(res, 400, 'ActionParameterNotSupported', `The parameter ResetType for the action ComputerSystem.Reset is not supported on the target resource.`);
        state.resets.push(t);
        if (t === 'On') state.power = 'On';
        else if (t === 'ForceOff' || t === 'GracefulShutdown') state.power = 'Off';
        else state.power = 'On'; // restarts and cycles end powered
        return json(res, 204);
      }
      return error(res, 404, 'ResourceMissingAtURI', `The resource at the URI ${path} was not found.`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return Object.assign(state, {
    url: `https://127.0.0.1:${port}`,
    expireSessions: () => tokens.clear(),
    stop: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  }) as RedfishService;
}
