/**
 * The daemon's side of the plugin contract (contract.ts), in the shapes `PluginHost` takes: what
 * a worker plugin may ask (`ctx.call(method, params)`), served from the gateway, and which events
 * it may subscribe to. Power requests go through the same checks and journal as the API's, with
 * origin `plugin:NAME`.
 */
import type { Gateway } from '../core/gateway.js';
import { RequestValidationError } from '../errors.js';
import { callMethod, EVENT_NAMES, isEventName, METHOD_NAMES, type DaemonViews, type Subscribe } from './contract.js';
import type { CommandRole } from './protocol.js';

/** Every method `ctx.call` serves (docs/plugins.md lists them; a test keeps the two in step). */
export const PLUGIN_METHODS = METHOD_NAMES;

/**
 * Serves the `ctx.call`s of plugin `plugin`, which holds role `role` (its manifest's; default
 * operator): the contract's methods up to that role, refused with OCKLE_AUTH_FORBIDDEN above it.
 * `views` serves what the gateway does not know (the UPSes); without it `ups` answers `[]`.
 */
export function pluginHandler(gateway: Gateway, plugin: string, role: CommandRole = 'operator', views?: DaemonViews): (method: string, params: unknown) => Promise<unknown> {
  return async (method, params) => callMethod(gateway, plugin, role, method, params, views);
}

/**
 * Subscribes a plugin to daemon events through `on` (the daemon's `EventBus<OckleEvents>`): the
 * host passes the names the worker sent, so a name that is no event is refused here
 * (OCKLE_REQUEST_INVALID; the host logs it as the plugin's bug).
 */
export function pluginSubscriber(events: { readonly on: Subscribe }): (event: string, fn: (payload: unknown) => void) => () => void {
  return (event, fn) => {
    if (!isEventName(event)) throw new RequestValidationError(`unknown event "${event}"`, { hint: `Events: ${EVENT_NAMES.join(', ')}.` });
    return events.on(event, fn);
  };
}
