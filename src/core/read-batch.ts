/**
 * Reads of a device gathered per turn of the event loop (LabState.readDevice): every read of one
 * device asked for in the same turn under the same signal goes out as one read of all their
 * outlets when the turn ends (one round trip where the protocol allows), and each caller gets
 * the whole answer, or the error. A wave of a sequence re-reads and confirms dozens of outlets
 * of each PDU at once; one operation each (a queue slot, a timeout, an abort signal, a round
 * trip) was the largest share of a thousand-server sequence's CPU. Reads of different signals
 * are not merged, so one caller's cancel never aborts another's read.
 */
import type { Power } from '../../drivers/types.js';
import type { DeviceSlot } from './slots.js';

interface ReadBatch {
  readonly slot: DeviceSlot;
  readonly signal: AbortSignal;
  readonly withinTimeout: boolean;
  readonly outlets: number[];
  readonly result: Promise<ReadonlyMap<number, Power>>;
  resolve(map: ReadonlyMap<number, Power>): void;
  reject(err: unknown): void;
}

export class ReadBatches {
  /** Reads asked for in this turn, not sent yet. */
  readonly #reads: ReadBatch[] = [];

  /** `withinTimeout`: one timeout for all tries (see DeviceQueue.read), as a decision's read has. */
  read(slot: DeviceSlot, outlets: readonly number[], signal: AbortSignal, withinTimeout: boolean): Promise<ReadonlyMap<number, Power>> {
    let b = this.#reads.find((r) => r.slot === slot && r.signal === signal && r.withinTimeout === withinTimeout);
    if (!b) {
      let settle!: Pick<ReadBatch, 'resolve' | 'reject'>;
      const result = new Promise<ReadonlyMap<number, Power>>((resolve, reject) => (settle = { resolve, reject }));
      b = { slot, signal, withinTimeout, outlets: [], result, ...settle };
      if (this.#reads.push(b) === 1) setImmediate(() => this.#send());
    }
    for (const n of outlets) if (!b.outlets.includes(n)) b.outlets.push(n);
    return b.result;
  }

  #send(): void {
    for (const b of this.#reads.splice(0)) {
      const { slot, outlets: ns } = b;
      const what = `read outlet${ns.length > 1 ? 's' : ''} ${ns.join(', ')}`;
      slot.d.queue.read(what, (sg) => slot.d.device.read(ns, sg), b.signal, { withinTimeout: b.withinTimeout }).then(b.resolve, b.reject);
    }
  }
}
