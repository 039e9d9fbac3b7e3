/** How an action's jobs ended, as one status and error for its journal record. */
import { toOckleError } from '../errors.js';

/** An action's result from its jobs': cancelled when every failure is an abort, failed otherwise; the first real error, with how many more. */
export function outcome(results: readonly PromiseSettledResult<unknown>[]): { status: 'ok' | 'failed' | 'cancelled'; error?: { code: string; message: string } } {
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => toOckleError(r.reason));
  if (failures.length === 0) return { status: 'ok' };
  const first = failures.find((f) => f.code !== 'OCKLE_OPERATION_ABORTED') ?? failures[0]!;
  return {
    status: failures.every((f) => f.code === 'OCKLE_OPERATION_ABORTED') ? 'cancelled' : 'failed',
    error: { code: first.code, message: failures.length === 1 ? first.message : `${first.message} (and ${failures.length - 1} more)` },
  };
}
