/**
 * One plain HTTP request to a smart plug on the local network, its body parsed as JSON. Shared by
 * the `tasmota` and `shelly` drivers. Errors name the device, the address and the path without
 * its query (Tasmota's password travels in the query), and are typed: no answer or refused
 * connection is unreachable, a body that is not JSON is a reply error.
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import { DeviceReplyError, DeviceUnreachableError, OperationAbortedError, OperationTimeoutError } from '../../src/errors.js';

export interface PlugReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The raw body text. */
  readonly text: string;
}

export interface PlugTarget {
  /** Device id, for messages. */
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
}

/**
 * Sends one request and resolves with status, headers and body, whatever the status. `shown` is
 * what messages call the request (never the query).
 */
export function plugRequest(
  t: PlugTarget,
  o: { method: 'GET' | 'POST'; path: string; shown: string; headers?: Record<string, string>; body?: string },
  signal: AbortSignal,
): Promise<PlugReply> {
  if (signal.aborted) return Promise.reject(new OperationAbortedError());
  const at = `${t.id}: ${o.shown} (${t.host}:${t.port})`;
  return new Promise<PlugReply>((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'application/json', ...o.headers };
    if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(o.body));
    }
    const req = request({ host: t.host, port: t.port, method: o.method, path: o.path, headers, signal, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
      });
      res.on('error', fail);
    });
    // One limit for the whole exchange: a plug that accepts and never answers is caught too.
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }));
    }, t.timeoutMs);
    function fail(e: NodeJS.ErrnoException): void {
      clearTimeout(timer);
      if (signal.aborted) return reject(new OperationAbortedError());
      if (e.code === 'ETIMEDOUT')
        return reject(new OperationTimeoutError(t.id, `${at}: no answer within ${t.timeoutMs} ms`, { hint: 'Check that the plug is powered and on the network (its web page answers).' }));
      reject(
        new DeviceUnreachableError(t.id, `${at}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : (e.code ?? e.message)}`, {
          hint: 'Check host and port, and that the plug’s web server is enabled.',
        }),
      );
    }
    req.on('error', fail);
    req.end(o.body);
  });
}

/** The body as a JSON object, or a reply error quoting its start. */
export function parseObject(t: PlugTarget, shown: string, r: PlugReply): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(r.text);
  } catch {
    v = undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new DeviceReplyError(t.id, `${t.id}: ${shown} (${t.host}:${t.port}) answered HTTP ${r.status} with a body that is not a JSON object: ${JSON.stringify(r.text.slice(0, 60))}`, {
      hint: 'Is this the right kind of plug (type =) and firmware? Nothing was assumed from the answer.',
    });
  return v as Record<string, unknown>;
}

/** A finite number, or undefined. */
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
