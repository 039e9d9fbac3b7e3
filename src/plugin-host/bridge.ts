/**
 * What a worker plugin may ask of the daemon (`ctx.call(method, params)`), served from the
 * gateway. Power requests go through the same checks and journal as the API's, with origin
 * `plugin:NAME`.
 */
import type { Gateway } from '../core/gateway.js';
import { RequestValidationError } from '../errors.js';

/** Every method `ctx.call` serves (docs/plugins.md lists them; a test keeps the two in step). */
export const PLUGIN_METHODS = ['servers', 'server', 'tree', 'devices', 'actions', 'action', 'request-action'] as const;

export function pluginHandler(gateway: Gateway, plugin: string): (method: string, params: unknown) => Promise<unknown> {
  return async (method, params) => {
    const p = (params ?? {}) as Record<string, unknown>;
    switch (method) {
      case 'servers':
        return gateway.servers();
      case 'server':
        return gateway.server(String(p.name));
      case 'tree':
        return gateway.tree();
      case 'devices':
        return gateway.devices();
      case 'actions':
        return gateway.actions({ limit: typeof p.limit === 'number' ? p.limit : 20 });
      case 'action':
        return gateway.action(String(p.id));
      case 'request-action': {
        const kind = p.kind;
        if (kind !== 'on' && kind !== 'off' && kind !== 'cycle' && kind !== 'reset') throw new RequestValidationError(`request-action: kind must be on, off, cycle or reset`);
        if (!Array.isArray(p.targets) || !p.targets.every((t) => typeof t === 'string')) throw new RequestValidationError('request-action: targets must be a list of server names');
        return gateway.request({ kind, targets: p.targets as string[], force: p.force === true, origin: `plugin:${plugin}`, reason: typeof p.reason === 'string' ? p.reason : '' });
      }
      default:
        throw new RequestValidationError(`unknown method "${method}"`, { hint: `Methods: ${PLUGIN_METHODS.join(', ')}.` });
    }
  };
}
