/**
 * Switching one outlet: stagger between switch-ons, one write through the device's queue (a
 * failed write is re-read, never blindly repeated), confirmation by read-back, and the cycle a
 * device without a native one gets emulated (off, confirmed, a pause, on).
 *
 * States are never set from what was written, only from what is read back.
 */
import type { Power, SwitchAction } from '../../drivers/types.js';
import { DeviceRefusedError, toOckleError } from '../errors.js';
import type { ActionStep } from './model.js';
import type { DeviceSlot, RuntimeOutlet } from './slots.js';
import type { LabState } from './state.js';
import { sleep } from '../timers.js';

/** Appends a step to an action's journal record (and tells the faces). */
export type StepFn = (actionId: string, step: Omit<ActionStep, 'at'>) => void;

export class Switcher {
  readonly #state: LabState;
  readonly #step: StepFn;
  readonly #confirmIntervalMs: number;

  constructor(state: LabState, step: StepFn, confirmIntervalMs: number) {
    this.#state = state;
    this.#step = step;
    this.#confirmIntervalMs = confirmIntervalMs;
  }

  /**
   * Whether an outlet already reads `to`, so a write would change nothing. Only a device that
   * reads back is trusted: a board with assumed read-back is always written (its relay may have
   * been switched by hand, or reset when it lost power).
   */
  alreadyThere(o: RuntimeOutlet, to: SwitchAction): boolean {
    const slot = this.#state.devices.get(o.device)!;
    return (to === 'on' || to === 'off') && slot.d.device.caps.readBack === 'real' && slot.reachable === true && slot.power[o.outlet - 1] === to;
  }

  /**
   * Switches one outlet (of `server`, when one owns it) and confirms it; a failure is journaled
   * and thrown. Resolves with the time (`state.now()`) the device accepted the write that put
   * the power on, the moment a boot starts (the confirming read comes later, by as long as the
   * device's queue takes); null when no write did (an off, a native cycle).
   */
  async switchOutlet(actionId: string, server: string | undefined, o: RuntimeOutlet, kind: SwitchAction, signal: AbortSignal, offMs?: number): Promise<number | null> {
    const slot = this.#state.devices.get(o.device)!;
    const where = { ...(server !== undefined && { server }), device: o.device, outlet: o.outlet };
    let sent = false;
    const written = (): void => {
      sent = true;
    };
    try {
      if (kind === 'cycle' && (offMs !== undefined || !slot.d.device.caps.cycle)) {
        // Emulated cycle: off, confirmed, a pause for the PSU to drain, then on. An off time
        // asked for (a PDUDaemon reboot's delay) is kept exactly, so the cycle is emulated then.
        const pause = offMs ?? slot.d.cycleDelayMs;
        await this.#write(actionId, slot, o.outlet, 'off', signal);
        written();
        await this.#confirm(actionId, slot, o.outlet, 'off', signal);
        this.#step(actionId, { ...where, op: 'wait', ok: true, detail: `off for ${pause} ms (${offMs !== undefined ? 'the off time asked for' : 'emulated cycle'})` });
        if (pause > 0) await sleep(pause, signal);
        await this.#write(actionId, slot, o.outlet, 'on', signal);
        const poweredAt = this.#state.now();
        await this.#confirm(actionId, slot, o.outlet, 'on', signal);
        return poweredAt;
      }
      await this.#write(actionId, slot, o.outlet, kind, signal);
      written();
      const poweredAt = kind === 'on' ? this.#state.now() : null;
      // A reset keeps the power on: no off phase to wait for, as a cycle has.
      await this.#confirm(actionId, slot, o.outlet, kind === 'off' ? 'off' : 'on', signal, kind === 'cycle');
      return poweredAt;
    } catch (err) {
      const e = toOckleError(err);
      // A failure at the transport (no answer, port gone) says the device is unreachable: its
      // outlets are unknown from now on, not what they read before.
      if (e.code === 'OCKLE_DEVICE_UNREACHABLE' || e.code === 'OCKLE_DEVICE_TIMEOUT') {
        this.#state.deviceFailed(slot, e.message);
        this.#state.deriveBound(o.device, o.outlet);
      }
      // Cancelled after the write landed: the confirm was cut short, so the outlet is read once
      // more on its own (not under the cancelled signal). Its state follows what it reads, not
      // the last poll: a cancelled power-on leaves an outlet that is on, and says so.
      if (sent && e.code === 'OCKLE_OPERATION_ABORTED' && !this.#state.closed)
        void this.#state
          .readOutlets([o], AbortSignal.timeout(slot.d.confirmTimeoutMs))
          .then(() => this.#state.deriveBound(o.device, o.outlet))
          .catch(() => undefined);
      this.#step(actionId, { ...where, op: 'error', ok: false, detail: e.message });
      throw e;
    }
  }

  #where(slot: DeviceSlot, outlet: number): { server: string | undefined; device: string; outlet: number } {
    return { server: this.#state.bindings.get(slot.d.id)?.get(outlet)?.server, device: slot.d.id, outlet };
  }

  /** One switch command through the device queue; a failed write is re-read, never blindly repeated. */
  async #write(actionId: string, slot: DeviceSlot, outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    const now = this.#state.now;
    const target: Power | undefined = action === 'cycle' || action === 'reset' ? undefined : action;
    if (action !== 'off' && slot.d.staggerMs > 0) {
      // Reserve the next switch-on time first, so concurrent callers line up behind each other.
      const at = Math.max(now(), slot.nextOnAt);
      slot.nextOnAt = at + slot.d.staggerMs;
      if (at > now()) await sleep(at - now(), signal);
    }
    await slot.d.queue.write(`switch outlet ${outlet} ${action}`, (s) => slot.d.device.switch(outlet, action, s), {
      signal,
      // A cycle cannot be verified by one read (the outlet reads on before and after).
      ...(target && {
        verify: async (s: AbortSignal) => (await slot.d.device.read([outlet], s)).get(outlet) === target,
      }),
    });
    this.#step(actionId, { ...this.#where(slot, outlet), op: 'switch', ok: true, detail: `${action} sent to ${slot.d.id} outlet ${outlet}` });
  }

  /**
   * Reads the outlet back until it shows `want` (after a native cycle: until it has been seen
   * off and then on again, or reads on at the deadline).
   */
  async #confirm(actionId: string, slot: DeviceSlot, outlet: number, want: 'on' | 'off', signal: AbortSignal, cycle = false): Promise<void> {
    const where = this.#where(slot, outlet);
    const deadline = this.#state.now() + slot.d.confirmTimeoutMs;
    let sawOff = false;
    let last: Power = 'unknown';
    for (;;) {
      // Merged with the other reads of this device in this turn (a wave confirms many at once).
      const map = await this.#state.readDevice(slot, [outlet], signal);
      last = map.get(outlet) ?? 'unknown';
      this.#state.setPower(slot, outlet, last);
      this.#state.setReachable(slot, true, null);
      if (last === 'off') sawOff = true;
      if (cycle ? sawOff && last === 'on' : last === want) {
        this.#step(actionId, { ...where, op: 'confirm', ok: true, detail: `outlet ${outlet} reads ${last}` });
        this.#state.deriveBound(slot.d.id, outlet);
        return;
      }
      if (this.#state.now() >= deadline) break;
      await sleep(this.#confirmIntervalMs, signal);
    }
    this.#state.deriveBound(slot.d.id, outlet);
    if (cycle && last === 'on') {
      this.#step(actionId, { ...where, op: 'confirm', ok: true, detail: `outlet ${outlet} reads on (off phase not observed)` });
      return;
    }
    throw new DeviceRefusedError(
      slot.d.id,
      `${slot.d.id} outlet ${outlet} still reads ${last} ${slot.d.confirmTimeoutMs} ms after "${cycle ? 'cycle' : want}" was accepted`,
      { hint: 'The device accepted the command but the outlet did not change: check it is not locked or in a delayed-switch mode.' },
    );
  }
}
