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

type Last = LastAction | null;
const START_KINDS: readonly ActionKind[] = ['on', 'cycle', 'reset'];
const STOP_KINDS: readonly ActionKind[] = ['off', 'shutdown'];
const failedOf = (last: Last, kinds: readonly ActionKind[]): boolean => last?.result === 'failed' && kinds.includes(last.kind);
const failedStart = (last: Last): Derived => ({
  state: last?.permanent ? 'PERMANENTLY_FAILED_TO_START' : 'FAILED_TO_START',
  reason: `${last?.kind ?? 'on'} failed${last?.permanent ? ', gave up' : ''}`,
});
const failedStop = (last: Last): Derived => ({
  state: last?.permanent ? 'PERMANENTLY_FAILED_TO_STOP' : 'FAILED_TO_STOP',
  reason: `${last?.kind === 'shutdown' ? 'OS shutdown' : 'off'} failed${last?.permanent ? ', gave up' : ''}`,
});
const outletName = (i: DeriveInput, k: number): string => i.names?.outlets?.[k] ?? `outlet ${k + 1}`;
const testName = (i: DeriveInput, k: number): string => i.names?.tests?.[k] ?? `test ${k + 1}`;
/** "n/n tests pass", made once per n (most servers have one or two tests, and pass). */
const ALL_PASS: string[] = [];

/** What the tests say, in words: `failed` and `notRun` counted by the caller. */
function testSummary(i: DeriveInput, failed: number, notRun: number): string {
  const n = i.tests.length;
  if (n === 0) return 'no tests';
  if (failed > 0) {
    const names: string[] = [];
    i.tests.forEach((t, k) => t === 'FAILED' && names.push(testName(i, k)));
    return `${names.join(', ')} ${failed === 1 ? 'fails' : 'fail'}`;
  }
  if (notRun > 0) return `${plural(notRun, 'test')} not run yet`;
  return (ALL_PASS[n] ??= `${n}/${n} tests pass`);
}

/**
 * The table above, in one pass over outlets and tests, and the reason's words made only for the
 * row that applies: a sequence derives each server ~ten times while it runs, a thousand servers
 * at once, and closures, arrays and sentences made for rows not taken were a tenth of what it
 * allocated.
 */
export function deriveServerState(i: DeriveInput): Derived {
  const a = i.action;
  if (a?.phase === 'running') return runningState(a);
  // Only actions that ran to an end say anything about the server.
  const last = a && (a.result === 'ok' || a.result === 'failed') ? a : null;
  let on = 0;
  let unknown = 0;
  let switching = 0;
  for (const p of i.outlets) {
    if (p === 'on') on++;
    else if (p === 'unknown') unknown++;
    else if (p === 'switching') switching++;
  }
  if (unknown > 0) {
    const unknownIdx = i.outlets.flatMap((p, k) => (p === 'unknown' ? [k] : []));
    const names = (): string => unknownIdx.map((k) => outletName(i, k)).join(', ');
    const reason =
      i.unreachable && i.unreachable.length > 0
        ? `${i.unreachable.join(', ')} unreachable`
        : unknownIdx.every((k) => i.assumed?.[k])
          ? `${names()} unknown: the board cannot report its relays (switch ${unknownIdx.length === 1 ? 'it' : 'them'} to make ${unknownIdx.length === 1 ? 'it' : 'them'} known)`
          : `${names()} not read yet`;
    return { state: 'UNKNOWN', reason };
  }
  // A PDU reporting a command pending (APC, Eaton, HPE, Sentry): neither on nor off yet.
  if (switching > 0) {
    const names = i.outlets.flatMap((p, k) => (p === 'switching' ? [outletName(i, k)] : []));
    return { state: 'UNKNOWN', reason: `${names.join(', ')} switching (command pending on the device)` };
  }
  let failed = 0;
  let notRun = 0;
  for (const t of i.tests) {
    if (t === 'FAILED') failed++;
    else if (t === 'NOT_RUN') notRun++;
  }
  const nTests = i.tests.length;

  if (i.outlets.length === 0) {
    const summary = testSummary(i, failed, notRun);
    if (nTests > 0 && failed === 0 && notRun === 0) return { state: 'OK', reason: `no outlets; ${summary}` };
    if (nTests > 0 && failed === nTests) return { state: 'OFF', reason: `no outlets; ${summary}` };
    return { state: 'UNKNOWN', reason: nTests === 0 ? 'no outlets and no tests' : `no outlets; ${summary}` };
  }

  if (on === i.outlets.length) {
    if (failedOf(last, STOP_KINDS)) return failedStop(last);
    if (last?.force && last.kind !== 'off' && last.result === 'ok') return { state: 'FORCED_ON', reason: `forced on; ${testSummary(i, failed, notRun)}` };
    if (failed > 0) {
      if (failedOf(last, START_KINDS)) return failedStart(last);
      if (last?.kind === 'shutdown' && last.result === 'ok') return { state: 'NOT_SERVING', reason: `its OS was shut down (the power is on); ${testSummary(i, failed, notRun)}` };
      // Nothing is starting it and nothing failed to: say what is true, not "failed to start".
      return { state: 'NOT_SERVING', reason: `powered, but ${testSummary(i, failed, notRun)}; no action running` };
    }
    if (notRun > 0) return { state: 'UNKNOWN', reason: `powered, ${testSummary(i, failed, notRun)}` };
    return { state: 'OK', reason: `powered; ${testSummary(i, failed, notRun)}` };
  }
  if (on === 0) {
    if (last?.force && last.kind === 'off' && last.result === 'ok') return { state: 'FORCED_OFF', reason: 'forced off' };
    if (failedOf(last, START_KINDS)) return failedStart(last);
    return { state: 'OFF', reason: i.outlets.length === 1 ? 'outlet off' : 'all outlets off' };
  }
  if (failedOf(last, STOP_KINDS)) return failedStop(last);
  if (failedOf(last, START_KINDS)) return failedStart(last);
  const parts = i.outlets.map((p, k) => `${outletName(i, k)} ${p}`);
  return { state: 'UNKNOWN', reason: `partially powered: ${parts.join(', ')}` };
}
