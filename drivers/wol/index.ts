/**
 * `wol`: Wake-on-LAN as an on-only outlet for a machine without a switched outlet. "On" sends
 * the magic packet (6 × 0xFF, then the MAC 16 times: AMD's "Magic Packet Technology" white
 * paper) by UDP to a configured broadcast address and port. "Off" is refused: only the server's
 * controls (an OS shutdown) can take such a machine down, and a cycle or reset, which need an
 * off, are refused the same way. Nothing is sent on open, read or close.
 *
 * The packet gets no answer, so the outlet cannot be read: its read-back is `assumed`, and it
 * reads what ockle last sent: `on` once a packet went out since the daemon started, `unknown`
 * before (a restart forgets it, as nothing proves the machine's state). Whether the machine
 * really woke is what the server's tests show.
 */
import { createSocket } from 'node:dgram';
import type { Infer } from '../../src/config/types.js';
import { DeviceRefusedError, DeviceUnreachableError, OperationAbortedError, UnknownOutletError } from '../../src/errors.js';
import { defineDriver, type DeviceInfo, type OutletCaps, type OutletDevice, type Power, type SwitchAction } from '../types.js';
import { wolSketch, wolTemplate } from './definition.js';

export { wolTemplate };


type Spec = Infer<typeof wolTemplate>;

/** The magic packet for `mac`: 6 bytes 0xFF, then the 6-byte MAC 16 times (102 bytes). */
export function magicPacket(mac: string): Buffer {
  const m = Buffer.from(mac.replace(/[:-]/g, ''), 'hex');
  return Buffer.concat([Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => m)]);
}

export class WakeOnLan implements OutletDevice {
  readonly outletCount = 1;
  readonly #spec: Spec;
  readonly #packet: Buffer;
  /** Whether a packet went out since this device was made (the daemon started or reloaded it). */
  #sent = false;
  #lastSentAt: string | undefined;

  constructor(
    readonly id: string,
    spec: Spec,
  ) {
    this.#spec = spec;
    this.#packet = magicPacket(spec.mac);
  }

  get caps(): OutletCaps {
    return { cycle: false, reset: false, metering: false, bulkRead: false, readBack: 'assumed', maxConcurrency: 1, onOnly: true };
  }

  async open(signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new OperationAbortedError();
    // Nothing to connect to, and nothing may be sent: opening never wakes a machine.
  }

  #check(outlets: readonly number[]): void {
    for (const n of outlets) if (n !== 1) throw new UnknownOutletError(this.id, n, 1);
  }

  async read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>> {
    this.#check(outlets);
    if (signal.aborted) throw new OperationAbortedError();
    return new Map(outlets.map((n) => [n, this.#sent ? 'on' : 'unknown']));
  }

  async switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    this.#check([outlet]);
    if (signal.aborted) throw new OperationAbortedError();
    if (action !== 'on')
      throw new DeviceRefusedError(this.id, `${this.id}: Wake-on-LAN can only switch a machine on; "${action}" is refused and nothing was sent`, {
        hint: 'A machine woken by LAN goes down through its server’s controls (ssh, ipmi-soft, command): `ockle off SERVER` runs them.',
      });
    await this.#send(signal);
    this.#sent = true;
    this.#lastSentAt = new Date().toISOString();
  }

  async #send(signal: AbortSignal): Promise<void> {
    const { broadcast, port, packets } = this.#spec;
    const sock = createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(0, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      sock.setBroadcast(true);
      for (let i = 0; i < packets; i++) {
        if (signal.aborted) throw new OperationAbortedError();
        await new Promise<void>((resolve, reject) => sock.send(this.#packet, port, broadcast, (err) => (err ? reject(err) : resolve())));
      }
    } catch (err) {
      if (err instanceof OperationAbortedError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new DeviceUnreachableError(this.id, `${this.id}: magic packet to ${broadcast}:${port} not sent: ${e.code ?? e.message}`, {
        hint: 'Check broadcast = is an address of a network this machine is on (ENETUNREACH: no route to it).',
      });
    } finally {
      sock.close();
    }
  }

  info(): DeviceInfo {
    return {
      model: 'Wake-on-LAN',
      details: { mac: this.#spec.mac.toLowerCase(), target: `${this.#spec.broadcast}:${this.#spec.port}`, lastSent: this.#lastSentAt ?? 'never since start' },
    };
  }

  async close(): Promise<void> {
    // No socket is kept between packets.
  }
}

export const wolDriver = defineDriver({
  ...wolSketch,
  create: (spec, ctx) => new WakeOnLan(ctx.id, spec),
});
