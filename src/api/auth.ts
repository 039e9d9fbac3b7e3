/**
 * Bearer-token auth with roles. Only SHA-256 hashes of tokens are held; a presented token is
 * hashed and compared in constant time against every stored hash.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { OckleError } from '../errors.js';

export type Role = 'viewer' | 'operator' | 'admin';
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export interface Principal {
  readonly name: string;
  readonly role: Role;
}

/** A new random token and its hash (the hash goes into config; the token to its user, once). */
export function generateToken(): { token: string; sha256: string } {
  const token = `ockle_${randomBytes(32).toString('base64url')}`;
  return { token, sha256: sha256Hex(token) };
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export class Auth {
  #tokens: { name: string; role: Role; hash: Buffer }[] = [];
  #local: { name: string; role: Role; hash: Buffer }[] = [];
  #anonymous: Role | null = null;
  readonly #listeners = new Set<() => void>();

  constructor(o: { tokens: readonly { name: string; role: Role; sha256: string }[]; anonymousRole: 'none' | 'viewer' }) {
    this.setTokens(o.tokens, o.anonymousRole);
  }

  /**
   * Replaces the configured tokens (a reload): a token removed from ockle.ini stops working at
   * once, and open event streams of its holder are told to re-check (`onChange`).
   */
  setTokens(tokens: readonly { name: string; role: Role; sha256: string }[], anonymousRole: 'none' | 'viewer'): void {
    this.#tokens = tokens.map((t) => ({ name: t.name, role: t.role, hash: Buffer.from(t.sha256, 'hex') }));
    this.#anonymous = anonymousRole === 'viewer' ? 'viewer' : null;
    for (const l of this.#listeners) l();
  }

  /** Calls `fn` whenever the tokens change; returns the unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => void this.#listeners.delete(fn);
  }

  /** The daemon's local admin token (its hash), for the CLI on this machine. Kept across reloads. */
  addLocalToken(name: string, sha256: string): void {
    this.#local.push({ name, role: 'admin', hash: Buffer.from(sha256, 'hex') });
  }

  /**
   * Who sent this `Authorization` header, checked against the role needed.
   * @throws OckleError OCKLE_AUTH_REQUIRED (no or unknown token) or OCKLE_AUTH_FORBIDDEN (role too low)
   */
  check(header: string | undefined, needed: Role): Principal {
    const principal = this.identify(header);
    if (!principal) {
      throw new OckleError('OCKLE_AUTH_REQUIRED', header ? 'the bearer token is not valid' : 'this request needs a bearer token');
    }
    if (RANK[principal.role] < RANK[needed]) {
      throw new OckleError('OCKLE_AUTH_FORBIDDEN', `"${principal.name}" has role ${principal.role}; this needs ${needed}`);
    }
    return principal;
  }

  /** @throws OckleError OCKLE_AUTH_FORBIDDEN when `who` ranks below `needed` (to `what`). */
  require(who: Principal, needed: Role, what: string): void {
    if (RANK[who.role] < RANK[needed]) throw new OckleError('OCKLE_AUTH_FORBIDDEN', `"${who.name}" has role ${who.role}; to ${what} needs ${needed}`);
  }

  identify(header: string | undefined): Principal | null {
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) return this.#anonymous ? { name: 'anonymous', role: this.#anonymous } : null;
    const h = createHash('sha256').update(m[1]!).digest();
    let found: Principal | null = null;
    // Compare against every hash, so timing does not tell which (or whether one) matched.
    for (const t of [...this.#tokens, ...this.#local]) if (timingSafeEqual(h, t.hash) && !found) found = { name: t.name, role: t.role };
    return found;
  }
}

/** Why a request that presented no usable token failed, for the log and the metrics (never the token). */
export function authFailureReason(header: string | undefined): 'no token' | 'invalid token' | 'malformed header' {
  if (!header) return 'no token';
  return /^Bearer\s+\S+\s*$/i.test(header) ? 'invalid token' : 'malformed header';
}
