/**
 * Simulated time for daemon tests: with vitest's fake timers on (timers, Date and performance,
 * the clock the runtime measures durations with), runs a promise to its end by jumping from
 * timer to timer, so seconds of boot and stagger take no real time.
 */
import { vi } from 'vitest';

/** What the daemon tests fake: timers, the wall clock, and the monotonic clock (performance). */
export const FAKED = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] as const;

export async function simulate<T>(p: Promise<T>, limitMs = 3_600_000): Promise<T> {
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  const t0 = Date.now();
  while (!settled) {
    await vi.advanceTimersToNextTimerAsync();
    if (Date.now() - t0 > limitMs) throw new Error(`still running after ${limitMs} ms of simulated time`);
  }
  return p;
}
