/**
 * A shutdown without a power cut (`ockle shutdown SERVER`): the server's controls ask its OS to
 * shut down, then its tests must fail within shutdown_timeout for the shutdown to count as done.
 * Nothing is switched: the power stays on.
 */
import { OckleError, RequestValidationError } from '../errors.js';
import type { LabState } from './state.js';
import { sleep } from '../timers.js';
import type { ServerOps } from './sequence.js';

export async function shutdownServer(ops: ServerOps, actionId: string, server: string, signal: AbortSignal): Promise<void> {
  const t0 = ops.now();
  await ops.shutdown(actionId, server, signal);
  if (!ops.hasTests(server)) {
    ops.step(actionId, { server, op: 'down', ok: true, detail: 'the shutdown was accepted; no tests to confirm it (the power stays on)' });
    return;
  }
  const policy = ops.policy(server);
  const deadline = t0 + policy.shutdownTimeoutMs;
  for (;;) {
    const serving = await ops.probe(server, signal);
    if (!serving && ops.state(server) !== 'OK') {
      const ms = Math.round(ops.now() - t0);
      ops.step(actionId, { server, op: 'down', ok: true, ms, detail: `its tests fail ${ms} ms after the request: the OS is down (the power stays on)` });
      return;
    }
    if (ops.now() >= deadline) {
      const e = new OckleError('OCKLE_SHUTDOWN_NOT_CONFIRMED', `${server} still serves ${policy.shutdownTimeoutMs} ms after its controls accepted the shutdown; nothing was cut`, {
        hint: 'Look at the host; `ockle off` cuts the power after asking again, `--force` at once.',
      });
      ops.step(actionId, { server, op: 'error', ok: false, detail: e.message });
      throw e;
    }
    await sleep(Math.min(policy.testIntervalMs, Math.max(0, deadline - ops.now())), signal);
  }
}

/** Refuses a shutdown of servers that have no control to ask their OS with. */
export function refuseShutdown(state: LabState, targets: readonly string[]): void {
  const none = targets.filter((t) => state.servers.get(t)!.s.controls.length === 0);
  if (none.length > 0)
    throw new RequestValidationError(`${none.join(', ')} ${none.length === 1 ? 'has' : 'have'} no control to ask the OS to shut down`, {
      hint: 'Add an ssh, command or BMC soft-off control to the server, or use off to cut its power.',
    });
}
