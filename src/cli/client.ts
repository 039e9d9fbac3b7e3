/**
 * How the CLI finds and talks to the daemon: URL and token from flags, environment, or the
 * config directory (its state dir holds the daemon's api.json and local token). Tokens are
 * never taken from argv.
 *
 * Over HTTPS the daemon's certificate is trusted when the system trusts it for the URL's host,
 * or when its SHA-256 fingerprint is the one pinned: $OCKLE_FINGERPRINT, or the api-cert.sha256
 * file beside the token (the daemon writes it into its state dir). Verification is never turned
 * off: a certificate that is neither is refused before a byte of the request (or the token) is
 * sent.
 */
import type { IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import ini from 'ini';
import { API_INFO_FILE, LOCAL_TOKEN_FILE, resolveStateDir, type ApiInfo } from '../config/paths.js';
import { OckleError, type ErrorCode } from '../errors.js';
import { FINGERPRINT_FILE } from '../api/tls.js';

export interface ClientSettings {
  readonly url: string;
  readonly token: string | undefined;
  /** The pinned SHA-256 fingerprint of the API's certificate, `AB:CD:…` (upper case, colons). */
  readonly fingerprint?: string | undefined;
}

/** A fingerprint as written by hand or by openssl (any case, with or without colons) in the form Node reports it. */
export function normalizeFingerprint(s: string): string | undefined {
  const hex = s.trim().replace(/^sha256( fingerprint)?=/i, '').replace(/:/g, '').toUpperCase();
  return /^[0-9A-F]{64}$/.test(hex) ? hex.replace(/(..)(?!$)/g, '$1:') : undefined;
}

export function resolveClient(o: { configDir: string; url?: string; tokenFile?: string; env: NodeJS.ProcessEnv }): ClientSettings {
  let main: { daemon?: { state_dir?: string }; api?: { listen?: string; port?: string | number; tls?: string; tls_cert?: string } } = {};
  try {
    main = ini.decode(readFileSync(join(o.configDir, 'ockle.ini'), 'utf8')) as typeof main;
  } catch {
    // no config here: only flags and environment count
  }
  const stateDir = resolveStateDir(o.configDir, String(main.daemon?.state_dir ?? ''), o.env);
  let url = o.url ?? o.env.OCKLE_URL;
  if (!url) {
    try {
      url = (JSON.parse(readFileSync(join(stateDir, API_INFO_FILE), 'utf8')) as ApiInfo).url;
    } catch {
      const host = String(main.api?.listen ?? '127.0.0.1');
      const tls = (main.api?.tls ?? (main.api?.tls_cert ? 'files' : 'off')) !== 'off';
      url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${String(main.api?.port ?? 8420)}`;
    }
  }
  let token = o.env.OCKLE_TOKEN;
  const file = o.tokenFile ?? (token ? undefined : join(stateDir, LOCAL_TOKEN_FILE));
  if (!token && file) {
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      if (o.tokenFile) throw new OckleError('OCKLE_REQUEST_INVALID', `cannot read token file ${o.tokenFile} (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  let pinned = o.env.OCKLE_FINGERPRINT;
  if (pinned === undefined) {
    try {
      pinned = readFileSync(join(o.tokenFile ? dirname(o.tokenFile) : stateDir, FINGERPRINT_FILE), 'utf8');
    } catch {
      // none pinned: only a certificate the system trusts is accepted
    }
  }
  const fingerprint = pinned === undefined ? undefined : normalizeFingerprint(pinned);
  if (pinned !== undefined && fingerprint === undefined && o.env.OCKLE_FINGERPRINT !== undefined)
    throw new OckleError('OCKLE_REQUEST_INVALID', 'OCKLE_FINGERPRINT is not a SHA-256 fingerprint', { hint: 'Set it to the 64 hex digits `ockle api fingerprint` prints on the gateway (colons optional).' });
  return { url: url.replace(/\/$/, ''), token: token || undefined, ...(fingerprint && { fingerprint }) };
}

export class Client {
  constructor(readonly s: ClientSettings) {}

  /**
   * One request through node:http (or https), not fetch: loading fetch's implementation costs
   * about 150 ms, more than the rest of `ockle status` together.
   */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    let res: { status: number; text: string };
    try {
      res = await httpRequest(`${this.s.url}${path}`, this.s.fingerprint, {
        method,
        headers: {
          'x-ockle-client': 'cli',
          ...(this.s.token && { authorization: `Bearer ${this.s.token}` }),
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        ...(signal && { signal }),
      });
    } catch (err) {
      if (signal?.aborted || err instanceof OckleError) throw err;
      const cause = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new OckleError('OCKLE_DAEMON_UNREACHABLE', `cannot reach the ockle daemon at ${this.s.url} (${cause}).`, {
        hint: 'Start it with `npm start` or `systemctl start ockle`, or pass --url.',
      });
    }
    const text = res.text;
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      throw new OckleError('OCKLE_INTERNAL_ERROR', `the daemon answered ${res.status} with something that is not JSON`);
    }
    if (res.status < 200 || res.status >= 300) {
      const e = (data as { error?: { code?: string; message?: string; hint?: string } } | undefined)?.error;
      throw new OckleError((e?.code as ErrorCode | undefined) ?? 'OCKLE_INTERNAL_ERROR', e?.message ?? `HTTP ${res.status}`, {
        ...(e?.hint && { hint: e.hint }),
      });
    }
    return data as T;
  }

  /** Opens the SSE stream; yields `{event, data}` until the signal aborts. */
  async *events(types: string | undefined, signal: AbortSignal): AsyncGenerator<{ event: string; data: unknown }> {
    let res: IncomingMessage;
    try {
      res = await open(`${this.s.url}/api/events${types ? `?types=${encodeURIComponent(types)}` : ''}`, this.s.fingerprint, {
        method: 'GET',
        headers: { 'x-ockle-client': 'cli', accept: 'text/event-stream', ...(this.s.token && { authorization: `Bearer ${this.s.token}` }) },
        signal,
      });
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof OckleError) throw err;
      throw new OckleError('OCKLE_DAEMON_UNREACHABLE', `cannot reach the ockle daemon at ${this.s.url} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`, {
        hint: 'Start it with `npm start` or `systemctl start ockle`, or pass --url.',
      });
    }
    if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) {
      const text = await readAll(res).catch(() => '');
      let e: { code?: ErrorCode; message?: string } | undefined;
      try {
        e = (JSON.parse(text) as { error?: { code?: ErrorCode; message?: string } }).error;
      } catch {
        // not JSON: the status says enough
      }
      throw new OckleError(e?.code ?? 'OCKLE_INTERNAL_ERROR', e?.message ?? `HTTP ${res.statusCode}`);
    }
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) yield { event, data: JSON.parse(data) as unknown };
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw new OckleError('OCKLE_DAEMON_UNREACHABLE', `the ockle daemon at ${this.s.url} closed the event stream (${(err as Error).message}).`, {
        hint: 'It stopped or restarted, or it closed a stream that was not read for a while (over 1 MiB of events waiting): run `ockle watch` again.',
        cause: err,
      });
    }
    if (!signal.aborted)
      throw new OckleError('OCKLE_DAEMON_UNREACHABLE', `the ockle daemon at ${this.s.url} closed the event stream.`, {
        hint: 'It stopped or restarted, or it closed a stream that was not read for a while (over 1 MiB of events waiting): run `ockle watch` again.',
      });
  }
}

interface RequestOptions {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** A request with node:http(s); resolves with the status and the whole body as text. */
async function httpRequest(url: string, fingerprint: string | undefined, o: RequestOptions): Promise<{ status: number; text: string }> {
  const res = await open(url, fingerprint, o);
  return { status: res.statusCode ?? 0, text: await readAll(res) };
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

/**
 * Sends a request and resolves with the response as it starts. Over HTTPS the TLS connection is
 * made and its certificate checked first (trustedSocket), then the request goes over it.
 */
async function open(url: string, fingerprint: string | undefined, o: RequestOptions): Promise<IncomingMessage> {
  const u = new URL(url);
  const http = await import('node:http');
  const socket = u.protocol === 'https:' ? await trustedSocket(u, fingerprint, o.signal) : undefined;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        // Host, port and path, not the URL: http.request refuses an https: URL, and the TLS
        // socket below is already made.
        host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: u.port || (socket ? 443 : 80),
        path: `${u.pathname}${u.search}`,
        method: o.method,
        headers: { ...o.headers, ...(o.body !== undefined && { 'content-length': String(Buffer.byteLength(o.body)) }) },
        ...(o.signal && { signal: o.signal }),
        ...(socket && { createConnection: () => socket }),
      },
      resolve,
    );
    req.on('error', (err) => {
      socket?.destroy();
      reject(err);
    });
    req.end(o.body);
  });
}

/**
 * A TLS connection to `u` whose certificate the system trusts for its host, or whose SHA-256
 * fingerprint is `pinned`. Anything else is closed before the request is written.
 * @throws OckleError OCKLE_TLS_UNTRUSTED naming the fingerprint seen
 */
async function trustedSocket(u: URL, pinned: string | undefined, signal?: AbortSignal): Promise<TLSSocket> {
  const tls = await import('node:tls');
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const socket = tls.connect({
    host,
    port: Number(u.port || 443),
    ...(isIP(host) === 0 && { servername: host }),
    // The chain and host name are still checked (socket.authorized says how it went); the
    // decision is taken below, before anything is written, so a pinned self-signed
    // certificate can be accepted and nothing else.
    rejectUnauthorized: false,
    ALPNProtocols: ['http/1.1'],
  });
  const abort = (): void => void socket.destroy(new Error('aborted'));
  signal?.addEventListener('abort', abort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
  } finally {
    signal?.removeEventListener('abort', abort);
  }
  if (socket.authorized) return socket;
  const seen = socket.getPeerX509Certificate()?.fingerprint256;
  if (pinned !== undefined && seen === pinned) return socket;
  socket.destroy();
  throw new OckleError(
    'OCKLE_TLS_UNTRUSTED',
    pinned === undefined
      ? `the API at ${u.origin} presents a certificate the system does not trust (${String(socket.authorizationError)}), SHA-256 ${seen}, and no fingerprint is pinned`
      : `the API at ${u.origin} presents a certificate with SHA-256 ${seen}, not the pinned ${pinned}`,
    {
      hint: 'Run `ockle api fingerprint` on the gateway and compare. If it is the gateway’s, set OCKLE_FINGERPRINT to it (or write it to api-cert.sha256 beside your token file); if not, someone is in between.',
    },
  );
}
