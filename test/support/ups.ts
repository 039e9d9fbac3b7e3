/** Waiting for a UPS policy's stage, as its `ups.stage` events tell it (tests and the UPS benchmark). */
import type { OckleEvents } from '../../src/core/model.js';
import type { Daemon } from '../../src/daemon.js';

export type StageEvent = OckleEvents['ups.stage'] & { readonly at: number };

/**
 * Resolves with the first `ups.stage` event of `stage` whose status is one of `status` (with the
 * `performance.now()` it came at); rejects after `ms`. Subscribe before causing the stage.
 */
export function stageReached(d: Daemon, stage: string, status: readonly OckleEvents['ups.stage']['status'][] = ['ok', 'failed'], ms = 30_000): Promise<StageEvent> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`UPS stage ${stage} did not reach ${status.join('/')} in ${ms} ms`));
    }, ms);
    const off = d.events.on('ups.stage', (e) => {
      if (e.stage !== stage || !status.includes(e.status)) return;
      clearTimeout(t);
      off();
      resolve({ ...e, at: performance.now() });
    });
  });
}
