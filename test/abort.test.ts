/**
 * TimeoutGroups: one abort signal and one timer for the operations that start in the same
 * millisecond with the same timeout and parents, each still timed out on its own.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimeoutGroups } from '../src/abort.js';

class Aborted extends Error {}

describe('TimeoutGroups', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const groups = () => new TimeoutGroups(() => new Aborted('aborted'), () => performance.now());

  it('operations started together share one signal; only those still pending are timed out', async () => {
    const g = groups();
    const parent = new AbortController().signal;
    const expired: string[] = [];
    const a = g.join(1000, [parent], () => expired.push('a'));
    const b = g.join(1000, [parent], () => expired.push('b'));
    expect(b.signal).toBe(a.signal);
    // 1. a ends in time; b hangs.
    a.release();
    await vi.advanceTimersByTimeAsync(999);
    expect(expired).toEqual([]);
    expect(b.signal.aborted).toBe(false);
    // 2. At its timeout, b is told and the signal aborts; a, ended before, is not told.
    await vi.advanceTimersByTimeAsync(1);
    expect(expired).toEqual(['b']);
    expect(b.timedOut).toBe(true);
    expect(b.signal.aborted).toBe(true);
    expect(b.signal.reason).toBeInstanceOf(Aborted);
  });

  it('does not share across timeouts, parents or milliseconds', async () => {
    const g = groups();
    const p1 = new AbortController().signal;
    const p2 = new AbortController().signal;
    const a = g.join(1000, [p1], () => {});
    expect(g.join(2000, [p1], () => {}).signal).not.toBe(a.signal);
    expect(g.join(1000, [p2], () => {}).signal).not.toBe(a.signal);
    expect(g.join(1000, [p1, undefined], () => {}).signal).not.toBe(a.signal);
    await vi.advanceTimersByTimeAsync(1);
    expect(g.join(1000, [p1], () => {}).signal).not.toBe(a.signal);
  });

  it('a parent abort aborts the shared signal, without calling it a timeout', async () => {
    const g = groups();
    const parent = new AbortController();
    const told: string[] = [];
    const a = g.join(1000, [parent.signal], () => told.push('a'));
    parent.abort();
    expect(a.signal.aborted).toBe(true);
    expect(a.timedOut).toBe(false);
    // A new operation under the aborted parent never gets the aborted group's signal by
    // mistake for a live one: it gets a signal of its own (already aborted by its parent).
    const other = g.join(1000, [new AbortController().signal], () => told.push('other'));
    expect(other.signal.aborted).toBe(false);
    a.release();
    other.release();
    await vi.advanceTimersByTimeAsync(5000);
    expect(told).toEqual([]);
  });

  it('an operation joining a group whose operations all ended, in the same millisecond, gets a full timeout', async () => {
    const g = groups();
    const told: string[] = [];
    const a = g.join(1000, [], () => told.push('a'));
    a.release();
    // Same millisecond (fake clock has not moved): joins the same group and its timer.
    const b = g.join(1000, [], () => told.push('b'));
    expect(b.signal).toBe(a.signal);
    await vi.advanceTimersByTimeAsync(999);
    expect(told).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(told).toEqual(['b']);
    // After the timeout the group takes no one: a new operation gets a live signal.
    const c = g.join(1000, [], () => told.push('c'));
    expect(c.signal.aborted).toBe(false);
    c.release();
  });

  it('with everything released nothing fires, however long it waits', async () => {
    const g = groups();
    const told: string[] = [];
    const ops = Array.from({ length: 50 }, (_, i) => g.join(1000, [], () => told.push(String(i))));
    for (const o of ops) o.release();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(told).toEqual([]);
    expect(ops[0]!.signal.aborted).toBe(false);
  });
});
