/**
 * The sequencer: powers a set of servers on in dependency order (off: dependents first), as
 * parallel as the graph allows. Event-driven, not scanning: each server's task awaits exactly
 * the tasks of its own dependencies (off: dependents), so a server starts the moment the last
 * of them is proven to serve. A global `maxParallel` bounds servers in progress; each device's
 * queue bounds what reaches the hardware, and its stagger spaces switch-ons.
 */
import type { RemotePort } from '../../src/core/remote.js';
import type { SequenceResult, Sequencer, SequenceRun, ServerOps } from '../../src/core/sequence.js';
import { sleep } from '../../src/timers.js';
import { waitRemote } from './remote.js';

export interface SequencerOptions {
  /** Servers being switched at the same time, at most. */
  readonly maxParallel: number;
  /** Servers of other gateways (federation): waited on, and asked to switch, through the broker. */
  readonly remote?: RemotePort;
}

/** A counting semaphore: at most `n` holders; FIFO. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const aborted = (err: unknown): boolean => (err as { code?: string }).code === 'OCKLE_OPERATION_ABORTED';

/** The close step around an expected boot: a fiftieth of it (at least 1 ms, the timers' grain). */
const closeStep = (expectedMs: number): number => Math.max(1, expectedMs / 50);

/**
 * When to probe next, `since` ms after the power came on. Without a learned boot time: every
 * test_interval. With one: straight to the expected boot, then closely until twice that: one
 * close step (a fiftieth of it), then gaps of three quarters of the time already past it, so
 * that a boot a little longer than expected is noticed within a fiftieth of it, and one far
 * longer costs a handful of probes, not dozens. Never more than test_interval apart.
 * A close step of a tenth noticed a server up to a tenth of its boot after it served, at every
 * level of a tree (simulated in the tests "learned boot times": a 60 s boot probed every 5 s,
 * ±2 % from boot to boot, was noticed 2 s late on average, now 0.6 s, for 0.3 more probes).
 */
export function nextProbeIn(since: number, testIntervalMs: number, expectedMs: number | undefined): number {
  if (expectedMs === undefined || expectedMs <= 0) return testIntervalMs;
  if (since < expectedMs) return Math.min(testIntervalMs, expectedMs - since);
  if (since < 2 * expectedMs) return Math.min(testIntervalMs, Math.max(1, Math.round(Math.max(closeStep(expectedMs), 0.75 * (since - expectedMs)))));
  return testIntervalMs;
}

/**
 * The boot time learned from one boot, all in ms after the power came on: the last failing
 * probe (0 when none failed), the passing one, and the estimate the probes followed.
 * - The probe sent at the expected time passed: the boot took no longer, and how much shorter
 *   is not known, so the estimate comes down, never below the last failure:
 *   - by one close step when a probe failed within the tenth before it (a tight bracket: the
 *     estimate is right, and a next boot that needs that step fails once and passes one close
 *     step later);
 *   - by a tenth otherwise (nothing failed near it: an estimate too long, learned from a probe
 *     every test_interval or from a machine that now boots faster, comes down to the truth in a
 *     few boots).
 * - Otherwise (no estimate; a pass before it; failures past it) the boot ended between the last
 *   failing and the passing probe: the midpoint, so the estimate converges instead of growing by
 *   the probe interval.
 * Taking the midpoint in the first case too would halve a right estimate: every other boot was
 * then probed early and ten times closely.
 */
export function learnBoot(lastFail: number, passAt: number, expectedMs: number | undefined): number {
  const mid = Math.max(0, Math.round((lastFail + passAt) / 2));
  if (expectedMs === undefined || expectedMs <= 0) return mid;
  // A timer may fire a little early: a close step before the expected time still counts as it.
  const step = closeStep(expectedMs);
  if (lastFail < expectedMs - step && passAt >= expectedMs - step) {
    const down = lastFail >= 0.9 * expectedMs ? step : expectedMs / 10;
    return Math.max(Math.round(lastFail), Math.round(Math.min(expectedMs, passAt) - down));
  }
  return mid;
}

/** Outcome of one server: null = reached the goal; otherwise the server whose failure is the root cause. */
type Outcome = string | null;

export function createSequencer(opts: SequencerOptions): Sequencer {
  return async (run: SequenceRun, ops: ServerOps): Promise<SequenceResult> => {
    const kind = run.action.kind === 'off' ? 'off' : 'on';
    // A cycle restarts exactly its targets: power-cycle first, then as a power-on.
    const cycle = run.action.kind === 'cycle';
    const id = run.action.id;
    const inSet = new Set(run.servers);
    const limit = limiter(Math.max(1, opts.maxParallel));
    const tasks = new Map<string, Promise<Outcome>>();
    const reasons = new Map<string, string>();
    const before = (n: string): readonly string[] => (kind === 'on' ? ops.tree.dependencies(n) : ops.tree.dependents(n));

    /**
     * Brings one server up. Every attempt decides on a fresh read of its outlets:
     * - a server that already serves is never switched (whatever its outlets read);
     * - an outlet that cannot be read (device unreachable, unknown, switching) blocks the server:
     *   nothing is written and no retry follows (a guess is never a reason to switch);
     * - a power cycle happens only when every outlet reads on, the server has been powered for
     *   at least boot_timeout and its tests fail (or the action is a cycle, asked for by name);
     * - powered but for less than boot_timeout: it gets the rest of it, with no write;
     * - otherwise the outlets that read off are switched on (those on are left alone).
     */
    const start = async (n: string): Promise<Outcome> => {
      const p = ops.policy(n);
      // A restart asked for by name (ockle cycle, keep-alive): one power cycle, after a clean
      // shutdown when the server still serves and can be asked to stop.
      let restart = cycle;
      for (let attempt = 1; attempt <= p.maxAttempts; attempt++) {
        ops.mark(n, { phase: 'running', kind: 'on' });
        try {
          const read = await ops.readOutlets(n, run.signal);
          const serving = await ops.probe(n, run.signal).catch((err: unknown) => {
            if (aborted(err) || run.signal.aborted) throw err;
            return false;
          });
          // Serving is the goal of an on, whatever the outlets read (one PDU of two may be
          // unreachable): nothing to switch, and its dependents may go on.
          if (serving && !restart) {
            ops.step(id, { server: n, op: 'up', ok: true, detail: `${n} already serves: nothing switched` });
            ops.mark(n, { phase: 'finished', kind: 'on', result: 'ok' });
            return null;
          }
          if (read.blocked) return blocked(n, read.blocked);
          const pf = read.on === read.total ? read.poweredForMs : null;
          let t0: number;
          // Just switched on: nothing can serve yet, so the first probe waits (see nextProbeIn).
          // Powered a while ago (the wait below): it may serve already, so it is probed at once.
          let probeNow = false;
          if (restart && serving && ops.hasControls(n)) {
            restart = false;
            const stopped = await stop(n);
            if (stopped !== null) return stopped;
            ops.mark(n, { phase: 'running', kind: 'on' });
            t0 = (await ops.switchOutlets(id, n, 'on', run.signal)).poweredAt ?? ops.now();
          } else if (restart || (pf !== null && pf >= p.bootTimeoutMs)) {
            const why = restart ? 'power-cycling' : `powered for ${secs(pf!)} but not serving: power-cycling`;
            ops.step(id, { server: n, op: attempt > 1 ? 'retry' : 'cycle', ok: true, detail: attempt > 1 ? `attempt ${attempt} of ${p.maxAttempts}: ${why}` : why });
            restart = false;
            await ops.switchOutlets(id, n, 'off', run.signal);
            t0 = (await ops.switchOutlets(id, n, 'on', run.signal)).poweredAt ?? ops.now();
          } else if (pf !== null) {
            // Powered a moment ago (by hand, or a boot in progress when ockle started): give it
            // what is left of boot_timeout, with no write.
            t0 = ops.now() - pf;
            probeNow = true;
            ops.step(id, { server: n, op: 'wait', ok: true, detail: `powered ${secs(pf)} ago: waiting for the rest of boot_timeout` });
          } else {
            if (attempt > 1) ops.step(id, { server: n, op: 'retry', ok: true, detail: `attempt ${attempt} of ${p.maxAttempts}: switching on what reads off` });
            // Timed from when the device took the write: the boot starts there, not at the
            // confirming read, which a busy device queue delays.
            t0 = (await ops.switchOutlets(id, n, 'on', run.signal, read)).poweredAt ?? ops.now();
          }
          const deadline = t0 + p.bootTimeoutMs;
          const expected = ops.expectedBootMs(n);
          let lastFail = t0;
          // At least one probe before boot_timeout is called over: the boot is timed from the
          // write, and a confirming read slower than boot_timeout would otherwise fail (then
          // power-cycle) a server without ever looking at it.
          let probed = false;
          for (;;) {
            if (!probeNow) {
              const left = deadline - ops.now();
              if (left <= 0 && probed) break;
              if (left > 0) await sleep(Math.min(nextProbeIn(ops.now() - t0, p.testIntervalMs, expected), left), run.signal);
            }
            probeNow = false;
            probed = true;
            if (await ops.probe(n, run.signal)) {
              const passAt = ops.now();
              const boot = learnBoot(lastFail - t0, passAt - t0, expected);
              ops.step(id, { server: n, op: 'up', ok: true, detail: `${n} serves after ${secs(passAt - t0)}`, ms: boot });
              ops.mark(n, { phase: 'finished', kind: 'on', result: 'ok' });
              return null;
            }
            lastFail = ops.now();
          }
          reasons.set(n, `tests did not pass within boot_timeout ${secs(p.bootTimeoutMs)}`);
        } catch (err) {
          if (aborted(err) || run.signal.aborted) {
            ops.mark(n, { phase: 'finished', kind: 'on', result: 'cancelled' });
            return n;
          }
          // An outlet became unreadable between the read and the write: nothing more is tried.
          if ((err as { code?: string }).code === 'OCKLE_SERVER_BLOCKED') return blocked(n, (err as Error).message.replace(/^blocked: /, ''), true);
          reasons.set(n, (err as Error).message);
        }
        const last = attempt === p.maxAttempts;
        ops.step(id, { server: n, op: 'failed', ok: false, detail: `attempt ${attempt} of ${p.maxAttempts}: ${reasons.get(n)}` });
        ops.mark(n, { phase: 'finished', kind: 'on', result: 'failed', permanent: last });
      }
      return n;
    };

    /** A server that cannot be switched because an outlet cannot be read: fails now, no retry. */
    const blocked = (n: string, why: string, journaled = false): Outcome => {
      reasons.set(n, `blocked: ${why}`);
      if (!journaled) ops.step(id, { server: n, op: 'blocked', ok: false, detail: `blocked: ${why}; nothing switched` });
      ops.mark(n, { phase: 'finished', kind: kind === 'off' ? 'off' : 'on', result: 'failed' });
      return n;
    };

    const stop = async (n: string): Promise<Outcome> => {
      const p = ops.policy(n);
      ops.mark(n, { phase: 'running', kind: 'off' });
      try {
        // The same rule as on: an outlet that cannot be read stops everything, before the OS is
        // asked to shut down (a halted server on a feed ockle cannot cut helps nobody).
        const read = await ops.readOutlets(n, run.signal);
        if (read.blocked) return blocked(n, read.blocked);
        // Every outlet reads off (not merely "none reads on": a relay of a board that cannot
        // report reads unknown after a reconnect, and is switched off, not trusted).
        if (read.off === read.total && read.total > 0) {
          ops.step(id, { server: n, op: 'already', ok: true, detail: `${read.total === 1 ? 'outlet' : 'every outlet'} already reads off: nothing to do` });
          ops.mark(n, { phase: 'finished', kind: 'off', result: 'ok' });
          return null;
        }
        if (ops.hasControls(n)) {
          let down = false;
          let why = '';
          try {
            await ops.shutdown(id, n, run.signal);
            const deadline = ops.now() + p.shutdownTimeoutMs;
            if (!ops.hasTests(n)) {
              // Nothing can prove the host is down: give it the configured time.
              ops.step(id, { server: n, op: 'wait', ok: true, detail: `no tests to prove ${n} is down: waiting shutdown_timeout ${secs(p.shutdownTimeoutMs)}` });
              await sleep(p.shutdownTimeoutMs, run.signal);
              down = true;
            }
            while (!down) {
              if (!(await ops.probe(n, run.signal))) {
                down = true;
                ops.step(id, { server: n, op: 'down', ok: true, detail: `${n} stopped serving` });
                break;
              }
              const left = deadline - ops.now();
              if (left <= 0) break;
              await sleep(Math.min(p.testIntervalMs, left), run.signal);
            }
            why = `still serving after shutdown_timeout ${secs(p.shutdownTimeoutMs)}`;
          } catch (err) {
            if (aborted(err) || run.signal.aborted) throw err;
            why = `shutdown request failed: ${(err as Error).message}`;
          }
          if (!down) {
            if (p.onShutdownTimeout === 'fail') {
              reasons.set(n, why);
              ops.step(id, { server: n, op: 'failed', ok: false, detail: `${why}; power left on (on_shutdown_timeout = fail)` });
              ops.mark(n, { phase: 'finished', kind: 'off', result: 'failed' });
              return n;
            }
            ops.step(id, { server: n, op: 'cut', ok: true, detail: `${why}; cutting power (on_shutdown_timeout = cut)` });
          }
        }
        // Without a shutdown in between, the read above is still fresh.
        await ops.switchOutlets(id, n, 'off', run.signal, ops.hasControls(n) ? undefined : read);
        ops.mark(n, { phase: 'finished', kind: 'off', result: 'ok' });
        return null;
      } catch (err) {
        if (aborted(err) || run.signal.aborted) {
          ops.mark(n, { phase: 'finished', kind: 'off', result: 'cancelled' });
          return n;
        }
        if ((err as { code?: string }).code === 'OCKLE_SERVER_BLOCKED') return blocked(n, (err as Error).message.replace(/^blocked: /, ''), true);
        reasons.set(n, (err as Error).message);
        ops.step(id, { server: n, op: 'failed', ok: false, detail: (err as Error).message });
        ops.mark(n, { phase: 'finished', kind: 'off', result: 'failed' });
        return n;
      }
    };

    /**
     * Another gateway's server this sequence needs in a state (on: serving, before a dependent
     * here starts; off: stopped, before what it depends on here stops). One wait per server
     * there, shared by every server here that needs it; null when it got there.
     */
    const remoteTasks = new Map<string, Promise<string | null>>();
    const remoteTask = (ref: string, n: string): Promise<string | null> => {
      let t = remoteTasks.get(ref);
      if (!t) {
        t = waitRemote(opts.remote!, ops, {
          ref,
          goal: kind,
          actionId: id,
          server: n,
          reason: `${run.action.reason || `${kind} by ${run.action.origin}`} (${kind === 'on' ? `${n} depends on it` : `it depends on ${n}`}; action ${id})`,
          signal: run.signal,
          ...(run.action.event && { powerEvent: true }),
        });
        remoteTasks.set(ref, t);
      }
      return t;
    };
    /**
     * Waits for the other gateways' servers `n` needs first; the first failure's reason, or null.
     * Null at once, without a promise, when it needs none (every server of a lab without
     * federation: a thousand promises less at the start of a large sequence).
     */
    const remoteFirst = (n: string): Promise<string | null> | null => {
      const port = opts.remote;
      if (!port || cycle) return null;
      const refs = kind === 'on' ? port.dependencies(n) : port.dependents(n);
      if (refs.length === 0) return null;
      return remoteWait(refs, n);
    };
    const remoteWait = async (refs: readonly string[], n: string): Promise<string | null> => {
      const results = await Promise.all(
        refs.map((ref) =>
          remoteTask(ref, n).then(
            (why) => (why === null ? null : `${ref}: ${why}`),
            // Cancelled: the task below says so; anything else is this server's failure.
            (err: unknown) => (run.signal.aborted ? null : `${ref}: ${(err as Error).message}`),
          ),
        ),
      );
      return results.find((r) => r !== null) ?? null;
    };

    const task = (n: string): Promise<Outcome> => {
      let t = tasks.get(n);
      if (t) return t;
      t = (async (): Promise<Outcome> => {
        const pre = cycle ? [] : before(n).filter((m) => inSet.has(m));
        // Both waits run at once; neither rejects (a remote failure is a reason, see remoteFirst).
        const remote = remoteFirst(n);
        const outcomes = pre.length === 0 ? [] : await Promise.all(pre.map(task));
        const remoteWhy = remote === null ? null : await remote;
        if (remoteWhy !== null && !run.signal.aborted) {
          reasons.set(n, remoteWhy);
          ops.step(id, { server: n, op: 'blocked', ok: false, detail: `not ${kind === 'on' ? 'started' : 'stopped'}: ${remoteWhy}; nothing switched` });
          ops.mark(n, { phase: 'finished', kind, result: 'failed' });
          return n;
        }
        const cause = outcomes.find((o) => o !== null);
        if (run.signal.aborted) {
          // Cancelled: the servers not reached are not "blocked" by anything; say what happened.
          ops.step(id, { server: n, op: 'cancelled', ok: true, detail: `not ${kind === 'on' ? 'started' : 'stopped'}: the action was cancelled` });
          return n;
        }
        if (cause !== undefined && cause !== null) {
          ops.mark(n, { phase: 'blocked', by: cause });
          ops.step(id, { server: n, op: 'blocked', ok: false, detail: `not ${kind === 'on' ? 'started' : 'stopped'}: ${cause} failed` });
          return cause;
        }
        return limit(() => {
          if (run.signal.aborted) {
            ops.step(id, { server: n, op: 'cancelled', ok: true, detail: `not ${kind === 'on' ? 'started' : 'stopped'}: the action was cancelled` });
            return Promise.resolve(n);
          }
          return kind === 'on' ? start(n) : stop(n);
        });
      })();
      tasks.set(n, t);
      return t;
    };

    await Promise.all(run.servers.map(task));
    if (run.signal.aborted) return { status: 'cancelled' };
    const failed = [...reasons.keys()];
    if (failed.length === 0) return { status: 'ok' };
    return {
      status: 'failed',
      error: {
        code: kind === 'on' ? 'OCKLE_SEQUENCE_START_FAILED' : 'OCKLE_SEQUENCE_STOP_FAILED',
        message: failed.map((n) => `${n}: ${reasons.get(n)}`).join('; '),
      },
    };
  };
}
