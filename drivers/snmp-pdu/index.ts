/**
 * `snmp-pdu`: switched PDUs over SNMP v1, v2c and v3, driven by vendor profiles (`profiles/`).
 * All outlets of a PDU are read with one GET carrying many varbinds (split only at the agent's
 * limit); a switch is one SET, sent once, which the core then confirms by reading back.
 */
import type { Infer } from '../../src/config/types.js';
import { DeviceReplyError, OperationAbortedError, SnmpError, UnknownOutletError } from '../../src/errors.js';
import { defineDriver, type DeviceInfo, type DriverContext, type OutletDevice, type Power, type Reading, type SwitchAction } from '../types.js';
import { SnmpClient, snmpTarget, type SnmpValue } from './client.js';
import { scalarOid, type Metric, type OutletValue, type Profile } from './profile.js';
import { candidates, PROFILE_NAMES, profileByName } from './profiles/index.js';
import { snmpPduSketch, snmpTemplate } from './definition.js';

export { snmpTemplate };


export type SnmpSpec = Infer<typeof snmpTemplate>;

const ints = (xs: readonly string[] | undefined): number[] => (xs ?? []).map(Number);

/** The `generic` profile from the device file. */
export function genericProfile(spec: SnmpSpec): Profile {
  const values: Record<number, OutletValue> = {};
  for (const v of ints(spec.status_on)) values[v] = 'on';
  for (const v of ints(spec.status_off)) values[v] = 'off';
  for (const v of ints(spec.status_switching)) values[v] = 'switching';
  const c = spec.control_oid!.replace(/^\./, '');
  const pattern = spec.instance;
  return {
    name: 'generic',
    title: 'Generic (OIDs from the device file)',
    mib: 'set in the device file',
    sysObjectIds: [],
    instance: (n, unit) => pattern.replace('{unit}', String(unit)).replace('{n}', String(n)),
    defaultUnit: 1,
    status: { oid: spec.status_oid!.replace(/^\./, ''), values },
    control: {
      on: { oid: c, value: spec.control_on! },
      off: { oid: c, value: spec.control_off! },
      ...(spec.control_cycle !== undefined && { cycle: { oid: c, value: spec.control_cycle } }),
    },
    ...(spec.count_oid && { outletCount: spec.count_oid.replace(/^\./, '') }),
    ...(spec.name_oid && { names: [spec.name_oid.replace(/^\./, '')] }),
  };
}

const SYS_DESCR = '1.3.6.1.2.1.1.1.0';
const SYS_OBJECT_ID = '1.3.6.1.2.1.1.2.0';
const text = (v: SnmpValue | undefined): string | undefined =>
  v === null || v === undefined ? undefined : Buffer.isBuffer(v) ? v.toString('utf8').replace(/\0+$/, '') : String(v);
const num = (v: SnmpValue | undefined): number | undefined =>
  typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;

export class SnmpPdu implements OutletDevice {
  readonly #spec: SnmpSpec;
  readonly #ctx: DriverContext;
  readonly #client: SnmpClient;
  #profile: Profile | null;
  #unit: number;
  #count: number;
  #info: DeviceInfo = {};
  /** The profile's metering fields this PDU answers, found by `open()` (empty: no metering). */
  #metering: readonly (readonly [keyof Reading, Metric])[] = [];
  readonly #oidCache = new Map<number, readonly [string, string | undefined]>();

  constructor(
    readonly id: string,
    spec: SnmpSpec,
    ctx: DriverContext,
  ) {
    this.#spec = spec;
    this.#ctx = ctx;
    this.#client = new SnmpClient(snmpTarget(id, spec, spec.max_varbinds));
    this.#profile = spec.profile === 'auto' ? null : spec.profile === 'generic' ? genericProfile(spec) : profileByName(spec.profile)!;
    this.#unit = spec.unit ?? this.#profile?.defaultUnit ?? 1;
    this.#count = spec.outlets ?? 0;
  }

  get caps(): OutletDevice['caps'] {
    return {
      cycle: this.#profile ? this.#profile.control.cycle !== undefined : true,
      metering: this.#metering.length > 0,
      bulkRead: true,
      readBack: 'real',
      maxConcurrency: 4,
    };
  }

  get outletCount(): number {
    return this.#count;
  }

  /** The profile in use (after `open()` when `auto`). */
  get profile(): Profile | null {
    return this.#profile;
  }

  /** SNMP requests sent so far. */
  get requests(): number {
    return this.#client.requests;
  }

  #oid(column: string, n: number, suffix?: string): string {
    return `${column}.${this.#profile!.instance(n, this.#unit)}${suffix ? `.${suffix}` : ''}`;
  }

  #check(outlets: readonly number[]): void {
    for (const n of outlets) if (!Number.isInteger(n) || n < 1 || n > this.#count) throw new UnknownOutletError(this.id, n, this.#count);
  }

  async open(signal: AbortSignal): Promise<void> {
    const sys = await this.#client.get([SYS_OBJECT_ID, SYS_DESCR], signal);
    const sysObjectId = text(sys.get(SYS_OBJECT_ID));
    if (!this.#profile) {
      for (const p of candidates(sysObjectId)) {
        const unit = this.#spec.unit ?? p.defaultUnit;
        const probe = `${p.status.oid}.${p.instance(1, unit)}`;
        const got = await this.#client.get([probe], signal);
        if (num(got.get(probe)) !== undefined) {
          this.#profile = p;
          this.#unit = unit;
          break;
        }
      }
      if (!this.#profile)
        throw new DeviceReplyError(this.id, `${this.id}: no known PDU profile answers (sysObjectID ${sysObjectId ?? 'not served'})`, {
          hint: `Set profile = one of ${PROFILE_NAMES.join(', ')}, or profile = generic with its OIDs; check unit = if the PDU is in a chain.`,
        });
    }
    const p = this.#profile;
    const detected = await this.#detectCount(signal);
    if (this.#spec.outlets === undefined) this.#count = detected ?? 0;
    else if (detected !== undefined && detected !== this.#spec.outlets)
      this.#ctx.log.warn({ device: this.id, configured: this.#spec.outlets, reported: detected }, 'the PDU reports another outlet count than the device file');
    if (this.#count === 0)
      throw new DeviceReplyError(this.id, `${this.id}: the PDU reports no outlets under ${p.status.oid} (unit ${this.#unit})`, {
        hint: 'Check the profile and the unit, or set outlets = in the device file.',
      });
    const all = Array.from({ length: this.#count }, (_, i) => i + 1);
    const names = new Map<number, string>();
    for (const col of p.names ?? []) {
      const got = await this.#client.get(all.map((n) => this.#oid(col, n)), signal);
      for (const n of all) {
        const t = text(got.get(this.#oid(col, n)));
        if (t) names.set(n, t);
      }
      if (names.size > 0) break;
    }
    const modelOid = p.model && scalarOid(p.model, this.#unit);
    const firmwareOid = p.firmwareVersion && scalarOid(p.firmwareVersion, this.#unit);
    const scalars = [modelOid, firmwareOid].filter((x): x is string => !!x);
    const facts = await this.#getOptional(scalars, signal);
    // The model is the PDU's own model object only: sysDescr describes the management card or
    // its OS (APC's NMC banner, "Ubuntu 16.04.4 LTS …" on a Tripp Lite), so it stays a detail.
    const model = modelOid && text(facts.get(modelOid))?.trim();
    const firmware = firmwareOid && text(facts.get(firmwareOid))?.trim();
    const sysDescr = text(sys.get(SYS_DESCR))?.trim();
    this.#metering = await this.#probeMetering(signal);
    this.#info = {
      ...(model && { model }),
      ...(firmware && { firmware }),
      outletNames: names,
      details: {
        profile: p.name,
        mib: p.mib,
        unit: String(this.#unit),
        ...(sysObjectId && { sysObjectID: sysObjectId }),
        ...(sysDescr && { sysDescr }),
        ...(this.#metering.length > 0 && { metering: this.#metering.map(([k]) => k).join(', ') }),
      },
    };
    this.#ctx.log.info({ device: this.id, profile: p.name, outlets: this.#count, sysObjectId }, 'SNMP PDU opened');
  }

  /**
   * The metering fields the PDU answers for its first outlet, in one GET. A family's profile
   * names its metering columns, but a switched-only model of it (an AP7902B beside the AP8641)
   * has none: without this probe it would show metering that is never there.
   */
  async #probeMetering(signal: AbortSignal): Promise<(readonly [keyof Reading, Metric])[]> {
    const m = this.#profile!.metering;
    if (!m) return [];
    const fields = Object.entries(m) as [keyof Reading, Metric][];
    const got = await this.#getOptional(fields.map(([, f]) => this.#oid(f.oid, 1, f.suffix)), signal);
    return fields.filter(([, f]) => num(got.get(this.#oid(f.oid, 1, f.suffix))) !== undefined);
  }

  /**
   * A GET of objects the PDU may lack: absent ones read as missing. SNMPv1 answers noSuchName
   * for a GET of one missing object, which the client reports as an error.
   */
  async #getOptional(oids: readonly string[], signal: AbortSignal): Promise<Map<string, SnmpValue>> {
    if (oids.length === 0) return new Map();
    return this.#client.get(oids, signal).catch((err: unknown) => {
      if (err instanceof SnmpError && err.snmpStatus === 'noSuchName') return new Map<string, SnmpValue>();
      throw err;
    });
  }

  async #detectCount(signal: AbortSignal): Promise<number | undefined> {
    const p = this.#profile!;
    if (p.outletCount) {
      const v = num((await this.#client.get([p.outletCount], signal)).get(p.outletCount));
      if (v !== undefined && v > 0) return v;
    }
    // Walk the status column: the highest outlet number of this unit.
    const prefix = p.instance(1, this.#unit).replace(/1$/, '');
    let max = 0;
    for (const suffix of (await this.#client.walk(p.status.oid, signal)).keys()) {
      if (!suffix.startsWith(prefix)) continue;
      const n = Number(suffix.slice(prefix.length));
      if (Number.isInteger(n) && n > max) max = n;
    }
    return max > 0 ? max : undefined;
  }

  /** Status (and pending) OIDs of outlet n, built once. */
  #statusOids(n: number): readonly [string, string | undefined] {
    let o = this.#oidCache.get(n);
    if (!o) {
      const p = this.#profile!;
      o = [this.#oid(p.status.oid, n), p.pending ? this.#oid(p.pending.oid, n) : undefined];
      this.#oidCache.set(n, o);
    }
    return o;
  }

  /**
   * Reads outlets in one round trip: a poll of many outlets (v2c/v3) is one GETBULK of the
   * status column (and the pending column), so the request carries two OIDs instead of one
   * per outlet; a read of a few outlets, or any read over v1, is one GET of exactly them. What
   * a bulk answer lacks (a truncating agent, a sparse table) is fetched with a GET.
   */
  async read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>> {
    this.#check(outlets);
    if (signal.aborted) throw new OperationAbortedError();
    const p = this.#profile!;
    let got = new Map<string, SnmpValue>();
    if (outlets.length >= 4 && this.#spec.version !== '1') {
      const prefix = p.instance(1, this.#unit).replace(/\.?1$/, '');
      const start = (col: string): string => (prefix ? `${col}.${prefix}` : col);
      const max = Math.max(...outlets);
      got = await this.#client.bulk([start(p.status.oid), ...(p.pending ? [start(p.pending.oid)] : [])], max, signal);
    }
    const missing = outlets.flatMap((n) => {
      const [st, pe] = this.#statusOids(n);
      return [...(got.has(st) ? [] : [st]), ...(pe !== undefined && !got.has(pe) ? [pe] : [])];
    });
    if (missing.length > 0) for (const [k, v] of await this.#client.get(missing, signal, (o) => this.#outletOf(o))) got.set(k, v);
    const out = new Map<number, Power>();
    for (const n of outlets) {
      const [st, pe] = this.#statusOids(n);
      const v = num(got.get(st));
      const pending = pe !== undefined && p.pending!.values.includes(num(got.get(pe)) ?? NaN);
      const meaning: OutletValue = v === undefined ? 'unknown' : (p.status.values[v] ?? 'unknown');
      out.set(n, pending ? 'switching' : meaning);
    }
    return out;
  }

  #outletOf(o: string): number | undefined {
    const n = Number(/\.(\d+)$/.exec(o)?.[1]);
    return Number.isInteger(n) ? n : undefined;
  }

  async switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    this.#check([outlet]);
    if (action === 'reset') throw new DeviceReplyError(this.id, `${this.id}: a PDU cannot warm-reset a machine`, { hint: 'Use cycle.' });
    const cmd = this.#profile!.control[action];
    if (!cmd) throw new DeviceReplyError(this.id, `${this.id}: profile ${this.#profile!.name} has no native cycle`, { hint: 'The core cycles as off → cycle_delay → on.' });
    await this.#client.setInt(this.#oid(cmd.oid, outlet), cmd.value, signal, outlet);
    this.#ctx.log.debug({ device: this.id, outlet, action }, 'SNMP switch command accepted');
  }

  get meter(): OutletDevice['meter'] {
    const fields = this.#metering;
    if (fields.length === 0) return undefined;
    return async (outlets, signal) => {
      this.#check(outlets);
      const oids = outlets.flatMap((n) => fields.map(([, f]) => this.#oid(f.oid, n, f.suffix)));
      const got = await this.#client.get(oids, signal);
      const out = new Map<number, Reading>();
      for (const n of outlets) {
        const r: Record<string, number> = {};
        for (const [k, f] of fields) {
          const v = num(got.get(this.#oid(f.oid, n, f.suffix)));
          // Negative: "not measured" (Sentry4, HPE answer -1); no load meters below zero.
          if (v !== undefined && v >= 0) r[k] = Math.round(v * f.scale * 1000) / 1000;
        }
        out.set(n, r);
      }
      return out;
    };
  }

  info(): DeviceInfo {
    return this.#info;
  }

  async close(): Promise<void> {
    this.#client.close();
  }
}

export const snmpPduDriver = defineDriver({
  ...snmpPduSketch,
  create: (spec, ctx) => new SnmpPdu(ctx.id, spec, ctx),
});
