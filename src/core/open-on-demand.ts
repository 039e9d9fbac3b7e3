/**
 * An outlet device that opens itself on first use, so a device that is down at start is retried
 * by the polls instead of failing the start.
 */
import type { OutletDevice, Power, SwitchAction } from '../../drivers/types.js';

export class OpenOnDemand implements OutletDevice {
  readonly #inner: OutletDevice;
  #opened = false;

  constructor(inner: OutletDevice) {
    this.#inner = inner;
  }
  get id(): string {
    return this.#inner.id;
  }
  get caps(): OutletDevice['caps'] {
    return this.#inner.caps;
  }
  get outletCount(): number {
    return this.#inner.outletCount;
  }
  async open(signal: AbortSignal): Promise<void> {
    await this.#inner.open(signal);
    this.#opened = true;
  }
  async #ensure(signal: AbortSignal): Promise<void> {
    if (!this.#opened) await this.open(signal);
  }
  async read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>> {
    await this.#ensure(signal);
    return this.#inner.read(outlets, signal);
  }
  async switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    await this.#ensure(signal);
    return this.#inner.switch(outlet, action, signal);
  }
  get meter(): OutletDevice['meter'] {
    const m = this.#inner.meter;
    if (!m) return undefined;
    return async (outlets, signal) => {
      await this.#ensure(signal);
      return m.call(this.#inner, outlets, signal);
    };
  }
  info(): ReturnType<NonNullable<OutletDevice['info']>> {
    return this.#inner.info?.() ?? {};
  }
  async close(): Promise<void> {
    this.#opened = false;
    await this.#inner.close();
  }
}
