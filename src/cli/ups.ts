/**
 * `ockle ups`: each UPS's reading and policy stage; `ockle ups simulate` drills a simulated
 * one; `ockle plan ups NAME` shows what each stage would do now. Lines for `ockle status`.
 */
import type { UpsStatus } from '../core/model.js';
import type { UpsPlanStage } from '../ups/monitor.js';
import type { Client } from './client.js';

type Paint = (code: string | undefined, s: string) => string;

export const UPS_USAGE = `  ups [NAME]                   each UPS: mains or battery, charge, runtime, load, alarms, and where
                               its power-cut policy stands (docs/ups.md)
  ups simulate NAME mains|battery|silent [--charge N]   drill a simulated UPS (type sim; admin):
                               its policy then acts on the real servers as in a power cut
  plan ups NAME                what each stage of a UPS's policy would do now (tiers, low battery,
                               restore), without doing it
`;

const mins = (s: number): string => (s < 120 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);

/** `ups-1 on battery 71 % 12 min load 35 % [shedding: tier-2 in 40 s]` */
export function upsLine(u: UpsStatus, paint: Paint): string {
  const power =
    u.power === 'mains' ? paint('32', 'on mains') : u.power === 'battery' ? paint('31', 'ON BATTERY') : u.power === 'unknown' ? paint('33', 'UNKNOWN') : paint('33', u.power);
  const facts = [
    u.chargePct !== null && `${Math.round(u.chargePct)} %`,
    u.runtimeS !== null && `${mins(u.runtimeS)} runtime`,
    u.loadPct !== null && `load ${u.loadPct} %`,
    u.lowBattery && paint('31', 'LOW BATTERY'),
  ].filter(Boolean);
  const stage = u.stage === 'normal' ? '' : ` [${paint(u.stage === 'unknown' ? '33' : '31', u.stage)}: ${u.detail}]`;
  const alarms = u.alarms.length > 0 ? ` ${paint('33', `alarms: ${u.alarms.join('; ')}`)}` : '';
  return `ups ${u.name} ${power}${facts.length ? ` ${facts.join(', ')}` : ''}${stage}${alarms}`;
}

export interface UpsCliContext {
  readonly client: () => Client;
  readonly out: (s: string) => void;
  readonly json: (x: unknown) => void;
  readonly asJson: boolean;
  readonly paint: Paint;
  readonly usage: (msg: string) => number;
  readonly charge: string | undefined;
}

export async function upsCommand(rest: readonly string[], c: UpsCliContext): Promise<number> {
  if (rest[0] === 'simulate') {
    const [, name, power, ...more] = rest;
    if (!name || (power !== undefined && !['mains', 'battery', 'silent'].includes(power)) || more.length > 0 || (power === undefined && c.charge === undefined))
      return c.usage('the command is `ockle ups simulate NAME mains|battery|silent [--charge N]`');
    const charge = c.charge === undefined ? undefined : Number(c.charge);
    if (charge !== undefined && !(Number.isFinite(charge) && charge >= 0 && charge <= 100)) return c.usage(`--charge ${c.charge}: give a percentage from 0 to 100`);
    const u = await c.client().request<UpsStatus>('POST', `/api/ups/${encodeURIComponent(name)}/simulate`, { ...(power && { power }), ...(charge !== undefined && { chargePct: charge }) });
    if (c.asJson) return c.json(u), 0;
    c.out(`${upsLine(u, c.paint)}\n(drill: the policy acts on this as on a real power cut; \`ockle watch --types ups.stage\` follows it)\n`);
    return 0;
  }
  if (rest.length > 1) return c.usage('the command is `ockle ups [NAME]`');
  const list = rest[0] ? [await c.client().request<UpsStatus>('GET', `/api/ups/${encodeURIComponent(rest[0])}`)] : (await c.client().request<{ ups: UpsStatus[] }>('GET', '/api/ups')).ups;
  if (c.asJson) return c.json(rest[0] ? list[0] : { ups: list }), 0;
  if (list.length === 0) return c.out('no UPS is configured (config/ups/NAME.ini; docs/ups.md)\n'), 0;
  for (const u of list) {
    c.out(`${upsLine(u, c.paint)}\n`);
    if (rest[0] || u.stage !== 'normal') {
      c.out(`  ${u.type}${u.description ? ` (${u.description})` : ''}; flags ${u.flags.join(' ') || '-'}; ${u.error ? `error: ${u.error}` : `read ${u.lastReadAt ?? 'never'}`}\n`);
      if (u.event) c.out(`  event ${u.event.id} since ${u.event.startedAt} (cut ${u.event.cut}): done ${u.event.done.join(', ') || 'nothing yet'}; restore brings back ${u.event.wasOn.join(', ') || 'nothing'}\n`);
      if (u.actionId) c.out(`  running: action ${u.actionId} (\`ockle action ${u.actionId}\`)\n`);
    }
  }
  return 0;
}

export async function upsPlan(name: string | undefined, c: UpsCliContext): Promise<number> {
  if (!name) return c.usage('the command is `ockle plan ups NAME`');
  const p = await c.client().request<{ ups: string; stages: UpsPlanStage[] }>('GET', `/api/ups/${encodeURIComponent(name)}/plan`);
  if (c.asJson) return c.json(p), 0;
  c.out(`UPS ${p.ups}: what each stage would do now (nothing is done)\n`);
  for (const s of p.stages) {
    const what = s.kind === 'fsd' ? 'tell the UPS’s other monitors to shut down (FSD)' : s.servers.length === 0 ? 'nothing (already there)' : `${s.kind} ${s.servers.join(', ')}`;
    c.out(`${s.stage} (${s.when}): ${what}\n`);
    s.waves.forEach((w, i) => c.out(`  wave ${i + 1}: ${w.join(', ')}\n`));
    for (const h of s.held) c.out(`  kept ${h.server}: ${h.why}\n`);
  }
  return 0;
}
