/**
 * One abort listener per signal, fanning out to every waiter registered under it. A sequenced
 * action's one signal is waited on by every server in progress (sleeps, probes, queue slots):
 * with a listener each, EventTarget's removeEventListener scans them all on every removal, which
 * made a thousand-server sequence quadratic in its waits.
 */
const waiters = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls `fn` (once) when `signal` aborts; returns the function that unregisters it. */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let set = waiters.get(signal);
  if (!set) {
    const s = (set = new Set());
    waiters.set(signal, s);
    signal.addEventListener(
      'abort',
      () => {
        const all = [...s];
        s.clear();
        for (const f of all) f();
      },
      { once: true },
    );
  }
  set.add(fn);
  return () => void set.delete(fn);
}
