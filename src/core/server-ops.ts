/**
 * The port the sequencer (auto-control) works through: fresh reads, switching with the rules of
 * a decision (never on a guess), probes, clean shutdowns through the controls, and the marks
 * that shape each server's state while a sequence works on it.
 */
import { ControlTimeoutError, ServerBlockedError, toOckleError } from '../errors.js';
import type { ActionKind, ActionProgress } from './model.js';
import type { ProgressTracker } from './progress.js';
import type { ServerMark, ServerOps, SwitchCount } from './sequence.js';
import type { LabState } from './state.js';
import type { StepFn, Switcher } from './switching.js';

export interface ServerOpsDeps {
  readonly state: LabState;
  readonly switcher: Switcher;
  readonly step: StepFn;
  learnedBoot(server: string): number | undefined;
  progress(actionId: string): ProgressTracker | undefined;
  kindOf(actionId: string): ActionKind | undefined;
  emitProgress(p: ActionProgress): void;
}

export function createServerOps(d: ServerOpsDeps): ServerOps {
  const { state, switcher, step } = d;
  const slot = (n: string) => state.servers.get(n)!;
  return {
    tree: state.tree,
    state: (n) => slot(n).state,
    policy: (n) => slot(n).s.policy,
    hasControls: (n) => slot(n).s.controls.length > 0,
    hasTests: (n) => slot(n).s.tests.length > 0,
    expectedBootMs: (n) => d.learnedBoot(n),
    readOutlets: (n, signal) => state.readServer(slot(n).s, signal),
    switchOutlets: async (actionId, n, to, signal, given): Promise<SwitchCount> => {
      const sl = slot(n);
      // Decide on a fresh read, never on a poll from seconds ago, and never switch on a guess.
      // A read the caller made a moment ago (at most a second) is fresh enough: the server is
      // held by this action, so only a hand at the PDU could have changed it since.
      const read = given && state.now() - given.at <= 1000 ? given : await state.readServer(sl.s, signal);
      if (read.blocked) {
        step(actionId, { server: n, op: 'blocked', ok: false, detail: `blocked: ${read.blocked}; nothing switched` });
        throw new ServerBlockedError(n, read.blocked);
      }
      let already = 0;
      const results = await Promise.allSettled<number | null | void>(
        sl.s.outlets.map((o) => {
          // Wake-on-LAN cannot cut power: the controls' shutdown (proved by the tests) was the off.
          if (to === 'off' && state.devices.get(o.device)!.d.device.caps.onOnly) {
            already++;
            step(actionId, { server: n, device: o.device, outlet: o.outlet, op: 'skip', ok: true, detail: `${o.device} can only wake the machine: off is its OS shutdown, nothing to cut` });
            return Promise.resolve();
          }
          if (!switcher.alreadyThere(o, to)) return switcher.switchOutlet(actionId, n, o, to, signal);
          already++;
          step(actionId, { server: n, device: o.device, outlet: o.outlet, op: 'already', ok: true, detail: `${o.device} outlet ${o.outlet} already reads ${to}: not switched` });
          return Promise.resolve();
        }),
      );
      state.derive(sl);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      let poweredAt: number | undefined;
      for (const r of results) if (r.status === 'fulfilled' && typeof r.value === 'number') poweredAt = Math.max(poweredAt ?? r.value, r.value);
      return { switched: sl.s.outlets.length - already, already, ...(poweredAt !== undefined && { poweredAt }) };
    },
    probe: async (n, signal) => {
      const sl = slot(n);
      if (sl.s.tests.length === 0) {
        await Promise.all([...new Set(sl.s.outlets.map((o) => o.device))].map((id) => state.poll(state.devices.get(id)!, signal)));
        return state.serverPowers(sl.s).every((p) => p === 'on');
      }
      // A run already under way (the monitor's) is older than this question: wait it out, then ask anew.
      if (sl.testing) await sl.testing;
      await state.runTests(sl, signal);
      return sl.tests.every((t) => t.result === 'PASSED');
    },
    shutdown: async (actionId, n, signal) => {
      for (const c of slot(n).s.controls) {
        // The control's own time limit: a hung SSH session or command must not hold the sequence.
        const limit = new AbortController();
        const timer = c.timeoutMs !== undefined ? setTimeout(() => limit.abort(), c.timeoutMs) : undefined;
        const onAbort = (): void => limit.abort(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        try {
          await c.controller.shutdown(limit.signal).catch((err: unknown) => {
            if (limit.signal.aborted && !signal.aborted)
              throw new ControlTimeoutError(`no answer within timeout ${c.timeoutMs} ms`, { hint: `Check the host; raise timeout in [${c.name}] if it is slow to accept.` });
            throw err;
          });
          step(actionId, { server: n, op: 'shutdown', ok: true, detail: `${c.name} (${c.type}) accepted the shutdown request` });
        } catch (err) {
          const e = toOckleError(err);
          step(actionId, { server: n, op: 'shutdown', ok: false, detail: `${c.name} (${c.type}): ${e.message}` });
          throw e;
        } finally {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
        }
      }
    },
    mark: (n, m: ServerMark) => {
      const sl = slot(n);
      const progress = sl.actionId ? d.progress(sl.actionId)?.mark(n, m) : null;
      if (progress) d.emitProgress(progress);
      if (m.phase === 'blocked') {
        sl.blockedBy = m.by;
        sl.blockedIn = sl.actionId ? { id: sl.actionId, kind: d.kindOf(sl.actionId) === 'off' ? 'off' : 'on' } : null;
      } else {
        sl.blockedBy = null;
        sl.blockedIn = null;
        sl.last =
          m.phase === 'running'
            ? { kind: m.kind, force: false, phase: 'running' }
            : { kind: m.kind, force: false, phase: 'finished', result: m.result, ...(m.permanent && { permanent: true }) };
      }
      state.derive(sl);
    },
    step,
    now: () => state.now(),
  };
}
