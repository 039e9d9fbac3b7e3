/**
 * Every OckleError subclass carries its code, its HTTP status and a hint, and serialises
 * without a stack. (docs/errors.md sync and the code format are checked in docs.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import * as errors from '../src/errors.js';
import { ERROR_CODES, OckleError, type ErrorCode } from '../src/errors.js';

type Factory = { code: ErrorCode; make: () => OckleError };

/** One way to build each exported subclass; the first test makes sure none is missing here. */
const FACTORIES: Record<string, Factory> = {
  ConfigError: {
    code: 'OCKLE_CONFIG_INVALID',
    make: () => new errors.ConfigError([{ file: 'ockle.ini', line: 3, key: 'port', message: 'port must be 0–65535', severity: 'error' }]),
  },
  DependencyCycleError: { code: 'OCKLE_TREE_CYCLE', make: () => new errors.DependencyCycleError(['a', 'b', 'a']) },
  UnknownServerError: { code: 'OCKLE_TREE_UNKNOWN_SERVER', make: () => new errors.UnknownServerError('web-9', ['web-1']) },
  DeviceError: { code: 'OCKLE_DEVICE_REPLY', make: () => new errors.DeviceError('OCKLE_DEVICE_REPLY', 'pdu-a', 'odd reply') },
  DeviceUnreachableError: { code: 'OCKLE_DEVICE_UNREACHABLE', make: () => new errors.DeviceUnreachableError('pdu-a', 'no answer from 127.0.0.1:161') },
  DeviceReplyError: { code: 'OCKLE_DEVICE_REPLY', make: () => new errors.DeviceReplyError('pdu-a', 'outlet state 7 is not on/off') },
  DeviceRefusedError: { code: 'OCKLE_DEVICE_REFUSED', make: () => new errors.DeviceRefusedError('pdu-a', 'write community rejected') },
  OperationTimeoutError: { code: 'OCKLE_DEVICE_TIMEOUT', make: () => new errors.OperationTimeoutError('pdu-a', 'no answer in 5 s') },
  ControlError: { code: 'OCKLE_CONTROL_FAILED', make: () => new errors.ControlError('ssh: exit code 1: sudo: a password is required') },
  ControlTimeoutError: { code: 'OCKLE_CONTROL_TIMEOUT', make: () => new errors.ControlTimeoutError('no answer within timeout 30000 ms') },
  SnmpError: {
    code: 'OCKLE_DEVICE_REFUSED',
    make: () => new errors.SnmpError('OCKLE_DEVICE_REFUSED', 'pdu-a', 'pdu-a: agent answered noAccess', { oid: '1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.3', outlet: 3, snmpStatus: 'noAccess', hint: 'Check write_community.' }),
  },
  UnknownOutletError: { code: 'OCKLE_DEVICE_UNKNOWN_OUTLET', make: () => new errors.UnknownOutletError('pdu-a', 9, 8) },
  OperationAbortedError: { code: 'OCKLE_OPERATION_ABORTED', make: () => new errors.OperationAbortedError() },
  ActionBusyError: { code: 'OCKLE_ACTION_BUSY', make: () => new errors.ActionBusyError('vm-1', 'a1') },
  RequestValidationError: { code: 'OCKLE_REQUEST_INVALID', make: () => new errors.RequestValidationError('body.server must be a string') },
  ServerBlockedError: { code: 'OCKLE_SERVER_BLOCKED', make: () => new errors.ServerBlockedError('app', 'pdu-b unreachable') },
};

const subclasses = Object.entries(errors)
  .filter(([, v]) => typeof v === 'function' && (v as { prototype?: unknown }).prototype instanceof OckleError)
  .map(([name]) => name)
  .sort();

describe('OckleError subclasses', () => {
  it('are all covered by this test', () => {
    expect(subclasses.length).toBeGreaterThan(0);
    expect(Object.keys(FACTORIES).sort()).toEqual(subclasses);
  });

  for (const [name, { code, make }] of Object.entries(FACTORIES)) {
    it(`${name} yields ${code}, its HTTP status, a hint and its own name`, () => {
      const e = make();
      expect(e).toBeInstanceOf(OckleError);
      expect(e.constructor.name).toBe(name);
      expect(e.name).toBe(name);
      expect(e.code).toBe(code);
      expect(e.status).toBe(ERROR_CODES[code].status);
      expect(typeof e.hint).toBe('string');
      expect(e.hint!.length).toBeGreaterThan(10);
      expect(e.message.length).toBeGreaterThan(0);
    });
  }
});

describe('toJSON', () => {
  it('has only code, message and hint: never a stack or a cause, for any subclass', () => {
    for (const { make } of Object.values(FACTORIES)) {
      const e = make();
      const json = e.toJSON();
      expect(Object.keys(json).sort()).toEqual(['code', 'hint', 'message']);
      const text = JSON.stringify(e);
      expect(text).not.toContain('stack');
      expect(text).not.toMatch(/\n\s+at /);
      expect(text).not.toContain(import.meta.filename);
    }
  });

  it('leaves out the cause, whose stack and text may hold internals', () => {
    const inner = new Error('snmp session to 127.0.0.1 failed');
    const e = new errors.DeviceUnreachableError('pdu-a', 'no answer', { cause: inner });
    expect(e.cause).toBe(inner);
    expect(JSON.stringify({ error: e })).toBe(
      JSON.stringify({ error: { code: 'OCKLE_DEVICE_UNREACHABLE', message: 'no answer', hint: ERROR_CODES.OCKLE_DEVICE_UNREACHABLE.fix } }),
    );
  });

  it('wraps a foreign error as OCKLE_INTERNAL_ERROR without its stack', () => {
    const e = errors.toOckleError(new TypeError('x is undefined'));
    expect(e.code).toBe('OCKLE_INTERNAL_ERROR');
    expect(JSON.stringify(e)).not.toMatch(/\n\s+at /);
    expect(errors.toOckleError(e)).toBe(e);
  });
});

describe('every code', () => {
  it('gives a hint by default: the fix of docs/errors.md', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const e = new OckleError(code, 'something happened');
      expect(e.hint, code).toBe(ERROR_CODES[code].fix);
      expect(e.status, code).toBe(ERROR_CODES[code].status);
    }
  });
});
