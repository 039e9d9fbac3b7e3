/**
 * A server's operation state, derived in one pure function from what its objects read and
 * from its last action. Reality wins over history: a server whose outlets all read off is OFF
 * whatever was asked before, unless the last action failed to reach what it asked for.
 *
 * | running action            | outlets        | tests              | last finished action      | state                        |
 * |---------------------------|----------------|--------------------|---------------------------|------------------------------|
 * | on / cycle                | any            | any                | –                         | SWITCHING_ON                 |
 * | off                       | any            | any                | –                         | SWITCHING_OFF                |
 * | –                         | some unknown   | any                | any                       | UNKNOWN                      |
 * | –                         | none           | all passed         | any                       | OK                           |
 * | –                         | none           | all failed         | any                       | OFF                          |
 * | –                         | none           | some not run       | any                       | UNKNOWN                      |
 * | –                         | all on         | any                | off failed (permanent)    | (PERMANENTLY_)FAILED_TO_STOP |
 * | –                         | all on         | any                | forced on, ok             | FORCED_ON                    |
 * | –                         | all on         | none / all passed  | other                     | OK                           |
 * | –                         | all on         | some failed        | on/cycle failed (perm.)   | (PERMANENTLY_)FAILED_TO_START|
 * | –                         | all on         | some failed        | other                     | NOT_SERVING                  |
 * | –                         | all on         | some not run       | other                     | UNKNOWN                      |
 * | –                         | all off        | any                | forced off, ok            | FORCED_OFF                   |
 * | –                         | all off        | any                | on/cycle failed (perm.)   | (PERMANENTLY_)FAILED_TO_START|
 * | –                         | all off        | any                | other                     | OFF                          |
 * | –                         | mixed          | any                | off failed (perm.)        | (PERMANENTLY_)FAILED_TO_STOP |
 * | –                         | mixed          | any                | on/cycle failed (perm.)   | (PERMANENTLY_)FAILED_TO_START|
 * | –                         | mixed          | any                | other                     | UNKNOWN (partially powered)  |
 *
 * Cancelled and interrupted actions are ignored (state follows reality).
 */
import type { Power } from '../../drivers/types.js';
import type { ActionKind, ActionStatus, OpState, TestState } from './model.js';

export interface LastAction {
  readonly kind: ActionKind;
  readonly force: boolean;
  readonly phase: 'running' | 'finished';
  readonly result?: Exclude<ActionStatus, 'running'>;
  /** The sequencer gave up after max_attempts. */
  readonly permanent?: boolean;
}

export interface DeriveInput {
  readonly outlets: readonly Power[];
  readonly tests: readonly TestState[];
  readonly action: LastAction | null;
  /** Devices of this server that do not answer. */
  readonly unreachable?: readonly string[];
  /** Per outlet: its device cannot report (assumed read-back), so `unknown` means "not switched since it reconnected". */
  readonly assumed?: readonly boolean[];
  /** Names for the reason text, in the same order as `outlets` and `tests`. */
  readonly names?: { readonly outlets?: readonly string[]; readonly tests?: readonly string[] };
}

export interface Derived {
  readonly state: OpState;
  readonly reason: string;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The states of a running action, made once (a sequence derives each server ~ten times while it runs). */
const RUNNING = new Map<string, Derived>();

/**
 * A server under a running action: its state follows the action alone, whatever its outlets and
 * tests read (the first row of the table), so nothing else needs to be gathered to derive it.
 */
export function runningState(a: LastAction): Derived {
  const key = `${a.kind}${a.force ? '!' : ''}`;
  let d = RUNNING.get(key);
  if (!d) {
    d =
      a.kind === 'shutdown'
        ? { state: 'SWITCHING_OFF', reason: 'OS shutdown in progress (the power stays on)' }
        : a.kind === 'off'
          ? { state: 'SWITCHING_OFF', reason: `${a.force ? 'forced ' : ''}off in progress` }
          : { state: 'SWITCHING_ON', reason: `${a.force ? 'forced ' : ''}${a.kind} in progress` };
    RUNNING.set(key, Object.freeze(d));
  }
  return d;
}

export function deriveServerState(i: DeriveInput): Derived {
  const a = i.action;
  if (a?.phase === 'running') return runningState(a);
  const outletName = (k: number): string => i.names?.outlets?.[k] ?? `outlet ${k + 1}`;
  const testName = (k: number): string => i.names?.tests?.[k] ?? `test ${k + 1}`;
  // Only actions that ran to an end say anything about the server.
  const last = a && (a.result === 'ok' || a.result === 'failed') ? a : null;
  const failed = (kinds: readonly ActionKind[]): boolean => last?.result === 'failed' && kinds.includes(last.kind);
  const failedStart = (): Derived => ({
    state: last?.permanent ? 'PERMANENTLY_FAILED_TO_START' : 'FAILED_TO_START',
    reason: `${last?.kind ?? 'on'} failed${last?.permanent ? ', gave up' : ''}`,
  });
  const failedStop = (): Derived => ({
    state: last?.permanent ? 'PERMANENTLY_FAILED_TO_STOP' : 'FAILED_TO_STOP',
    reason: `${last?.kind === 'shutdown' ? 'OS shutdown' : 'off'} failed${last?.permanent ? ', gave up' : ''}`,
  });

  const unknownIdx = i.outlets.flatMap((p, k) => (p === 'unknown' ? [k] : []));
  if (unknownIdx.length > 0) {
    const reason =
      i.unreachable && i.unreachable.length > 0
        ? `${i.unreachable.join(', ')} unreachable`
        : unknownIdx.every((k) => i.assumed?.[k])
          ? `${unknownIdx.map(outletName).join(', ')} unknown: the board cannot report its relays (switch ${unknownIdx.length === 1 ? 'it' : 'them'} to make ${unknownIdx.length === 1 ? 'it' : 'them'} known)`
          : `${unknownIdx.map(outletName).join(', ')} not read yet`;
    return { state: 'UNKNOWN', reason };
  }
  // A PDU reporting a command pending (APC, Eaton, HPE, Sentry): neither on nor off yet.
  const switchingIdx = i.outlets.flatMap((p, k) => (p === 'switching' ? [k] : []));
  if (switchingIdx.length > 0) return { state: 'UNKNOWN', reason: `${switchingIdx.map(outletName).join(', ')} switching (command pending on the device)` };

  const failedTests = i.tests.flatMap((t, k) => (t === 'FAILED' ? [testName(k)] : []));
  const notRun = i.tests.filter((t) => t === 'NOT_RUN').length;
  const testSummary =
    i.tests.length === 0
      ? 'no tests'
      : failedTests.length > 0
        ? `${failedTests.join(', ')} ${failedTests.length === 1 ? 'fails' : 'fail'}`
        : notRun > 0
          ? `${plural(notRun, 'test')} not run yet`
          : `${i.tests.length}/${i.tests.length} tests pass`;

  if (i.outlets.length === 0) {
    if (i.tests.length > 0 && failedTests.length === 0 && notRun === 0) return { state: 'OK', reason: `no outlets; ${testSummary}` };
    if (i.tests.length > 0 && failedTests.length === i.tests.length) return { state: 'OFF', reason: `no outlets; ${testSummary}` };
    return { state: 'UNKNOWN', reason: i.tests.length === 0 ? 'no outlets and no tests' : `no outlets; ${testSummary}` };
  }

  const on = i.outlets.filter((p) => p === 'on').length;
  if (on === i.outlets.length) {
    if (failed(['off', 'shutdown'])) return failedStop();
    if (last?.force && last.kind !== 'off' && last.result === 'ok') return { state: 'FORCED_ON', reason: `forced on; ${testSummary}` };
    if (failedTests.length > 0) {
      if (failed(['on', 'cycle', 'reset'])) return failedStart();
      if (last?.kind === 'shutdown' && last.result === 'ok') return { state: 'NOT_SERVING', reason: `its OS was shut down (the power is on); ${testSummary}` };
      // Nothing is starting it and nothing failed to: say what is true, not "failed to start".
      return { state: 'NOT_SERVING', reason: `powered, but ${testSummary}; no action running` };
    }
    if (notRun > 0) return { state: 'UNKNOWN', reason: `powered, ${testSummary}` };
    return { state: 'OK', reason: `powered; ${testSummary}` };
  }
  if (on === 0) {
    if (last?.force && last.kind === 'off' && last.result === 'ok') return { state: 'FORCED_OFF', reason: 'forced off' };
    if (failed(['on', 'cycle', 'reset'])) return failedStart();
    return { state: 'OFF', reason: `${i.outlets.length === 1 ? 'outlet' : 'all outlets'} off` };
  }
  if (failed(['off', 'shutdown'])) return failedStop();
  if (failed(['on', 'cycle', 'reset'])) return failedStart();
  const parts = i.outlets.map((p, k) => `${outletName(k)} ${p}`);
  return { state: 'UNKNOWN', reason: `partially powered: ${parts.join(', ')}` };
}
