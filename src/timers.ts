/** Waits `ms`; rejects with OperationAbortedError as soon as `signal` aborts. */
import { onAbort as whenAborted } from './abort.js';
import { OperationAbortedError } from './errors.js';

/** The longest wait one Node timer holds; longer ones fire after 1 ms, so they are sliced. */
export const TIMER_MAX_MS = 2_147_483_647;

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new OperationAbortedError());
    let left = Math.max(0, ms);
    let t: NodeJS.Timeout;
    const unlink = signal
      ? whenAborted(signal, () => {
          clearTimeout(t);
          reject(new OperationAbortedError());
        })
      : undefined;
    const arm = (): void => {
      const slice = Math.min(left, TIMER_MAX_MS);
      left -= slice;
      t = setTimeout(() => {
        if (left > 0) return arm();
        unlink?.();
        resolve();
      }, slice);
    };
    arm();
  });
}

/**
 * Milliseconds on a clock that never steps: it follows the time since the process started, not
 * the wall clock (which NTP may step back or forward, e.g. on a Pi after a power cut).
 */
export function monotonicNow(): number {
  return performance.timeOrigin + performance.now();
}
