/**
 * What every request to the API and the dashboard passes before its route runs:
 *
 * - its `Host` must name this gateway (loopback, the listen address, an address of this
 *   machine when it listens on all of them, its host name (and NAME.local) or a configured name). A page on
 *   attacker.example whose name is made to resolve to the gateway (DNS rebinding) sends
 *   `Host: attacker.example` and is refused with 421 before it can read anything.
 * - a request that changes state (anything but GET, HEAD, OPTIONS) must carry
 *   `Content-Type: application/json` or an `X-Ockle-Client` header, bodyless ones too. A page on
 *   another origin can send neither without a CORS preflight, which the API never grants, so
 *   a cross-site form or no-cors fetch cannot switch, edit or run a plugin command, whatever
 *   `anonymous_role` is.
 */
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { isLoopback } from '../config/api-exposure.js';
import { OckleError } from '../errors.js';
import { AuthThrottle } from './throttle.js';
import { localNames } from './tls.js';

/** The Host header's host part, lower case, brackets and port removed; null when it cannot be read. */
export function hostOf(header: string | undefined): string | null {
  if (!header) return null;
  const h = header.trim().toLowerCase();
  const m = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h) ?? /^([^:[\]\s/@]+)(?::\d{1,5})?$/.exec(h);
  if (!m) return null;
  const host = m[1]!.replace(/\.$/, '');
  return isIP(host) === 6 ? new URL(`http://[${host}]/`).hostname.slice(1, -1) : host;
}

/**
 * Which Host names this API answers to. Addresses are compared as addresses (`::1` and
 * `0:0::1` are one), names as lower-case strings.
 */
export class HostAllowList {
  readonly #names: ReadonlySet<string>;
  constructor(o: { listen: string; names: readonly string[] }) {
    const names = new Set<string>(localNames());
    const listen = hostOf(o.listen.includes(':') && !o.listen.startsWith('[') ? `[${o.listen}]` : o.listen) ?? '';
    if (listen === '0.0.0.0' || listen === '::' || listen === '') {
      // Listening on every address: each address of the machine is the listen address.
      for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) names.add(hostOf(i.family === 'IPv6' ? `[${i.address.split('%')[0]}]` : i.address) ?? '');
    } else names.add(listen);
    for (const n of o.names) names.add(hostOf(isIP(n) === 6 ? `[${n}]` : n) ?? n.toLowerCase());
    this.#names = names;
  }

  /** Whether a request with this Host header is for this gateway. */
  allows(header: string | undefined): boolean {
    const host = hostOf(header);
    if (host === null) return false;
    return isLoopback(host) || this.#names.has(host) || (host.endsWith('.localhost') && !host.includes('..'));
  }

  /** @throws OckleError OCKLE_API_HOST (421) for a Host this gateway does not answer to. */
  check(header: string | undefined): void {
    if (this.allows(header)) return;
    const shown = (header ?? '').slice(0, 100).replace(/[^\x20-\x7e]/g, '?');
    throw new OckleError('OCKLE_API_HOST', header ? `this gateway does not answer to the host "${shown}"` : 'the request has no Host header', {
      hint: 'Reach it by loopback, its address or a name listed in [api] names (add the name you use there, then reload).',
    });
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * @throws OckleError OCKLE_API_CROSS_SITE (403) for a state-changing request that a page on
 * another origin could have sent: neither a JSON content type nor an X-Ockle-Client header.
 */
export function checkNotCrossSite(method: string, headers: Readonly<Record<string, string | string[] | undefined>>): void {
  if (SAFE_METHODS.has(method)) return;
  const type = String(headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || headers['x-ockle-client'] !== undefined) return;
  throw new OckleError('OCKLE_API_CROSS_SITE', `${method} needs Content-Type: application/json or an X-Ockle-Client header${type ? ` (it has Content-Type: ${type.slice(0, 60)})` : ''}`, {
    hint: 'Send the body as JSON with Content-Type: application/json (also when there is no body), or add X-Ockle-Client: api. Browsers cannot send either from another site without permission.',
  });
}

/** Headers of every /api/* reply: never cached (tokens, states), never sniffed. */
export const API_HEADERS: Readonly<Record<string, string>> = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

/** The `[api]` keys the guard follows; a reload applies new names and limits at once. */
export interface GuardSettings {
  readonly listen: string;
  readonly names: readonly string[];
  readonly auth_failures: number;
  readonly auth_window: number;
}

/** The host allow-list and the failed-authentication throttle of one API, for the daemon's life. */
export class ApiGuard {
  hosts: HostAllowList;
  readonly throttle: AuthThrottle;
  constructor(settings: GuardSettings, log: Logger, now?: () => number) {
    this.hosts = new HostAllowList(settings);
    this.throttle = new AuthThrottle({ limit: settings.auth_failures, windowMs: settings.auth_window, log, ...(now && { now }) });
  }
  /** A reload: the names and limits of the new configuration (the listen address keeps until a restart). */
  configure(settings: GuardSettings): void {
    this.hosts = new HostAllowList(settings);
    this.throttle.configure(settings.auth_failures, settings.auth_window);
  }
}
