/**
 * The dashboard's link to the daemon: JSON requests with the bearer token, and the event
 * stream read with fetch (EventSource cannot send an Authorization header, and the token must
 * never go into a URL). The token lives in sessionStorage, or localStorage when the user asks to
 * be remembered on this device.
 */
import type { EventName } from '../core/model.js';

const KEY = 'ockle.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
    /** The whole error object of the answer (a config error's `problems`, a conflict's `diff`). */
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function savedToken(): string | null {
  return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY);
}
export function saveToken(token: string, remember: boolean): void {
  forgetToken();
  (remember ? localStorage : sessionStorage).setItem(KEY, token);
}
export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

let token: string | null = savedToken();
export const setToken = (t: string | null): void => void (token = t);

/** Called when the daemon no longer accepts the token (revoked by a config reload). */
let unauthorized: () => void = () => {};
export const onUnauthorized = (fn: () => void): void => void (unauthorized = fn);

export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
      'x-ockle-client': 'web',
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const data = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string; hint?: string } & Record<string, unknown> };
  if (res.status === 401 && token) unauthorized();
  if (!res.ok) throw new ApiError(res.status, data.error?.code ?? `HTTP_${res.status}`, data.error?.message ?? res.statusText, data.error?.hint, data.error ?? {});
  return data as T;
}

/**
 * The events the dashboard follows: all of them, device.metered included (the stream leaves it
 * out unless asked for by name; the Devices view shows live readings). `satisfies` keeps the list
 * in step with the daemon's events: a name missing or unknown does not compile.
 */
const FOLLOWED = {
  'server.changed': true,
  'outlet.changed': true,
  'test.changed': true,
  'device.unreachable': true,
  'device.reachable': true,
  'device.metered': true,
  'action.started': true,
  'action.progressed': true,
  'action.progress': true,
  'action.finished': true,
  'config.reloaded': true,
  'plugin.changed': true,
  'ups.changed': true,
  'ups.stage': true,
  'remote.changed': true,
  'remote.request': true,
} as const satisfies Record<EventName, true>;
const EVENTS_URL = `/api/events?types=${Object.keys(FOLLOWED).join(',')}`;

export interface StreamEvent {
  readonly event: string;
  readonly data: unknown;
}

/**
 * Reads /api/events until `signal` aborts; reconnects after a drop with a growing pause and
 * calls `onOpen` on each (re)connection so the caller can re-read what it may have missed.
 */
export async function streamEvents(onEvent: (e: StreamEvent) => void, onOpen: () => void, onDown: (why: string) => void, signal: AbortSignal): Promise<void> {
  let pause = 500;
  while (!signal.aborted) {
    try {
      const res = await fetch(EVENTS_URL, { headers: { ...(token && { authorization: `Bearer ${token}` }), accept: 'text/event-stream' }, signal });
      if (res.status === 401) return unauthorized();
      if (!res.ok || !res.body) throw new Error(`event stream: HTTP ${res.status}`);
      pause = 500;
      onOpen();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut: number;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
          }
          if (data.length) {
            try {
              onEvent({ event, data: JSON.parse(data.join('\n')) });
            } catch {
              /* a malformed event is skipped */
            }
          }
        }
      }
      if (!signal.aborted) onDown('the event stream closed');
    } catch (err) {
      if (signal.aborted) return;
      onDown((err as Error).message);
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 10_000);
  }
}
