/** Waits `ms`; rejects with OperationAbortedError as soon as `signal` aborts. */
import { OperationAbortedError } from './errors.js';

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new OperationAbortedError());
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new OperationAbortedError());
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
