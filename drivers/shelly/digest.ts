/**
 * HTTP Digest authentication (RFC 7616) with SHA-256 and qop=auth, the way Shelly Gen2+ devices
 * ask for it: a 401 carries `WWW-Authenticate: Digest qop="auth", realm="<device id>",
 * nonce="…", algorithm=SHA-256`; the user is always `admin`. The challenge is kept and reused
 * with a growing nonce count, so a request costs one round trip until the device asks again.
 */
import { createHash, randomBytes } from 'node:crypto';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

export interface Challenge {
  readonly realm: string;
  readonly nonce: string;
  readonly qop: string | undefined;
  readonly algorithm: string;
  readonly opaque: string | undefined;
}

/** Parses a `WWW-Authenticate: Digest …` header; null when it is absent or not Digest. */
export function parseChallenge(header: string | undefined): Challenge | null {
  if (!header || !/^\s*Digest\s/i.test(header)) return null;
  const params = new Map<string, string>();
  const re = /(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(header)) !== null) params.set(m[1]!.toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  if (realm === undefined || nonce === undefined) return null;
  return { realm, nonce, qop: params.get('qop'), algorithm: params.get('algorithm') ?? 'MD5', opaque: params.get('opaque') };
}

/** Builds Authorization headers from one challenge, counting nonce uses. */
export class DigestSession {
  readonly #user: string;
  readonly #password: () => string;
  #challenge: Challenge | null = null;
  #nc = 0;

  constructor(user: string, password: () => string) {
    this.#user = user;
    this.#password = password;
  }

  get ready(): boolean {
    return this.#challenge !== null;
  }

  /** Takes a new challenge; false when it is not one this client can answer (not SHA-256). */
  accept(c: Challenge): boolean {
    if (c.algorithm.toUpperCase() !== 'SHA-256') return false;
    this.#challenge = c;
    this.#nc = 0;
    return true;
  }

  forget(): void {
    this.#challenge = null;
  }

  /** The Authorization header for `method uri` under the current challenge. */
  header(method: string, uri: string): string {
    const c = this.#challenge!;
    const ha1 = sha256(`${this.#user}:${c.realm}:${this.#password()}`);
    const ha2 = sha256(`${method}:${uri}`);
    const fields: [string, string, boolean][] = [
      ['username', this.#user, true],
      ['realm', c.realm, true],
      ['nonce', c.nonce, true],
      ['uri', uri, true],
      ['algorithm', 'SHA-256', false],
    ];
    if (c.qop && c.qop.split(',').map((q) => q.trim()).includes('auth')) {
      const nc = (++this.#nc).toString(16).padStart(8, '0');
      const cnonce = randomBytes(8).toString('hex');
      fields.push(['qop', 'auth', false], ['nc', nc, false], ['cnonce', cnonce, true], ['response', sha256(`${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${ha2}`), true]);
    } else fields.push(['response', sha256(`${ha1}:${c.nonce}:${ha2}`), true]);
    if (c.opaque !== undefined) fields.push(['opaque', c.opaque, true]);
    return `Digest ${fields.map(([k, v, q]) => (q ? `${k}="${v.replace(/(["\\])/g, '\\$1')}"` : `${k}=${v}`)).join(', ')}`;
  }
}
