import { describe, expect, it } from 'vitest';
import type { Power } from '../../drivers/types.js';
import type { OpState, TestState } from '../../src/core/model.js';
import { deriveServerState, type LastAction } from '../../src/core/op-state.js';

const on = (kind: LastAction['kind'], result: LastAction['result'], force = false, permanent = false): LastAction => ({
  kind,
  force,
  phase: 'finished',
  result,
  permanent,
});
const running = (kind: LastAction['kind']): LastAction => ({ kind, force: false, phase: 'running' });

type Row = [string, Power[], TestState[], LastAction | null, OpState];
const ROWS: Row[] = [
  ['running on', ['off'], [], running('on'), 'SWITCHING_ON'],
  ['running cycle', ['on'], ['PASSED'], running('cycle'), 'SWITCHING_ON'],
  ['running off', ['on'], ['PASSED'], running('off'), 'SWITCHING_OFF'],
  ['an outlet not read', ['on', 'unknown'], ['PASSED'], null, 'UNKNOWN'],
  ['no outlets, tests pass', [], ['PASSED', 'PASSED'], null, 'OK'],
  ['no outlets, tests fail', [], ['FAILED'], null, 'OFF'],
  ['no outlets, tests not run', [], ['NOT_RUN'], null, 'UNKNOWN'],
  ['no outlets, no tests', [], [], null, 'UNKNOWN'],
  ['powered, tests pass', ['on', 'on'], ['PASSED'], null, 'OK'],
  ['powered, no tests', ['on'], [], null, 'OK'],
  ['powered, tests not run', ['on'], ['NOT_RUN', 'PASSED'], null, 'UNKNOWN'],
  ['powered, a test fails, nothing starting it', ['on'], ['PASSED', 'FAILED'], null, 'NOT_SERVING'],
  ['powered, a test fails after a successful on', ['on'], ['FAILED'], { kind: 'on', force: false, phase: 'finished', result: 'ok' }, 'NOT_SERVING'],
  ['powered, a test fails after a cancelled off', ['on'], ['FAILED'], { kind: 'off', force: false, phase: 'finished', result: 'cancelled' }, 'NOT_SERVING'],
  ['powered after a failed on', ['on'], ['FAILED'], on('on', 'failed'), 'FAILED_TO_START'],
  ['powered after giving up', ['on'], ['FAILED'], on('on', 'failed', false, true), 'PERMANENTLY_FAILED_TO_START'],
  ['forced on', ['on'], ['FAILED'], on('on', 'ok', true), 'FORCED_ON'],
  ['forced cycle ends forced on', ['on'], ['PASSED'], on('cycle', 'ok', true), 'FORCED_ON'],
  ['still on after a failed off', ['on'], ['PASSED'], on('off', 'failed'), 'FAILED_TO_STOP'],
  ['still on after giving up off', ['on'], ['PASSED'], on('off', 'failed', false, true), 'PERMANENTLY_FAILED_TO_STOP'],
  ['all off', ['off', 'off'], ['FAILED'], null, 'OFF'],
  ['forced off', ['off'], ['FAILED'], on('off', 'ok', true), 'FORCED_OFF'],
  ['off after a sequenced off', ['off'], ['FAILED'], on('off', 'ok'), 'OFF'],
  ['off after a failed on', ['off'], ['FAILED'], on('on', 'failed'), 'FAILED_TO_START'],
  ['partially powered', ['on', 'off'], ['PASSED'], null, 'UNKNOWN'],
  ['partial after a failed off', ['on', 'off'], ['PASSED'], on('off', 'failed'), 'FAILED_TO_STOP'],
  ['partial after a failed on', ['on', 'off'], ['FAILED'], on('on', 'failed', false, true), 'PERMANENTLY_FAILED_TO_START'],
  ['a cancelled action is ignored', ['on'], ['PASSED'], on('off', 'cancelled'), 'OK'],
  ['an interrupted action is ignored', ['off'], ['FAILED'], on('on', 'interrupted'), 'OFF'],
  ['reality wins: a failed off that is now off', ['off'], ['FAILED'], on('off', 'failed'), 'OFF'],
];

describe('deriveServerState', () => {
  it.each(ROWS)('%s → %s', (_name, outlets, tests, action, state) => {
    expect(deriveServerState({ outlets, tests, action }).state).toBe(state);
  });

  it('names the unreachable device in the reason', () => {
    expect(deriveServerState({ outlets: ['unknown'], tests: [], action: null, unreachable: ['pdu-b'] })).toEqual({
      state: 'UNKNOWN',
      reason: 'pdu-b unreachable',
    });
  });

  it('says an unknown relay of a board that cannot report is unknown until switched, not "not read yet"', () => {
    const names = { outlets: ['relay'] };
    expect(deriveServerState({ outlets: ['unknown'], tests: [], action: null, assumed: [true], names }).reason).toBe(
      'relay unknown: the board cannot report its relays (switch it to make it known)',
    );
    expect(deriveServerState({ outlets: ['unknown'], tests: [], action: null, assumed: [false], names }).reason).toBe('relay not read yet');
  });

  it('names the failing test and the partial outlets in the reason', () => {
    const names = { outlets: ['psu-a', 'psu-b'], tests: ['ping', 'nfs'] };
    expect(deriveServerState({ outlets: ['on', 'on'], tests: ['PASSED', 'FAILED'], action: null, names }).reason).toBe('powered, but nfs fails; no action running');
    expect(deriveServerState({ outlets: ['on', 'off'], tests: [], action: null, names }).reason).toBe('partially powered: psu-a on, psu-b off');
  });
});
