/**
 * A typed, synchronous event bus. Every consumer (SSE stream, logger, metrics, plugins)
 * subscribes here; nothing polls the core. A listener that throws is reported through
 * `onListenerError` and never stops delivery to the others.
 */
export type Listener<P> = (payload: P) => void;
export type AnyListener<E> = <K extends keyof E>(name: K, payload: E[K]) => void;

export class EventBus<E extends object> {
  readonly #listeners = new Map<keyof E, Set<Listener<never>>>();
  readonly #any = new Set<AnyListener<E>>();
  readonly #onListenerError: (err: unknown, name: keyof E) => void;

  constructor(onListenerError: (err: unknown, name: keyof E) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  /** Subscribes to one event; returns the unsubscribe function. */
  on<K extends keyof E>(name: K, fn: Listener<E[K]>): () => void {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(fn as Listener<never>);
    return () => set.delete(fn as Listener<never>);
  }

  /** Subscribes to every event; returns the unsubscribe function. */
  onAny(fn: AnyListener<E>): () => void {
    this.#any.add(fn);
    return () => this.#any.delete(fn);
  }

  /** Resolves with the next payload of `name` that satisfies `match`, or rejects when `signal` aborts. */
  once<K extends keyof E>(name: K, match: (p: E[K]) => boolean = () => true, signal?: AbortSignal): Promise<E[K]> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = (): void => {
        off();
        reject(signal?.reason);
      };
      const off = this.on(name, (p) => {
        if (!match(p)) return;
        off();
        signal?.removeEventListener('abort', onAbort);
        resolve(p);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  emit<K extends keyof E>(name: K, payload: E[K]): void {
    for (const fn of this.#listeners.get(name) ?? []) {
      try {
        (fn as Listener<E[K]>)(payload);
      } catch (err) {
        this.#onListenerError(err, name);
      }
    }
    for (const fn of this.#any) {
      try {
        fn(name, payload);
      } catch (err) {
        this.#onListenerError(err, name);
      }
    }
  }

  listenerCount(name?: keyof E): number {
    if (name === undefined) return this.#any.size + [...this.#listeners.values()].reduce((a, s) => a + s.size, 0);
    return this.#listeners.get(name)?.size ?? 0;
  }
}
