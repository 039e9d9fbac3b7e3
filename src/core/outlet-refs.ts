/** The outlets an outlet action names, checked against the lab: each with the server it powers, if any. */
import { OckleError, RequestValidationError } from '../errors.js';
import type { ActionKind, OutletRef } from './model.js';
import type { RuntimeOutlet } from './slots.js';
import type { LabState } from './state.js';

/**
 * Each named outlet once, with the server that owns it (absent for a free outlet). Refuses an
 * unknown device, an outlet it does not have, and a reset on a device that cannot reset.
 */
export function resolveOutlets(state: LabState, refs: readonly OutletRef[], kind: ActionKind): { readonly server: string | undefined; readonly o: RuntimeOutlet }[] {
  if (refs.length === 0) throw new RequestValidationError('an outlet action needs at least one outlet');
  return [...new Map(refs.map((r) => [`${r.device}/${r.outlet}`, r])).values()].map((r) => {
    const dev = state.devices.get(r.device);
    if (!dev) throw new OckleError('OCKLE_NOT_FOUND', `no device "${r.device}"`, { hint: `Devices: ${[...state.devices.keys()].join(', ')}.` });
    const count = dev.d.device.outletCount;
    if (!Number.isInteger(r.outlet) || r.outlet < 1 || (count > 0 && r.outlet > count))
      throw new RequestValidationError(`${r.device} has no outlet ${r.outlet}`, { hint: count > 0 ? `Its outlets are 1–${count}.` : 'Its outlet count is not known yet (not read).' });
    if (kind === 'reset' && !dev.d.device.caps.reset) throw new RequestValidationError(`${r.device} cannot reset a machine`, { hint: 'Use cycle instead; reset is for ipmi and redfish devices.' });
    const b = state.bindings.get(r.device)?.get(r.outlet);
    return { server: b?.server, o: { name: b?.section ?? `outlet ${r.outlet}`, device: r.device, outlet: r.outlet } };
  });
}

/**
 * Refuses an outlet action on an outlet another action is switching, or that powers a server an
 * action holds (switching under a running action would fight it), naming the action.
 */
export function refuseHeldOutlets(
  state: LabState,
  items: readonly { readonly server: string | undefined; readonly o: RuntimeOutlet }[],
  owners: readonly string[],
  heldOutlets: ReadonlyMap<string, string>,
): void {
  for (const n of owners) {
    const held = state.servers.get(n)!.actionId;
    const o = items.find((i) => i.server === n)!.o;
    if (held)
      throw new OckleError('OCKLE_ACTION_BUSY', `${o.device} outlet ${o.outlet} powers server "${n}", which action ${held} holds`, {
        hint: `Wait for ${held} to finish or cancel it (ockle cancel ${held}); switching an outlet under a running action would fight it.`,
      });
  }
  for (const i of items) {
    const held = heldOutlets.get(`${i.o.device}/${i.o.outlet}`);
    if (held) throw new OckleError('OCKLE_ACTION_BUSY', `${i.o.device} outlet ${i.o.outlet} is being switched by action ${held}`, { hint: `Wait for ${held} to finish or cancel it (ockle cancel ${held}).` });
  }
}
