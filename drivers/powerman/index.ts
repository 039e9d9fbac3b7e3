/**
 * `powerman`: every plug a powermand serves (any of the PDUs and BMCs powerman's device scripts
 * drive) as an ockle outlet, over powermand's client protocol (`client.ts`).
 *
 * Outlet N is the N-th node of `nodes =`, or, without it, the N-th node powermand lists
 * (`nodes`, in its host-list order). The node names become the outlets' names. A poll reads
 * every plug with one `status` query (host-range expansion on, so each node is a `303 NODE:
 * on|off|unknown` line); a switch is one `on|off|reset NODE`, which powermand answers
 * only once its device script ran; the core then confirms it by reading back.
 */
import type { Infer } from '../../src/config/types.js';
import { DeviceRefusedError, UnknownOutletError } from '../../src/errors.js';
import { defineDriver, type DeviceInfo, type OutletCaps, type OutletDevice, type Power, type SwitchAction } from '../types.js';
import { PowermanClient, type PmReply } from './client.js';
import { powermanSketch, powermanTemplate } from './definition.js';

export { powermanTemplate };

type Spec = Infer<typeof powermanTemplate>;

const POWER: Readonly<Record<string, Power>> = { on: 'on', off: 'off', unknown: 'unknown' };

export class PowermanOutlets implements OutletDevice {
  readonly #spec: Spec;
  readonly #client: PowermanClient;
  #nodes: readonly string[];
  #devices: string[] = [];

  constructor(
    readonly id: string,
    spec: Spec,
  ) {
    this.#spec = spec;
    this.#nodes = spec.nodes ?? [];
    this.#client = new PowermanClient(id, spec.host, spec.port, spec.request_timeout);
  }

  get caps(): OutletCaps {
    // powermand answers `cycle` only once the whole cycle is over, so the off phase could not be
    // seen by a read: the core's cycle (off, confirmed, cycle_delay, on, confirmed) is used instead.
    return { cycle: false, reset: this.#spec.reset, metering: false, bulkRead: true, readBack: 'real', maxConcurrency: 1 };
  }

  get outletCount(): number {
    return this.#nodes.length;
  }

  /** Commands sent to powermand so far (tests count round trips with it). */
  get commands(): number {
    return this.#client.commands;
  }

  async open(signal: AbortSignal): Promise<void> {
    const listed = await this.#query('nodes', signal);
    const names = listed.info.filter((i) => i.code === 307).map((i) => i.text.trim());
    if (this.#spec.nodes) {
      const unknown = this.#spec.nodes.filter((n) => !names.includes(n));
      if (unknown.length > 0)
        throw new DeviceRefusedError(this.id, `${this.id}: powermand has no node ${unknown.map((n) => `"${n}"`).join(', ')} (it has ${names.length > 0 ? names.join(', ') : 'none'})`, {
          hint: 'Correct nodes = to names from `pm -l`, or add the node to powerman.conf.',
        });
    } else this.#nodes = Object.freeze(names);
    const devs = await this.#query('device', signal);
    this.#devices = devs.info
      .filter((i) => i.code === 304)
      .map((i) => {
        const m = /^(\S+): state=(\S+).* type=(\S+)/.exec(i.text);
        return m ? `${m[1]} (${m[3]}, ${m[2]})` : i.text;
      });
  }

  /** A query; a command powermand does not know is a reply error, the rest is the caller's. */
  async #query(command: string, signal: AbortSignal): Promise<PmReply> {
    const r = await this.#client.request(command, signal);
    if (r.code === 201 || r.code === 202) throw this.#client.failure(command, r);
    return r;
  }

  #node(outlet: number): string {
    const n = this.#nodes[outlet - 1];
    if (!Number.isInteger(outlet) || n === undefined) throw new UnknownOutletError(this.id, outlet, this.#nodes.length);
    return n;
  }

  async read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>> {
    if (this.#nodes.length === 0 && outlets.length > 0) await this.open(signal);
    const wanted = outlets.map((o) => this.#node(o));
    if (outlets.length === 0) return new Map();
    // Every node: one `status`; some: by name (powermand then asks only their controllers).
    const command = new Set(wanted).size === this.#nodes.length ? 'status' : `status ${[...new Set(wanted)].join(',')}`;
    const r = await this.#query(command, signal);
    // 211: some device did not answer; its nodes read unknown, the others are true.
    if (r.code !== 103 && r.code !== 211) throw this.#refusal(command, r);
    const seen = new Map<string, Power>();
    for (const i of r.info) {
      if (i.code !== 303) continue;
      const m = /^(.+): (\S+)$/.exec(i.text);
      if (m) seen.set(m[1]!, POWER[m[2]!] ?? 'unknown');
    }
    return new Map(outlets.map((o, k) => [o, seen.get(wanted[k]!) ?? 'unknown']));
  }

  async switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    if (this.#nodes.length === 0) await this.open(signal);
    const node = this.#node(outlet);
    if (action === 'cycle')
      throw new DeviceRefusedError(this.id, `${this.id}: cycle is switched as off, then on, by the gateway; nothing was sent`, { hint: 'caps.cycle is false for powerman devices.' });
    if (action === 'reset' && !this.#spec.reset)
      throw new DeviceRefusedError(this.id, `${this.id}: reset is not enabled for this powerman device; nothing was sent`, { hint: 'Set reset = true when the devices behind these nodes support it.' });
    const command = `${action} ${node}`;
    const r = await this.#client.request(command, signal);
    if (r.code !== 102) throw this.#refusal(command, r);
  }

  #refusal(command: string, r: PmReply): Error {
    if (r.code === 209)
      return new DeviceRefusedError(this.id, `${this.id}: powermand has no such node in "${command}" (${r.text})`, { hint: 'The node left powerman.conf: correct nodes = (see `pm -l`); nothing was switched.' });
    if (r.code === 213)
      return new DeviceRefusedError(this.id, `${this.id}: the power controller behind "${command}" cannot do that (${r.text})`, { hint: 'Its powerman device script has no such action; nothing was switched.' });
    return this.#client.failure(command, r);
  }

  info(): DeviceInfo {
    return {
      model: `powerman ${this.#client.version || '?'}`,
      outletNames: new Map(this.#nodes.map((n, i) => [i + 1, n])),
      details: { server: `${this.#spec.host}:${this.#spec.port}`, devices: this.#devices.join(', ') || '?' },
    };
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}

export const powermanDriver = defineDriver({
  ...powermanSketch,
  create: (spec, ctx) => new PowermanOutlets(ctx.id, spec),
});
