/**
 * Keep-alive: a server ockle brought up (its last action was a successful on or cycle) whose
 * tests fail `keepalive_failures` runs in a row is power-cycled, alone, through the sequencer.
 *
 * A strategy, not core: it is told of every finished test run and asks through the gateway like
 * any other face (origin `plugin:auto-control`), so the request is admitted, journaled and
 * sequenced like one from the CLI.
 */
import type { Logger } from 'pino';
import type { ActionRecord, ActionRequest } from '../../src/core/model.js';
import type { KeepAlive, TestRun } from '../../src/core/sequence.js';
import { toOckleError } from '../../src/errors.js';

export function createKeepAlive(o: { request: (req: ActionRequest) => ActionRecord; log: Logger }): KeepAlive {
  /** Consecutive failed test runs per server, while it should be up. */
  const failed = new Map<string, number>();
  return {
    tested(run: TestRun): void {
      const limit = run.policy.keepaliveFailures;
      if (limit === null) return;
      if (!run.shouldBeUp || run.held || run.paused || run.tests.some((t) => t.result === 'NOT_RUN') || run.tests.every((t) => t.result === 'PASSED')) {
        failed.delete(run.server);
        return;
      }
      // The rules of an on hold here too: an outlet that cannot be read is never a reason to
      // cycle (the count waits until it reads again), and a server powered for less than its
      // boot_timeout is still booting.
      const read = run.outlets();
      if (read.blocked) {
        o.log.debug({ server: run.server, blocked: read.blocked }, 'keep-alive waits: an outlet cannot be read');
        return;
      }
      if (read.poweredForMs !== null && read.poweredForMs < run.policy.bootTimeoutMs) return;
      const count = (failed.get(run.server) ?? 0) + 1;
      if (count < limit) {
        failed.set(run.server, count);
        return;
      }
      failed.delete(run.server);
      const failing = run.tests.filter((t) => t.result === 'FAILED').map((t) => t.name);
      try {
        o.request({
          kind: 'cycle',
          targets: [run.server],
          force: false,
          origin: 'plugin:auto-control',
          reason: `keep-alive: ${failing.join(', ')} failed ${limit} test runs in a row`,
        });
      } catch (err) {
        o.log.warn({ server: run.server, err: toOckleError(err).message }, 'keep-alive restart not started');
      }
    },
    forget(servers: Iterable<string>): void {
      for (const s of servers) failed.delete(s);
    },
  };
}
