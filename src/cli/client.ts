/**
 * How the CLI finds and talks to the daemon: URL and token from flags, environment, or the
 * config directory (its state dir holds the daemon's api.json and local token). Tokens are
 * never taken from argv.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ini from 'ini';
import { API_INFO_FILE, LOCAL_TOKEN_FILE, resolveStateDir, type ApiInfo } from '../config/paths.js';
import { OckleError, type ErrorCode } from '../errors.js';

export interface ClientSettings {
  readonly url: string;
  readonly token: string | undefined;
}

export function resolveClient(o: { configDir: string; url?: string; tokenFile?: string; env: NodeJS.ProcessEnv }): ClientSettings {
  let main: { daemon?: { state_dir?: string }; api?: { listen?: string; port?: string | number } } = {};
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
      url = `http://${host.includes(':') ? `[${host}]` : host}:${String(main.api?.port ?? 8420)}`;
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
  return { url: url.replace(/\/$/, ''), token: token || undefined };
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
      res = await httpRequest(`${this.s.url}${path}`, {
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
      if (signal?.aborted) throw err;
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
    let res: Response;
    try {
      res = await fetch(`${this.s.url}/api/events${types ? `?types=${encodeURIComponent(types)}` : ''}`, {
        headers: { 'x-ockle-client': 'cli', ...(this.s.token && { authorization: `Bearer ${this.s.token}` }) },
        signal,
      });
    } catch (err) {
      if (signal.aborted) return;
      throw new OckleError('OCKLE_DAEMON_UNREACHABLE', `cannot reach the ockle daemon at ${this.s.url} (${(err as { cause?: { code?: string } }).cause?.code ?? 'error'}).`, {
        hint: 'Start it with `npm start` or `systemctl start ockle`, or pass --url.',
      });
    }
    if (!res.ok || !res.body) {
      const e = ((await res.json().catch(() => ({}))) as { error?: { code?: ErrorCode; message?: string } }).error;
      throw new OckleError(e?.code ?? 'OCKLE_INTERNAL_ERROR', e?.message ?? `HTTP ${res.status}`);
    }
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
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
        hint: 'It stopped or restarted; run `ockle watch` again once it is back.',
        cause: err,
      });
    }
    if (!signal.aborted)
      throw new OckleError('OCKLE_DAEMON_UNREACHABLE', `the ockle daemon at ${this.s.url} closed the event stream.`, {
        hint: 'It stopped or restarted; run `ockle watch` again once it is back.',
      });
  }
}

/** A request with node:http(s); resolves with the status and the whole body as text. */
async function httpRequest(url: string, o: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method: o.method, headers: { ...o.headers, ...(o.body !== undefined && { 'content-length': String(Buffer.byteLength(o.body)) }) }, ...(o.signal && { signal: o.signal }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}
