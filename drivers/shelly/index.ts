/**
 * `shelly`: a Shelly Gen2 or later device (Plus, Pro, Gen3, Gen4) through its JSON-RPC API over
 * HTTP (`POST /rpc`; docs/smart-plugs.md says which documentation this follows). Outlet N is the
 * `Switch` component with id N−1.
 *
 * - read: `Switch.GetStatus` for one outlet, `Shelly.GetStatus` (every component at once) for more.
 * - switch: `Switch.Set {id, on}`, one request; the core confirms by reading back. The core's
 *   off → cycle_delay → on makes a cycle.
 * - meter: the same status: `apower` (W), `voltage` (V), `current` (A), `aenergy.total` (Wh).
 * - auth: when the device has a password, it answers 401 with a SHA-256 Digest challenge
 *   (`digest.ts`). A 401 means the request was not run, so the one resend with credentials is
 *   not a second write.
 */
import type { Infer } from '../../src/config/types.js';
import { DeviceRefusedError, DeviceReplyError, UnknownOutletError } from '../../src/errors.js';
import { num, parseObject, plugRequest, type PlugTarget } from '../tasmota/http.js';
import { defineDriver, type DeviceInfo, type OutletCaps, type OutletDevice, type Power, type Reading, type SwitchAction } from '../types.js';
import { DigestSession, parseChallenge } from './digest.js';
import { shellySketch, shellyTemplate } from './definition.js';

export { shellyTemplate };

type Spec = Infer<typeof shellyTemplate>;

type Obj = Record<string, unknown>;

export class ShellyDevice implements OutletDevice {
  readonly #spec: Spec;
  readonly #t: PlugTarget;
  readonly #digest: DigestSession;
  #count: number;
  #names = new Map<number, string>();
  #info: Obj = {};
  #seq = 0;
  /** RPC requests sent (tests count round trips). */
  requests = 0;

  constructor(
    readonly id: string,
    spec: Spec,
  ) {
    this.#spec = spec;
    this.#t = { id, host: spec.host, port: spec.port, timeoutMs: spec.request_timeout };
    this.#count = spec.outlets ?? 0;
    this.#digest = new DigestSession('admin', () => spec.password?.reveal() ?? '');
  }

  get caps(): OutletCaps {
    return { cycle: false, metering: true, bulkRead: true, readBack: 'real', maxConcurrency: 1 };
  }

  get outletCount(): number {
    return this.#count;
  }

  /** One RPC call; its `result`, or a typed error. */
  async #rpc(method: string, params: Obj | undefined, signal: AbortSignal): Promise<Obj> {
    const body = JSON.stringify({ id: ++this.#seq, method, ...(params && { params }) });
    const shown = `rpc ${method}`;
    const where = `${this.id}: ${shown} (${this.#t.host}:${this.#t.port})`;
    for (let attempt = 0; ; attempt++) {
      const headers = this.#digest.ready ? { authorization: this.#digest.header('POST', '/rpc') } : undefined;
      this.requests++;
      const r = await plugRequest(this.#t, { method: 'POST', path: '/rpc', shown, body, ...(headers && { headers }) }, signal);
      if (r.status === 401) {
        const challenge = parseChallenge(typeof r.headers['www-authenticate'] === 'string' ? r.headers['www-authenticate'] : undefined);
        if (!this.#spec.password)
          throw new DeviceRefusedError(this.id, `${where}: the device requires a password`, { hint: 'Set password = to the device’s password (user admin).' });
        // Credentials sent with a challenge just received and still refused: the password is wrong.
        if (attempt > 0 || !challenge) {
          this.#digest.forget();
          throw new DeviceRefusedError(this.id, `${where}: the password was refused`, { hint: 'Check password =; nothing was switched.' });
        }
        if (!this.#digest.accept(challenge))
          throw new DeviceRefusedError(this.id, `${where}: the device asks for Digest ${challenge.algorithm}, not SHA-256`, { hint: 'Shelly Gen2+ firmware uses SHA-256; is this a Gen2+ device?' });
        continue;
      }
      if (r.status !== 200 && r.status !== 500)
        throw new DeviceReplyError(this.id, `${where}: HTTP ${r.status}`, { hint: 'Is this a Shelly Gen2+ device (type = shelly)? Gen1 devices have no /rpc.' });
      const frame = parseObject(this.#t, shown, r);
      const err = frame.error as { code?: unknown; message?: unknown } | undefined;
      if (err && typeof err === 'object')
        throw new DeviceReplyError(this.id, `${where}: error ${String(err.code)}: ${typeof err.message === 'string' ? err.message : '?'}`, { hint: 'The device refused the call; nothing it confirmed was changed.' });
      const result = frame.result;
      if (result === null || typeof result !== 'object' || Array.isArray(result))
        throw new DeviceReplyError(this.id, `${where}: the answer has no result object`, { hint: 'Is this a Shelly Gen2+ device? The answer was JSON of another shape.' });
      return result as Obj;
    }
  }

  async open(signal: AbortSignal): Promise<void> {
    this.#info = await this.#rpc('Shelly.GetDeviceInfo', undefined, signal);
    const status = await this.#rpc('Shelly.GetStatus', undefined, signal);
    const ids = Object.keys(status).flatMap((k) => {
      const m = /^switch:(\d+)$/.exec(k);
      return m ? [Number(m[1])] : [];
    });
    if (this.#spec.outlets === undefined) {
      if (ids.length === 0)
        throw new DeviceReplyError(this.id, `${this.id}: the device has no Switch component`, { hint: 'Only Shelly devices with relays (Switch) can be outlets; check the device profile.' });
      this.#count = Math.max(...ids) + 1;
    }
    const config = await this.#rpc('Shelly.GetConfig', undefined, signal);
    this.#names = new Map();
    for (let n = 1; n <= this.#count; n++) {
      const name = (config[`switch:${n - 1}`] as Obj | undefined)?.name;
      if (typeof name === 'string' && name) this.#names.set(n, name);
    }
  }

  #check(outlets: readonly number[]): void {
    for (const n of outlets) if (!Number.isInteger(n) || n < 1 || n > this.#count) throw new UnknownOutletError(this.id, n, this.#count);
  }

  /** The status object of each requested switch: one call for one outlet, one for all. */
  async #statuses(outlets: readonly number[], signal: AbortSignal): Promise<Map<number, Obj | undefined>> {
    if (this.#count === 0) await this.open(signal);
    this.#check(outlets);
    if (outlets.length === 0) return new Map();
    if (outlets.length === 1) {
      const n = outlets[0]!;
      return new Map([[n, await this.#rpc('Switch.GetStatus', { id: n - 1 }, signal)]]);
    }
    const all = await this.#rpc('Shelly.GetStatus', undefined, signal);
    return new Map(outlets.map((n) => [n, all[`switch:${n - 1}`] as Obj | undefined]));
  }

  async read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>> {
    const s = await this.#statuses(outlets, signal);
    return new Map(outlets.map((n) => {
      const out = s.get(n)?.output;
      return [n, out === true ? 'on' : out === false ? 'off' : 'unknown'];
    }));
  }

  async switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    if (this.#count === 0) await this.open(signal);
    this.#check([outlet]);
    if (action !== 'on' && action !== 'off')
      throw new DeviceRefusedError(this.id, `${this.id}: a Shelly switch cannot ${action} in one command; nothing was sent`, { hint: 'The gateway emulates a cycle with off, cycle_delay, on.' });
    await this.#rpc('Switch.Set', { id: outlet - 1, on: action === 'on' }, signal);
  }

  async meter(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Reading>> {
    const s = await this.#statuses(outlets, signal);
    return new Map(
      outlets.map((n) => {
        const st = s.get(n) ?? {};
        const watts = num(st.apower);
        const volts = num(st.voltage);
        const amps = num(st.current);
        const energyWh = num((st.aenergy as Obj | undefined)?.total);
        const r: Reading = {
          ...(watts !== undefined && { watts }),
          ...(volts !== undefined && { volts }),
          ...(amps !== undefined && { amps }),
          ...(energyWh !== undefined && { energyWh }),
        };
        return [n, r];
      }),
    );
  }

  info(): DeviceInfo {
    const i = this.#info;
    const s = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
    const model = s(i.app) ?? s(i.model);
    const firmware = s(i.ver);
    return {
      ...(model && { model }),
      ...(firmware && { firmware }),
      outletNames: new Map(this.#names),
      details: {
        address: `${this.#t.host}:${this.#t.port}`,
        ...(s(i.id) && { id: s(i.id)! }),
        ...(s(i.model) && { sku: s(i.model)! }),
        ...(num(i.gen) !== undefined && { gen: String(i.gen) }),
        auth: i.auth_en === true ? 'digest (SHA-256)' : 'none',
      },
    };
  }

  async close(): Promise<void> {
    this.#digest.forget();
  }
}

export const shellyDriver = defineDriver({
  ...shellySketch,
  create: (spec, ctx) => new ShellyDevice(ctx.id, spec),
});
