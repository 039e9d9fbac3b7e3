/**
 * Waiting on a server of another gateway (federation, docs/mqtt.md). The broker tells its state
 * (src/core/remote.ts); this decides, for one sequence, when to ask its gateway to switch it and
 * when it got there. Never on a guess:
 * - UNKNOWN (broker unreachable, its gateway offline, no state published) is waited on, with
 *   the reason journaled: nothing here is started or stopped meanwhile;
 * - it is asked once it is known and not there yet, and asked again only when its gateway
 *   refused for a passing reason (another action held it, its journal could not write) or went
 *   away while the request was under way, and at most MAX_ASKS times;
 * - its gateway's reply failed, cancelled or refused for good ends the wait with that reason;
 * - remote_timeout ends it too; the wait never holds a slot of max_parallel;
 * - in a power event's off (a UPS stage), an UNKNOWN dependent there is not waited on.
 */
import { remoteStopped } from '../../src/core/plan.js';
import type { RemotePort } from '../../src/core/remote.js';
import type { ServerOps } from '../../src/core/sequence.js';

const MAX_ASKS = 5;
/** Refusals that pass: the remote server was busy, its gateway could not journal for a moment, or the request never left (broker unreachable). */
const PASSING = new Set(['OCKLE_ACTION_BUSY', 'OCKLE_JOURNAL_UNWRITABLE', 'OCKLE_STATE_UNWRITABLE', 'OCKLE_REMOTE_UNREACHABLE']);
const secs = (ms: number): string => (ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 1000).toFixed(1)} s`);

export interface RemoteWait {
  readonly ref: string;
  /** on: until it serves; off: until its gateway reads it off. */
  readonly goal: 'on' | 'off';
  readonly actionId: string;
  /** The server here on whose behalf it waits (its remote_timeout, its journal steps). */
  readonly server: string;
  /** Sent with the request, journaled there. */
  readonly reason: string;
  readonly signal: AbortSignal;
  /**
   * A power event's off (a UPS stage): a dependent there that cannot be known is not waited on.
   * The battery does not wait for the broker; its own gateway's UPS, or its lost storage, is its
   * fate either way. One that can be known is still asked to stop first and waited on.
   */
  readonly powerEvent?: boolean;
}

/** Resolves null once `ref` is there; otherwise why not (a reply, the timeout). Rejects only when the action is cancelled. */
export async function waitRemote(port: RemotePort, ops: ServerOps, w: RemoteWait): Promise<string | null> {
  const { ref, goal, actionId, server: n } = w;
  const deadline = ops.now() + port.timeoutMs(n);
  let requestId: string | null = null;
  let asks = 0;
  /** The remote went UNKNOWN after the last request was sent (its gateway restarted, the broker blinked). */
  let lostSinceAsk = false;
  let said = '';
  const say = (ok: boolean, detail: string): void => {
    if (detail === said) return;
    said = detail;
    ops.step(actionId, { server: n, op: 'remote', ok, detail });
  };
  const there = (v: ReturnType<RemotePort['view']>): boolean => (goal === 'on' ? v.serving : remoteStopped(v));
  try {
    return await loop();
  } finally {
    port.waiting(n, ref, null);
  }

  async function loop(): Promise<string | null> {
    for (;;) {
      // Two gateways waiting on each other would wait until remote_timeout: say it now.
      const cycle = port.cycle(n);
      if (cycle) return fail(`is part of a dependency cycle across gateways: ${cycle.join(' → ')}; no order can start them (fix one gateway's dependencies)`);
      const v = port.view(ref);
      if (there(v)) {
        say(true, goal === 'on' ? `${ref} serves` : `${ref} is off (${v.state})`);
        return null;
      }
      const reply = requestId === null ? null : port.reply(requestId);
      if (reply && (reply.status === 'failed' || reply.status === 'cancelled' || reply.status === 'interrupted'))
        return fail(`its gateway's ${goal} ${reply.status}${reply.error ? `: ${reply.error.message}` : ''}`);
      if (reply?.status === 'refused' && !PASSING.has(reply.error?.code ?? '')) return fail(`its gateway refused: ${reply.error?.message ?? 'no reason given'}`);
      if (v.state === 'UNKNOWN' && w.powerEvent && goal === 'off') {
        say(false, `${ref} is UNKNOWN (${v.reason}): not waited on during a power event; ${n} is stopped without it`);
        return null;
      }
      port.waiting(n, ref, v.state === 'UNKNOWN' ? `waiting on ${ref}: ${v.reason}` : `waiting for ${ref} to ${goal === 'on' ? 'serve' : 'stop'} (${v.state})`);
      if (v.state === 'UNKNOWN') {
        if (requestId !== null) lostSinceAsk = true;
        say(false, `waiting on ${ref}: ${v.reason}; ${n} is not ${goal === 'on' ? 'started' : 'stopped'} on a guess`);
      } else {
        const settled = reply !== null && reply.status !== 'accepted';
        const again = requestId === null || (v.actionId === null && ((reply?.status === 'refused' && PASSING.has(reply.error?.code ?? '')) || (lostSinceAsk && !settled)));
        if (again) {
          if (asks >= MAX_ASKS) return fail(`asked its gateway ${MAX_ASKS} times; it is still ${v.state} (${v.reason})`);
          asks++;
          lostSinceAsk = false;
          requestId = port.ask(ref, goal, { actionId, server: n, reason: w.reason });
          say(true, `asked gateway ${v.gateway} to switch ${v.server} ${goal} (${v.state} now; request ${requestId})`);
        } else say(true, `waiting for ${ref} to ${goal === 'on' ? 'serve' : 'stop'}: ${v.state}${v.reason ? ` (${v.reason})` : ''}`);
      }
      const left = deadline - ops.now();
      if (left <= 0) return fail(`did not ${goal === 'on' ? 'serve' : 'stop'} within remote_timeout ${secs(port.timeoutMs(n))} (${v.state}: ${v.reason})`);
      await changedOrTimeout(port, w.signal, left);
    }
  }

  function fail(why: string): string {
    ops.step(actionId, { server: n, op: 'remote', ok: false, detail: `${ref} ${why}` });
    return why;
  }
}

/** The next remote change, or `ms` (whichever first); rejects when `signal` aborts. */
async function changedOrTimeout(port: RemotePort, signal: AbortSignal, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([port.changed(signal), new Promise<void>((r) => (timer = setTimeout(r, Math.min(ms, 2 ** 31 - 1))))]);
  } finally {
    clearTimeout(timer);
  }
}
