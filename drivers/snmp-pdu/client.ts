/**
 * A promise-shaped SNMP client over `net-snmp` for one agent: GETs of many varbinds (split at
 * the agent's limit: tooBig halves the batch and the smaller size is kept), column walks, and
 * single SETs that are never re-sent (net-snmp retries are off: a reboot command sent twice
 * would cycle twice). Every failure becomes an `SnmpError` naming the device, OID and outlet,
 * with a hint; credentials stay inside the session objects and never reach a message.
 */
import type snmp from 'net-snmp';

/**
 * net-snmp, loaded on first use: a daemon with no SNMP device (and the CLI) never pays for it.
 * Every public method of SnmpClient awaits it before anything else.
 */
let lib: typeof snmp;
let loading: Promise<void> | null = null;
function loadSnmp(): Promise<void> {
  loading ??= import('net-snmp').then((m) => {
    lib = (m as unknown as { default: typeof snmp }).default ?? (m as unknown as typeof snmp);
  });
  return loading;
}
import type { Secret } from '../../src/config/types.js';
import { OperationAbortedError, SnmpError } from '../../src/errors.js';

export type SnmpValue = number | string | Buffer | bigint | null;

export interface SnmpTarget {
  readonly device: string;
  readonly host: string;
  readonly port: number;
  readonly version: '1' | '2c' | '3';
  readonly community: Secret | undefined;
  readonly writeCommunity: Secret | undefined;
  readonly user: string | undefined;
  readonly authProtocol: 'none' | 'md5' | 'sha' | 'sha224' | 'sha256' | 'sha384' | 'sha512';
  readonly authPassword: Secret | undefined;
  readonly privProtocol: 'none' | 'des' | 'aes' | 'aes256b' | 'aes256r';
  readonly privPassword: Secret | undefined;
  readonly requestTimeoutMs: number;
  /** Varbinds per GET at most (agents answer tooBig beyond their PDU size). */
  readonly maxVarbinds: number;
}

/** The access keys of an SNMP device section (snmp-pdu, the snmp UPS source), as the config gives them. */
export interface SnmpAccess {
  readonly host: string;
  readonly port: number;
  readonly version: '1' | '2c' | '3';
  readonly community?: Secret | undefined;
  readonly write_community?: Secret | undefined;
  readonly user?: string | undefined;
  readonly auth_protocol: Exclude<SnmpTarget['authProtocol'], 'none'>;
  readonly auth_password?: Secret | undefined;
  readonly priv_protocol: Exclude<SnmpTarget['privProtocol'], 'none'>;
  readonly priv_password?: Secret | undefined;
  readonly request_timeout: number;
}

/** The client's target from a section's keys: SNMPv3 security follows which passwords are set. */
export function snmpTarget(device: string, spec: SnmpAccess, maxVarbinds: number): SnmpTarget {
  const v3 = spec.version === '3';
  return {
    device,
    host: spec.host,
    port: spec.port,
    version: spec.version,
    community: spec.community,
    writeCommunity: spec.write_community,
    user: spec.user,
    authProtocol: v3 && spec.auth_password ? spec.auth_protocol : 'none',
    authPassword: spec.auth_password,
    privProtocol: v3 && spec.auth_password && spec.priv_password ? spec.priv_protocol : 'none',
    privPassword: spec.priv_password,
    requestTimeoutMs: spec.request_timeout,
    maxVarbinds,
  };
}

const STATUS_NAMES: Record<number, string> = {
  1: 'tooBig',
  2: 'noSuchName',
  3: 'badValue',
  4: 'readOnly',
  5: 'genErr',
  6: 'noAccess',
  7: 'wrongType',
  8: 'wrongLength',
  9: 'wrongEncoding',
  10: 'wrongValue',
  11: 'noCreation',
  12: 'inconsistentValue',
  13: 'resourceUnavailable',
  14: 'commitFailed',
  15: 'undoFailed',
  16: 'authorizationError',
  17: 'notWritable',
  18: 'inconsistentName',
};

type Session = ReturnType<typeof snmp.createSession>;

/** The error-status of an agent's error reply, or undefined for any other failure. */
const failedStatus = (err: unknown): number | undefined =>
  (err as Error | null)?.name === 'RequestFailedError' ? (err as { status: number }).status : undefined;

export class SnmpClient {
  readonly #t: SnmpTarget;
  #read: Session | null = null;
  #write: Session | null = null;
  /** Learned from tooBig replies. */
  #batch: number;
  /** Requests sent (for tests and the benchmark: one round trip per poll). */
  requests = 0;

  constructor(t: SnmpTarget) {
    this.#t = t;
    this.#batch = t.maxVarbinds;
  }

  #session(write: boolean): Session {
    const t = this.#t;
    const options = {
      port: t.port,
      retries: 0,
      timeout: t.requestTimeoutMs,
      transport: 'udp4' as const,
      version: t.version === '1' ? lib.Version1 : t.version === '2c' ? lib.Version2c : lib.Version3,
      idBitsSize: 32 as const,
    };
    let s: Session;
    if (t.version === '3') {
      if (this.#read) return this.#read;
      const level =
        t.authProtocol === 'none' ? lib.SecurityLevel.noAuthNoPriv : t.privProtocol === 'none' ? lib.SecurityLevel.authNoPriv : lib.SecurityLevel.authPriv;
      const user: snmp.User = { name: t.user ?? '', level };
      if (level !== lib.SecurityLevel.noAuthNoPriv) {
        user.authProtocol = lib.AuthProtocols[t.authProtocol];
        user.authKey = t.authPassword?.reveal() ?? '';
      }
      if (level === lib.SecurityLevel.authPriv) {
        user.privProtocol = lib.PrivProtocols[t.privProtocol];
        user.privKey = t.privPassword?.reveal() ?? '';
      }
      s = lib.createV3Session(t.host, user, options as snmp.SessionOptionsV3);
      this.#read = s;
      this.#write = s;
    } else if (write) {
      if (this.#write) return this.#write;
      const c = (t.writeCommunity ?? t.community)?.reveal() ?? 'private';
      s = lib.createSession(t.host, c, options as snmp.SessionOptions);
      this.#write = s;
    } else {
      if (this.#read) return this.#read;
      s = lib.createSession(t.host, t.community?.reveal() ?? 'public', options as snmp.SessionOptions);
      this.#read = s;
    }
    // A socket error must not crash the daemon: requests in flight fail by timeout.
    s.on('error', () => {});
    return s;
  }

  #error(err: unknown, o: { oid?: string; outlet?: number; set?: boolean }): SnmpError {
    const d = this.#t.device;
    const at = `${o.oid ? ` (${o.oid}${o.outlet !== undefined ? `, outlet ${o.outlet}` : ''})` : ''}`;
    if ((err as Error).name === 'RequestTimedOutError') {
      return new SnmpError('OCKLE_DEVICE_UNREACHABLE', d, `${d}: no SNMP answer from ${this.#t.host}:${this.#t.port} within ${this.#t.requestTimeoutMs} ms${at}`, {
        ...o,
        snmpStatus: 'timeout',
        hint:
          this.#t.version === '3'
            ? 'Check host, port and that the agent runs; wrong SNMPv3 credentials can also go unanswered.'
            : 'Check host, port and that the agent runs; an agent ignores a wrong community silently, so check the community too.',
      });
    }
    if (failedStatus(err) !== undefined) {
      const status = failedStatus(err)!;
      const name = STATUS_NAMES[status] ?? `status ${status}`;
      const refused = [2, 4, 6, 16, 17].includes(status) && o.set;
      const badValue = [3, 7, 10, 12].includes(status);
      const hint = refused
        ? this.#t.version === '3'
          ? 'The SNMPv3 user may not write here: give it a read-write view on the agent.'
          : 'Wrong write community, or the community is read-only: set write_community to the agent’s read-write community.'
        : badValue
          ? 'The agent refused the value: this firmware may use another encoding; check the profile (ockle devices probe).'
          : status === 2 || status === 6
            ? 'The agent does not serve this OID (or not to this community): check the profile and unit.'
            : 'See the agent’s log; the request changed nothing.';
      return new SnmpError(refused || badValue ? 'OCKLE_DEVICE_REFUSED' : 'OCKLE_DEVICE_REPLY', d, `${d}: agent answered ${name}${at}`, { ...o, snmpStatus: name, hint });
    }
    const msg = (err as Error).message ?? String(err);
    const auth = /auth|user|digest|decrypt|engine/i.test(msg);
    return new SnmpError('OCKLE_DEVICE_REPLY', d, `${d}: ${msg}${at}`, {
      ...o,
      snmpStatus: auth ? 'authenticationFailure' : 'error',
      hint: auth ? 'Check the SNMPv3 user, protocols and passwords against the agent’s configuration.' : 'The reply could not be used; the request changed nothing.',
    });
  }

  #call<R>(signal: AbortSignal, run: (done: (err: unknown, r?: R) => void) => void): Promise<R> {
    if (signal.aborted) return Promise.reject(new OperationAbortedError());
    return new Promise<R>((resolve, reject) => {
      const onAbort = (): void => reject(new OperationAbortedError());
      signal.addEventListener('abort', onAbort, { once: true });
      this.requests++;
      run((err, r) => {
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err as Error);
        else resolve(r as R);
      });
    });
  }

  /**
   * Reads many OIDs: one GET per `maxVarbinds` (all batches at once). A missing OID reads null.
   */
  async get(oids: readonly string[], signal: AbortSignal, where?: (oid: string) => number | undefined): Promise<Map<string, SnmpValue>> {
    await loadSnmp();
    const out = new Map<string, SnmpValue>();
    let todo = [...oids];
    while (todo.length > 0) {
      const size = this.#batch;
      const batches: string[][] = [];
      for (let i = 0; i < todo.length; i += size) batches.push(todo.slice(i, i + size));
      const results = await Promise.allSettled(
        batches.map((b) =>
          this.#call<snmp.Varbind[]>(signal, (done) => this.#session(false).get(b, (e: Error | null, vbs?: snmp.Varbind[]) => done(e, vbs))),
        ),
      );
      const retry: string[] = [];
      for (const [i, r] of results.entries()) {
        if (r.status === 'fulfilled') {
          for (const vb of r.value) out.set(vb.oid, lib.isVarbindError(vb) ? null : (vb.value as SnmpValue));
          continue;
        }
        const err = r.reason as unknown;
        if (err instanceof OperationAbortedError) throw err;
        // Agent limit: halve the batch and try again with what is left.
        if (failedStatus(err) === 1 && size > 1) {
          retry.push(...batches[i]!);
          continue;
        }
        // v1 answers noSuchName for a GET naming a missing OID: read each one alone.
        if (failedStatus(err) === 2 && this.#t.version === '1' && batches[i]!.length > 1) {
          for (const oid of batches[i]!) {
            const one = await this.get([oid], signal, where).catch((e: unknown) => {
              if ((e as SnmpError).snmpStatus === 'noSuchName') return new Map<string, SnmpValue>([[oid, null]]);
              throw e;
            });
            for (const [k, v] of one) out.set(k, v);
          }
          continue;
        }
        const first = batches[i]![0]!;
        throw this.#error(err, { oid: first, ...(where?.(first) !== undefined && { outlet: where(first)! }) });
      }
      if (retry.length > 0) this.#batch = Math.max(1, Math.floor(size / 2));
      todo = retry;
    }
    return out;
  }

  /**
   * One GETBULK that reads `maxRepetitions` rows of several columns at once, starting after
   * each of `starts` (v2c/v3). Returns full OID → value for the rows the agent sent; an agent
   * may send fewer (RFC 3416 lets it truncate), so callers check for what is missing.
   */
  async bulk(starts: readonly string[], maxRepetitions: number, signal: AbortSignal): Promise<Map<string, SnmpValue>> {
    await loadSnmp();
    const out = new Map<string, SnmpValue>();
    const rows = await this.#call<(snmp.Varbind | snmp.Varbind[])[]>(signal, (done) =>
      this.#session(false).getBulk([...starts], 0, maxRepetitions, (e: Error | null, vbs?: (snmp.Varbind | snmp.Varbind[])[]) => done(e, vbs)),
    ).catch((err: unknown) => {
      if (err instanceof OperationAbortedError) throw err;
      throw this.#error(err, { oid: starts[0]! });
    });
    for (const col of rows) for (const vb of Array.isArray(col) ? col : [col]) if (!lib.isVarbindError(vb)) out.set(vb.oid, vb.value as SnmpValue);
    return out;
  }

  /** Every instance under a column (GETBULK on v2c/v3, GETNEXT on v1): instance suffix → value. */
  async walk(column: string, signal: AbortSignal, maxRepetitions = 50): Promise<Map<string, SnmpValue>> {
    await loadSnmp();
    const out = new Map<string, SnmpValue>();
    const prefix = `${column}.`;
    await this.#call<void>(signal, (done) =>
      this.#session(false).subtree(
        column,
        maxRepetitions,
        (vbs: snmp.Varbind[]) => {
          for (const vb of vbs) if (!lib.isVarbindError(vb) && vb.oid.startsWith(prefix)) out.set(vb.oid.slice(prefix.length), vb.value as SnmpValue);
        },
        (e: Error | null) => done(e),
      ),
    ).catch((err: unknown) => {
      if (err instanceof OperationAbortedError) throw err;
      throw this.#error(err, { oid: column });
    });
    return out;
  }

  /** One SET of an INTEGER, sent once. */
  async setInt(oid: string, value: number, signal: AbortSignal, outlet?: number): Promise<void> {
    await loadSnmp();
    await this.#call<snmp.Varbind[]>(signal, (done) =>
      this.#session(true).set([{ oid, type: lib.ObjectType.Integer, value }], (e: Error | null, vbs?: snmp.Varbind[]) => done(e, vbs)),
    ).catch((err: unknown) => {
      if (err instanceof OperationAbortedError) throw err;
      throw this.#error(err, { oid, ...(outlet !== undefined && { outlet }), set: true });
    });
  }

  close(): void {
    const sessions = new Set([this.#read, this.#write].filter((s): s is Session => s !== null));
    this.#read = null;
    this.#write = null;
    for (const s of sessions) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }
}
