/**
 * auto-control: dependency-ordered power-on and power-off (Ockle's AutoControl, event-driven).
 * Runs in the main thread; the daemon installs its sequencer into the runtime when enabled.
 */
import { int, type Infer } from '../../src/config/types.js';
import type { RemotePort } from '../../src/core/remote.js';
import { createSequencer } from './sequencer.js';

export const name = 'auto-control';
export const apiVersion = 1;
export const description = 'Power servers on in dependency order and off in reverse, as parallel as the graph allows.';

export const config = {
  max_parallel: int({ min: 1, max: 1000, default: 32, help: 'Servers being switched on or off at the same time, at most.' }),
};

/** The sequencer of these settings; `remote`: the servers of other gateways it may wait on (federation). */
export function sequencerFrom(settings: Partial<Infer<typeof config>> = {}, remote?: RemotePort) {
  return createSequencer({ maxParallel: settings.max_parallel ?? 32, ...(remote && { remote }) });
}
