/**
 * `tasmota`: a plug or relay board running Tasmota, through its HTTP command API
 * (`GET /cm?cmnd=…`, one JSON answer per command; docs/smart-plugs.md says which documentation
 * and versions this follows).
 *
 * - read: `Status 11` answers every relay at once (`StatusSTS`: `POWER` on a one-relay device,
 *   `POWER1`…`POWERn` otherwise).
 * - switch: `Power<N> ON|OFF`, one request; the core confirms by reading back. Tasmota has no
 *   one-command cycle, so the core's off → cycle_delay → on is used.
 * - meter: `Status 10` (`Status 8` on old firmware is the same sensor report): `StatusSNS.ENERGY`
 *   with Power (W), Voltage (V), Current (A) and Total (kWh); arrays on multi-channel meters.
 * - web password: Tasmota takes it as `user=`/`password=` query parameters. It is a secret: it is
 *   put into the request only, never into a message or log line.
 */
import type { Infer } from '../../src/config/types.js';
import { DeviceRefusedError, DeviceReplyError, UnknownOutletError } from '../../src/errors.js';
import { defineDriver, type DeviceInfo, type DriverContext, type OutletCaps, type OutletDevice, type Power, type Reading, type SwitchAction } from '../types.js';
import { num, parseObject, plugRequest, type PlugTarget } from './http.js';
import { tasmotaSketch, tasmotaTemplate } from './definition.js';

export { tasmotaTemplate };

type Spec = Infer<typeof tasmotaTemplate>;

const ON_OFF: Readonly<Record<string, Power>> = { ON: 'on', OFF: 'off' };

/** The relay states in a `StatusSTS` (or `Power` result) object: POWER is relay 1 on a one-relay device. */
function relayStates(o: Record<string, unknown>): Map<number, Power> {
  const m = new Map<number, Power>();
  for (const [k, v] of Object.entries(o)) {
    const r = /^POWER(\d*)$/.exec(k);
    if (r && typeof v === 'string') m.set(r[1] ? Number(r[1]) : 1, ON_OFF[v.toUpperCase()] ?? 'unknown');
  }
  return m;
}

export class TasmotaPlug implements OutletDevice {
  readonly #spec: Spec;
  readonly #t: PlugTarget;
  #count: number;
  #names: string[] = [];
  #model: string | undefined;
  #firmware: string | undefined;

  constructor(
    readonly id: string,
    spec: Spec,
    ctx?: DriverContext,
  ) {
    this.#spec = spec;
    this.#t = { id, host: spec.host, port: spec.port, timeoutMs: spec.request_timeout };
    this.#count = spec.outlets ?? 0;
    if (spec.password) ctx?.log.warn({ device: id }, 'Tasmota takes its web password in the URL over plain HTTP: it crosses the network in the clear; keep the plug on a trusted network');
  }

  get caps(): OutletCaps {
    return { cycle: false, metering: true, bulkRead: true, readBack: 'real', maxConcurrency: 1 };
  }

  get outletCount(): number {
    return this.#count;
  }

  /** One command; a refused password or an answer that is not JSON throws. */
  async #cmnd(command: string, signal: AbortSignal): Promise<Record<string, unknown>> {
    const q = new URLSearchParams();
    if (this.#spec.password) {
      q.set('user', this.#spec.user);
      q.set('password', this.#spec.password.reveal());
    }
    q.set('cmnd', command);
    // URLSearchParams writes a space as "+", which Tasmota's web server reads as a space too; %20 is what its docs show.
    const path = `/cm?${q.toString().replace(/\+/g, '%20')}`;
    const shown = `cm?cmnd=${command}`;
    const r = await plugRequest(this.#t, { method: 'GET', path, shown }, signal);
    const needAuth = (): DeviceRefusedError =>
      new DeviceRefusedError(this.id, `${this.id}: ${shown} (${this.#t.host}:${this.#t.port}): the web password was ${this.#spec.password ? 'refused' : 'required'}`, {
        hint: this.#spec.password ? 'Check password = (and user =); nothing was switched.' : 'Set password = to the device’s web admin password.',
      });
    if (r.status === 401) throw needAuth();
    if (r.status !== 200)
      throw new DeviceReplyError(this.id, `${this.id}: ${shown} (${this.#t.host}:${this.#t.port}) answered HTTP ${r.status}`, { hint: 'Is this a Tasmota device with its web server on (WebServer 2)?' });
    const body = parseObject(this.#t, shown, r);
    // Before 401 was used, Tasmota answered a wrong password with 200 and this warning.
    if (typeof body.WARNING === 'string' && /user=/.test(body.WARNING)) throw needAuth();
    return body;
  }

  async open(signal: AbortSignal): Promise<void> {
    const s = await this.#cmnd('Status 0', signal);
    const status = (s.Status ?? {}) as Record<string, unknown>;
    const fwr = (s.StatusFWR ?? {}) as Record<string, unknown>;
    const relays = relayStates((s.StatusSTS ?? {}) as Record<string, unknown>);
    if (this.#spec.outlets === undefined) {
      if (relays.size === 0)
        throw new DeviceReplyError(this.id, `${this.id}: Status 0 (${this.#t.host}:${this.#t.port}) lists no relay (no POWER in StatusSTS)`, { hint: 'Configure a relay on the device (Module/Template), or set outlets =.' });
      this.#count = Math.max(...relays.keys());
    }
    const names = Array.isArray(status.FriendlyName) ? status.FriendlyName : [];
    this.#names = names.map((n) => (typeof n === 'string' ? n : ''));
    this.#model = typeof status.DeviceName === 'string' ? status.DeviceName : undefined;
    this.#firmware = typeof fwr.Version === 'string' ? fwr.Version : undefined;
  }

  async #ensureCount(signal: AbortSignal): Promise<void> {
    if (this.#count === 0) await this.open(signal);
  }

  #check(outlets: readonly number[]): void {
    for (const n of outlets) if (!Number.isInteger(n) || n < 1 || n > this.#count) throw new UnknownOutletError(this.id, n, this.#count);
  }

  async read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>> {
    await this.#ensureCount(signal);
    this.#check(outlets);
    if (outlets.length === 0) return new Map();
    const s = await this.#cmnd('Status 11', signal);
    if (typeof s.StatusSTS !== 'object' || s.StatusSTS === null)
      throw new DeviceReplyError(this.id, `${this.id}: Status 11 (${this.#t.host}:${this.#t.port}) has no StatusSTS`, { hint: 'Is this a Tasmota device? The answer was JSON of another shape.' });
    const states = relayStates(s.StatusSTS as Record<string, unknown>);
    return new Map(outlets.map((n) => [n, states.get(n) ?? 'unknown']));
  }

  async switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    await this.#ensureCount(signal);
    this.#check([outlet]);
    if (action !== 'on' && action !== 'off')
      throw new DeviceRefusedError(this.id, `${this.id}: Tasmota cannot ${action} a relay in one command; nothing was sent`, { hint: 'The gateway emulates a cycle with off, cycle_delay, on.' });
    const r = await this.#cmnd(`Power${outlet} ${action.toUpperCase()}`, signal);
    if (r.Command === 'Unknown')
      throw new DeviceRefusedError(this.id, `${this.id}: the device has no relay ${outlet} (Power${outlet} is unknown to it)`, { hint: 'Correct outlets = or the server’s outlet number.' });
    if (relayStates(r).size === 0)
      throw new DeviceReplyError(this.id, `${this.id}: Power${outlet} answered without a POWER state: ${JSON.stringify(r).slice(0, 80)}`, { hint: 'The outlet is re-read to see whether it switched.' });
  }

  async meter(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Reading>> {
    await this.#ensureCount(signal);
    this.#check(outlets);
    const s = await this.#cmnd('Status 10', signal);
    const e = ((s.StatusSNS as Record<string, unknown> | undefined)?.ENERGY ?? {}) as Record<string, unknown>;
    // A scalar value is the meter's one channel: it belongs to an outlet only on a one-relay
    // device (voltage, the mains, is the same for every relay).
    const pick = (v: unknown, n: number, shared = false): number | undefined =>
      Array.isArray(v) ? num(v[n - 1]) : this.#count === 1 || shared ? num(v) : undefined;
    return new Map(
      outlets.map((n) => {
        const watts = pick(e.Power, n);
        const volts = pick(e.Voltage, n, true);
        const amps = pick(e.Current, n);
        const kwh = pick(e.Total, n);
        const r: Reading = {
          ...(watts !== undefined && { watts }),
          ...(volts !== undefined && { volts }),
          ...(amps !== undefined && { amps }),
          ...(kwh !== undefined && { energyWh: Math.round(kwh * 1000 * 1000) / 1000 }),
        };
        return [n, r];
      }),
    );
  }

  info(): DeviceInfo {
    return {
      ...(this.#model && { model: this.#model }),
      ...(this.#firmware && { firmware: this.#firmware }),
      outletNames: new Map(this.#names.slice(0, this.#count).flatMap((n, i) => (n ? [[i + 1, n] as const] : []))),
      details: { address: `${this.#t.host}:${this.#t.port}`, auth: this.#spec.password ? 'web password' : 'none' },
    };
  }

  async close(): Promise<void> {
    // Nothing held open: every command is one HTTP request.
  }
}

export const tasmotaDriver = defineDriver({
  ...tasmotaSketch,
  create: (spec, ctx) => new TasmotaPlug(ctx.id, spec, ctx),
});
