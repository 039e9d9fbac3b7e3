/**
 * The daemon's stop and reload signals, held from the first moment of the process. One handler
 * per signal stays installed for the whole life of the process (removing the last listener of
 * a signal and adding another can lose one that arrives in between); signals that come before
 * the daemon takes them are queued, in order.
 */
export const DAEMON_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
export type DaemonSignal = (typeof DAEMON_SIGNALS)[number];
const HELD = Symbol.for('ockle.signals');

/**
 * The process's, not this module's: the bundled build has this module twice, in the binary that
 * holds the signals from its first line and in the daemon's bundle that takes them
 * (tools/bundle-daemon.ts).
 */
interface Held {
  handler: ((signal: DaemonSignal) => void) | null;
  readonly queued: DaemonSignal[];
  readonly listeners: Map<DaemonSignal, () => void>;
}
const fresh: Held = { handler: null, queued: [], listeners: new Map() };
const held: Held = ((globalThis as { [HELD]?: Held })[HELD] ??= fresh);
const { queued, listeners } = held;

/** Installs the handlers (once); from now on these signals are queued until `takeSignals`. */
export function holdSignals(): void {
  if (listeners.size > 0) return;
  for (const sig of DAEMON_SIGNALS) {
    const fn = (): void => (held.handler ? held.handler(sig) : void queued.push(sig));
    listeners.set(sig, fn);
    process.on(sig, fn);
  }
}

/** Hands every signal to `fn` from now on, and returns those that came before, oldest first. */
export function takeSignals(fn: (signal: DaemonSignal) => void): DaemonSignal[] {
  holdSignals();
  held.handler = fn;
  return queued.splice(0);
}

/** Removes the handlers: the signals get their default action again. */
export function releaseSignals(): void {
  for (const [sig, fn] of listeners) process.off(sig, fn);
  listeners.clear();
  held.handler = null;
  queued.length = 0;
}
