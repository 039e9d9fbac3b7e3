/**
 * Failed authentication per client address: counted, logged and throttled. An address that
 * fails `limit` times within `windowMs` gets 429 with Retry-After for its further failures
 * until the window ends. Only failures are throttled: a request with a valid token is never
 * slowed or refused here, so an operator behind the same address as a misconfigured script
 * keeps working. (A token is 256 random bits: the throttle is against log floods and wasted
 * work, not a guess that could succeed.)
 *
 * The log gets one line per failure up to the limit (address, reason, route; never the token),
 * then one line when the address is throttled, and the count of failures it suppressed when the
 * window ends; the counters go to GET /api/metrics.
 */
import type { Logger } from 'pino';
import { OckleError } from '../errors.js';

export type AuthFailureReason = 'no token' | 'invalid token' | 'malformed header';

interface Window {
  start: number;
  failures: number;
  /** Failures refused with 429 (and not logged one by one) in this window. */
  throttled: number;
}

/** At most this many addresses are tracked; the oldest window goes first (a spray of addresses cannot grow the map without bound). */
const MAX_ADDRESSES = 10_000;

export class AuthThrottle {
  readonly #windows = new Map<string, Window>();
  readonly #now: () => number;
  readonly #log: Logger;
  #limit: number;
  #windowMs: number;
  /** Failures by reason since the start, and failures answered 429. */
  readonly failures = new Map<AuthFailureReason, number>();
  throttledTotal = 0;

  constructor(o: { limit: number; windowMs: number; log: Logger; now?: () => number }) {
    this.#limit = o.limit;
    this.#windowMs = o.windowMs;
    this.#log = o.log;
    this.#now = o.now ?? Date.now;
  }

  /** New limits (a reload); windows under way keep their counts. */
  configure(limit: number, windowMs: number): void {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  /**
   * Records a failed authentication from `address`.
   * @throws OckleError OCKLE_AUTH_THROTTLED (429, with `retryAfter` seconds) once the address
   * is over the limit; otherwise returns and the caller answers 401 as usual.
   */
  failed(address: string, reason: AuthFailureReason, route: string): void {
    const now = this.#now();
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
    let w = this.#windows.get(address);
    if (w && now - w.start >= this.#windowMs) {
      this.#closeWindow(address, w);
      w = undefined;
    }
    if (!w) {
      if (this.#windows.size >= MAX_ADDRESSES) {
        const [oldest, ow] = this.#windows.entries().next().value as [string, Window];
        this.#closeWindow(oldest, ow);
      }
      w = { start: now, failures: 0, throttled: 0 };
      this.#windows.set(address, w);
    }
    w.failures++;
    if (w.failures <= this.#limit) {
      this.#log.warn({ address, reason, route }, 'authentication failed');
      return;
    }
    w.throttled++;
    this.throttledTotal++;
    if (w.throttled === 1)
      this.#log.warn({ address, failures: this.#limit, windowMs: this.#windowMs }, 'authentication failures throttled: further failures from this address get 429 until the window ends');
    const retryAfter = Math.max(1, Math.ceil((w.start + this.#windowMs - now) / 1000));
    throw Object.assign(
      new OckleError('OCKLE_AUTH_THROTTLED', `too many failed authentications from ${address}: ${this.#limit} within ${Math.round(this.#windowMs / 1000)} s`, {
        hint: `Wait ${retryAfter} s (Retry-After) and send a valid token; a valid token is never throttled.`,
      }),
      { retryAfter },
    );
  }

  #closeWindow(address: string, w: Window): void {
    this.#windows.delete(address);
    if (w.throttled > 0) this.#log.warn({ address, throttled: w.throttled, failures: w.failures }, 'authentication throttle window ended');
  }

  /** The counters in the Prometheus text format (version 0.0.4). */
  metrics(): string {
    const reasons: AuthFailureReason[] = ['no token', 'invalid token', 'malformed header'];
    return [
      '# HELP ockle_api_auth_failures_total Requests to the API refused for a missing, invalid or malformed bearer token, by reason.',
      '# TYPE ockle_api_auth_failures_total counter',
      ...reasons.map((r) => `ockle_api_auth_failures_total{reason="${r}"} ${this.failures.get(r) ?? 0}`),
      '# HELP ockle_api_auth_throttled_total Failed authentications answered 429 because their address was over [api] auth_failures.',
      '# TYPE ockle_api_auth_throttled_total counter',
      `ockle_api_auth_throttled_total ${this.throttledTotal}`,
      '# HELP ockle_api_auth_throttled_addresses Client addresses throttled now.',
      '# TYPE ockle_api_auth_throttled_addresses gauge',
      `ockle_api_auth_throttled_addresses ${this.#throttledNow()}`,
      '',
    ].join('\n');
  }

  /** The counters as numbers (the metrics plugin's view). */
  counts(): { failures: Record<string, number>; throttledTotal: number; throttledAddresses: number } {
    const reasons: AuthFailureReason[] = ['no token', 'invalid token', 'malformed header'];
    return { failures: Object.fromEntries(reasons.map((r) => [r, this.failures.get(r) ?? 0])), throttledTotal: this.throttledTotal, throttledAddresses: this.#throttledNow() };
  }

  #throttledNow(): number {
    const now = this.#now();
    let n = 0;
    for (const w of this.#windows.values()) if (w.failures > this.#limit && now - w.start < this.#windowMs) n++;
    return n;
  }
}
