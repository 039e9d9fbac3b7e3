/**
 * What a power request must be before anything is journaled: checked against the lab, never
 * against a device (src/core/actions.ts admits it). Throws the error the caller gets; returns the
 * request as the actions run it (targets once each; a reset forced).
 */
import { RequestValidationError, UnknownServerError } from '../errors.js';
import type { ActionRequest } from './model.js';
import type { LabState } from './state.js';

export function checkRequest(state: LabState, req: ActionRequest): ActionRequest {
  if (req.offMs !== undefined && (!req.outlets || req.kind !== 'cycle' || !(Number.isInteger(req.offMs) && req.offMs >= 0 && req.offMs <= 3_600_000)))
    throw new RequestValidationError('an off time is for an outlet cycle only, from 0 to 3600000 ms', { hint: 'Leave offMs out, or ask for a cycle of outlets.' });
  if (req.outlets) {
    if (req.kind === 'shutdown') throw new RequestValidationError('a shutdown is of a server (its OS), not of an outlet');
    if (req.targets.length > 0) throw new RequestValidationError('an outlet action names outlets, not servers', { hint: 'Leave targets empty, or act on the servers instead.' });
    return req;
  }
  if (req.targets.length === 0) throw new RequestValidationError('an action needs at least one target server');
  const targets = [...new Set(req.targets)];
  for (const t of targets) if (!state.servers.has(t)) throw new UnknownServerError(t, [...state.servers.keys()]);
  if (req.kind === 'reset') {
    // A warm reset acts on exactly the named servers (like a forced switch): check every
    // device can do it before anything is sent.
    const cannot = targets.flatMap((t) =>
      state.servers.get(t)!.s.outlets.flatMap((o) => (state.devices.get(o.device)!.d.device.caps.reset ? [] : [`${t} (${o.device})`])),
    );
    if (cannot.length > 0)
      throw new RequestValidationError(`reset needs a BMC that can reset the machine; ${cannot.join(', ')} cannot`, {
        hint: 'Use cycle (a power cycle) instead; reset is for ipmi and redfish devices.',
      });
    return { ...req, targets, force: true };
  }
  return { ...req, targets, ...(req.kind === 'shutdown' && { force: true }) };
}
