/**
 * What a sequencer (the auto-control plugin) may do with servers, and what it is given for one
 * sequenced action. The runtime implements `ServerOps`; the sequencer decides order, retries and
 * timing. Every operation goes through the device queues and the action journal.
 */
import type { ActionKind, ActionRecord, ActionStep, OpState, TestState } from './model.js';
import type { ServerTree } from './tree.js';

/** How the sequencer treats a server (from [servers] defaults and the server's overrides). */
export interface ServerPolicy {
  readonly maxAttempts: number;
  readonly bootTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly testIntervalMs: number;
  readonly onShutdownTimeout: 'cut' | 'fail';
  /** Consecutive failed test runs that trigger a keep-alive restart; null when off. */
  readonly keepaliveFailures: number | null;
}

/** What the runtime shows for a server while a sequence works on it. */
export type ServerMark =
  | { readonly phase: 'running'; readonly kind: ActionKind }
  | {
      readonly phase: 'finished';
      readonly kind: ActionKind;
      readonly result: 'ok' | 'failed' | 'cancelled';
      /** Gave up after max_attempts (PERMANENTLY_FAILED_…). */
      readonly permanent?: boolean;
    }
  /** Not started (or not stopped) because another server failed. */
  | { readonly phase: 'blocked'; readonly by: string };

export interface ServerOps {
  readonly tree: ServerTree;
  state(server: string): OpState;
  policy(server: string): ServerPolicy;
  hasControls(server: string): boolean;
  hasTests(server: string): boolean;
  /** Boot time learned from earlier runs (power on → tests pass), if this server was ever seen booting. */
  expectedBootMs(server: string): number | undefined;
  /**
   * Reads every outlet of the server now (one read per device), for a decision that must not
   * rest on a poll from seconds ago. `blocked` names what cannot be read (an unreachable device,
   * an outlet reading unknown or switching); a blocked server is never switched.
   */
  readOutlets(server: string, signal: AbortSignal): Promise<OutletsRead>;
  /**
   * Reads every outlet first, then switches those not already in the wanted state and confirms
   * each by read-back (an outlet already there is journaled "already on/off", not written).
   * Throws ServerBlockedError, writing nothing, when any outlet cannot be read. Switch-ons
   * respect each device's stagger.
   */
  switchOutlets(actionId: string, server: string, to: 'on' | 'off', signal: AbortSignal, read?: OutletsRead): Promise<SwitchCount>;
  /** Runs the server's tests now. True when all pass (a server without tests: when all outlets read on). */
  probe(server: string, signal: AbortSignal): Promise<boolean>;
  /** Asks every control of the server to shut the OS down. */
  shutdown(actionId: string, server: string, signal: AbortSignal): Promise<void>;
  mark(server: string, mark: ServerMark): void;
  step(actionId: string, step: Omit<ActionStep, 'at'>): void;
  /** Milliseconds, from the same clock as timers (fakeable in tests). */
  now(): number;
}

export interface OutletsRead {
  /** What keeps the server from being switched, e.g. "pdu-b unreachable"; null when every outlet reads. */
  readonly blocked: string | null;
  /** Outlets reading on, and reading off, of `total` (the rest are unknown or switching). */
  readonly on: number;
  readonly off: number;
  readonly total: number;
  /**
   * How long every outlet of the server has been on (since the last one turned on, as ockle saw
   * it; at most since ockle started); null when not all are on.
   */
  readonly poweredForMs: number | null;
  /** When it was read (the `now()` clock). switchOutlets reuses a read at most a second old instead of reading again. */
  readonly at: number;
}

/** What one switchOutlets did: outlets written, and outlets that already read the wanted state. */
export interface SwitchCount {
  readonly switched: number;
  readonly already: number;
  /** When the last outlet switched on was accepted by its device (`now()` time): where a boot is timed from. Absent when none was switched on. */
  readonly poweredAt?: number;
}

export interface SequenceRun {
  readonly action: ActionRecord;
  /** The servers to act on, in order (dependencies first for on, dependents first for off). */
  readonly servers: readonly string[];
  /** Aborted by cancel or daemon stop: schedule nothing new. */
  readonly signal: AbortSignal;
}

export interface SequenceResult {
  readonly status: 'ok' | 'failed' | 'cancelled';
  readonly error?: { readonly code: string; readonly message: string };
}

export type Sequencer = (run: SequenceRun, ops: ServerOps) => Promise<SequenceResult>;

/** What a keep-alive strategy is told after each finished test run of a server with keep-alive on. */
export interface TestRun {
  readonly server: string;
  readonly policy: ServerPolicy;
  readonly tests: readonly { readonly name: string; readonly result: TestState }[];
  /** Its last finished action left it up (an on or cycle that succeeded). */
  readonly shouldBeUp: boolean;
  /** An action holds it now. */
  readonly held: boolean;
  /** An operator paused it for maintenance: no keep-alive restart. */
  readonly paused: boolean;
  /** Its outlets as last read (no new read is made). */
  outlets(): OutletsRead;
}

/** Watches test runs and asks for a restart through the gateway (plugins/auto-control/keepalive.ts). */
export interface KeepAlive {
  tested(run: TestRun): void;
  /** Forget what was counted for these servers (their tests changed in a reload). */
  forget(servers: Iterable<string>): void;
}
