/**
 * Per-device operation queue: at most `concurrency` operations on the wire, each with a
 * timeout; reads retried with backoff; writes never retried blindly (a write that failed may
 * still have landed, so it is verified by a read instead).
 */
import { setMaxListeners } from 'node:events';
import {
  DeviceReplyError,
  OckleError,
  OperationAbortedError,
  OperationTimeoutError,
} from '../errors.js';
import { onAbort, TimeoutGroups } from '../abort.js';
import { sleep as wait } from '../timers.js';

export interface QueueOptions {
  /** How the device is named in messages: `sim "pdu-1"`. */
  readonly device: string;
  readonly concurrency: number;
  readonly timeoutMs: number;
  /** Extra tries for reads. */
  readonly retries: number;
  /** First backoff between read tries; doubles each time (default 200 ms). */
  readonly backoffMs?: number;
  /** How long a slot stays held after a timeout if the driver ignores its signal (default 1000 ms). */
  readonly graceMs?: number;
}

type Op<T> = (signal: AbortSignal) => Promise<T>;


export class DeviceQueue {
  readonly #o: Required<QueueOptions>;
  readonly #waiting: { start: () => void; fail: (e: Error) => void }[] = [];
  readonly #closing = new AbortController();
  readonly #timeouts = new TimeoutGroups(() => new OperationAbortedError());
  #active = 0;

  constructor(o: QueueOptions) {
    this.#o = { backoffMs: 200, graceMs: 1000, ...o, concurrency: Math.max(1, o.concurrency) };
    // Every queued and running operation listens on the queue's close signal.
    setMaxListeners(0, this.#closing.signal);
  }

  get active(): number {
    return this.#active;
  }
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * A read: retried up to `retries` times with backoff (not after an abort). With `withinTimeout`
   * every try and backoff share one `timeout` from the first try on (a poll: the next poll is
   * the next chance, and a device that stopped answering must show as unreachable within one
   * timeout, not `retries + 1` of them).
   */
  async read<T>(label: string, fn: Op<T>, signal?: AbortSignal, o: { withinTimeout?: boolean } = {}): Promise<T> {
    let lastErr: OckleError | undefined;
    const deadline = o.withinTimeout ? performance.now() + this.#o.timeoutMs : Infinity;
    let tries = 0;
    for (let attempt = 0; attempt <= this.#o.retries; attempt++) {
      if (attempt > 0) {
        const backoff = this.#o.backoffMs * 2 ** (attempt - 1);
        // Not worth a try that could not get a tenth of the timeout.
        if (deadline - performance.now() - backoff < this.#o.timeoutMs / 10) break;
        await wait(backoff, this.#any(signal));
      }
      try {
        tries++;
        return await this.#run(label, fn, signal, Math.min(this.#o.timeoutMs, Math.max(1, Math.round(deadline - performance.now()))));
      } catch (err) {
        const e = err as OckleError;
        if (e.code === 'OCKLE_OPERATION_ABORTED') throw e;
        lastErr = e;
      }
    }
    if (tries > 1) lastErr!.message = `${lastErr!.message} (${tries} tries)`;
    throw lastErr!;
  }

  /**
   * A write: sent once. If it fails and `verify` is given, a read decides: when the outlet shows
   * the wanted state the write landed and this resolves; otherwise the original error is thrown.
   */
  async write<T>(label: string, fn: Op<T>, opts: { verify?: Op<boolean>; signal?: AbortSignal } = {}): Promise<T | undefined> {
    try {
      return await this.#run(label, fn, opts.signal);
    } catch (err) {
      const e = err as OckleError;
      if (!opts.verify || e.code === 'OCKLE_OPERATION_ABORTED') throw e;
      let landed = false;
      try {
        landed = await this.read(`verify ${label}`, opts.verify, opts.signal);
      } catch {
        // the verify read failed too: the original error stands
      }
      if (landed) return undefined;
      throw e;
    }
  }

  /** Rejects everything waiting and aborts running operations. */
  close(): void {
    this.#closing.abort();
    for (const w of this.#waiting.splice(0)) w.fail(new OperationAbortedError(`${this.#o.device}: queue closed`));
  }

  #any(signal?: AbortSignal): AbortSignal {
    return signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal;
  }

  async #slot(signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new OperationAbortedError();
    if (this.#active < this.#o.concurrency) {
      this.#active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const entry = {
        start: () => {
          unlink();
          this.#active++;
          resolve();
        },
        fail: reject,
      };
      const unlink = onAbort(signal, () => {
        const i = this.#waiting.indexOf(entry);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(new OperationAbortedError());
      });
      this.#waiting.push(entry);
    });
  }

  #release(): void {
    this.#active--;
    this.#waiting.shift()?.start();
  }

  async #run<T>(label: string, fn: Op<T>, signal?: AbortSignal, timeoutMs = this.#o.timeoutMs): Promise<T> {
    // The caller's signal and the queue's own (closing), listened to directly: an
    // AbortSignal.any per operation was a measurable share of a large sequence's CPU.
    const closing = this.#closing.signal;
    // A free slot is taken at once, without a promise (most operations of a fast device).
    const gate = signal ?? closing;
    if (gate.aborted) throw new OperationAbortedError();
    if (this.#active < this.#o.concurrency) this.#active++;
    else await this.#slot(gate);
    // (A function, not an object with a getter: that literal, made per operation, showed in profiles.)
    const outerAborted = (): boolean => closing.aborted || (signal?.aborted ?? false);
    // Aborted while the slot was being granted: the listener below would never fire.
    if (outerAborted()) {
      this.#release();
      throw new OperationAbortedError(`${this.#o.device}: ${label} aborted`);
    }
    let timedOut = false;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#release();
    };
    let expire = (): void => {};
    // The driver's signal aborts on this operation's timeout, the caller's abort or the queue's
    // close; it is shared with the operations of this queue that start in the same millisecond
    // with the same timeout and caller (src/abort.ts: an AbortSignal each was a measurable
    // share of a large sequence's CPU). Only the operations still pending are timed out.
    const lease = this.#timeouts.join(timeoutMs, [closing, signal], () => expire());
    let op: Promise<T>;
    try {
      op = fn(lease.signal);
    } catch (err) {
      op = Promise.reject(err as Error);
    }
    const raced = new Promise<T>((resolve, reject) => {
      expire = () => {
        timedOut = true;
        reject(
          new OperationTimeoutError(
            this.#o.device.replace(/^.*"(.*)"$/, '$1'),
            `${this.#o.device}: ${label} got no reply within ${timeoutMs} ms`,
            { hint: 'Check the address and the link; raise `timeout` in the device file if the device is slow.' },
          ),
        );
        // A driver that ignores its signal keeps the slot for a grace period only.
        setTimeout(release, this.#o.graceMs).unref();
      };
      op.then(resolve, reject);
    });
    try {
      return await raced;
    } catch (err) {
      if (timedOut) throw err;
      if (outerAborted()) throw new OperationAbortedError(`${this.#o.device}: ${label} aborted`, { cause: err });
      if (err instanceof OckleError) throw err;
      throw new DeviceReplyError(this.#o.device.replace(/^.*"(.*)"$/, '$1'), `${this.#o.device}: ${label} failed: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      lease.release();
      op.then(release, release);
      if (!timedOut) release();
    }
  }
}
