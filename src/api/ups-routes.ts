/**
 * UPS routes: each UPS's reading and policy stage, what each stage would do now (`ockle plan
 * ups`), and the drill of a simulated UPS. Registered by server.ts with its auth hooks.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { UpsStatus } from '../core/model.js';
import type { UpsPlanStage } from '../ups/monitor.js';
import type { UpsDrill } from '../../drivers/types.js';
import type { Role } from './auth.js';

/** What the API needs of the daemon's UPSes (src/ups/service.ts). */
export interface UpsFace {
  list(): readonly UpsStatus[];
  /** @throws OckleError OCKLE_NOT_FOUND naming the configured ones */
  status(name: string): UpsStatus;
  plan(name: string): readonly UpsPlanStage[];
  /** A drill on a simulated UPS; a real one is refused (OCKLE_REQUEST_INVALID). */
  simulate(name: string, change: UpsDrill): Promise<UpsStatus>;
}

export const simulateBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    power: { type: 'string', enum: ['mains', 'battery', 'silent'], description: 'mains, battery, or silent (the simulated UPS stops answering).' },
    chargePct: { type: 'number', minimum: 0, maximum: 100, description: 'Set the battery charge (percent).' },
  },
} as const;

export function upsRoutes(
  app: FastifyInstance,
  o: { readonly ups: UpsFace; readonly need: (role: Role | null) => (req: FastifyRequest) => Promise<void>; readonly who: (req: FastifyRequest) => string; readonly log: Logger },
): void {
  app.get('/api/ups', { onRequest: o.need('viewer') }, async () => ({ ups: o.ups.list() }));
  app.get<{ Params: { name: string } }>('/api/ups/:name', { onRequest: o.need('viewer') }, async (req) => o.ups.status(req.params.name));
  app.get<{ Params: { name: string } }>('/api/ups/:name/plan', { onRequest: o.need('viewer') }, async (req) => ({ ups: req.params.name, stages: o.ups.plan(req.params.name) }));
  // A drill changes what a simulated UPS reports; its policy then acts on real servers: admin only.
  app.post<{ Params: { name: string }; Body: UpsDrill }>(
    '/api/ups/:name/simulate',
    { onRequest: o.need('admin'), schema: { body: simulateBody } },
    async (req) => {
      o.log.warn({ origin: o.who(req), ups: req.params.name, change: req.body }, 'UPS drill: the simulated UPS now reports this change; its policy acts on it');
      return o.ups.simulate(req.params.name, req.body);
    },
  );
}
