import { describe, expect, it } from 'vitest';
import { plannedServers, progress, summary } from '../../src/cli/progress.js';
import type { ActionRecord, ActionStep } from '../../src/core/model.js';

const step = (server: string | undefined, op: string, detail = '', ok = true): ActionStep => ({ at: '', ...(server && { server }), op, ok, detail });
const action = (kind: 'on' | 'off', steps: ActionStep[]): ActionRecord => ({
  id: 'a1',
  kind,
  targets: ['web'],
  force: false,
  origin: 'cli:me',
  reason: '',
  requestedAt: '',
  status: 'running',
  steps,
});

describe('progress line', () => {
  it('counts servers up and names those being started', () => {
    const a = action('on', [
      step(undefined, 'plan', 'on: storage, vm-1, vm-2, web'),
      step('storage', 'switch'),
      step('storage', 'up'),
      step('vm-1', 'switch'),
      step('vm-2', 'switch'),
    ]);
    expect(plannedServers(a)).toEqual(['storage', 'vm-1', 'vm-2', 'web']);
    const p = progress(a, 12_300, 8);
    expect(p).toMatchObject({ total: 4, done: 1, active: ['vm-1', 'vm-2'] });
    expect(p.line).toBe('██░░░░░░ 1/4 up · starting: vm-1, vm-2 · 12.3 s');
  });

  it('counts a server that gave up or is blocked as finished', () => {
    const a = action('on', [
      step(undefined, 'plan', 'on: db, web'),
      step('db', 'failed', 'attempt 1 of 2: boot timeout', false),
      step('db', 'failed', 'attempt 2 of 2: boot timeout', false),
      step('web', 'blocked', 'not started: db failed', false),
    ]);
    expect(progress(a, 0, 4)).toMatchObject({ done: 2, active: [] });
  });

  it('counts servers switched off, dependents first', () => {
    const a = action('off', [step(undefined, 'plan', 'off: web, db'), step('web', 'shutdown'), step('web', 'down'), step('web', 'switch'), step('web', 'confirm'), step('db', 'shutdown')]);
    expect(progress(a, 1000, 4).line).toBe('██░░ 1/2 off · stopping: db · 1.0 s');
  });

  it('shows a finished bar when there was nothing to do', () => {
    expect(progress(action('on', [step(undefined, 'plan', 'every server is already on')]), 0, 4)).toMatchObject({ total: 0, line: '████ 0/0 up · 0.0 s' });
  });
});

describe('summary line', () => {
  it('counts what was switched, what already was, and what was blocked or gave up', () => {
    const a = action('on', [
      step(undefined, 'plan', 'on: storage, vm-1, vm-2, web, db'),
      step('storage', 'already', 'pdu-a outlet 1 already reads on: not switched'),
      step('storage', 'switch'),
      step('storage', 'up'),
      step('vm-1', 'already', 'pdu-a outlet 2 already reads on: not switched'),
      step('vm-1', 'up', 'vm-1 serves after 0.1 s'),
      step('vm-2', 'up', 'vm-2 already serves: nothing switched'),
      step('web', 'switch'),
      step('web', 'failed', 'attempt 1 of 2: tests did not pass', false),
      step('web', 'retry'),
      step('web', 'switch'),
      step('web', 'failed', 'attempt 2 of 2: tests did not pass', false),
      step('db', 'blocked', 'blocked: pdu-b unreachable; nothing switched', false),
    ]);
    expect(summary(a)).toBe('on: 2 switched, 2 already on, 1 blocked, 1 failed');
    expect(summary(action('off', [step('a', 'already', 'x'), step('b', 'switch')]))).toBe('off: 1 switched, 1 already off');
  });
});
