/**
 * `nut` UPS source: a UPS served by NUT's upsd (Network UPS Tools), read over its TCP protocol.
 *
 * ockle logs in as a monitor of the UPS (`LOGIN`, like a secondary upsmon) and stays logged in
 * for the connection's life: upsd counts it in NUMLOGINS, and the primary upsmon waits for every
 * logged-in monitor to log out (or for its HOSTSYNC) before it runs its shutdown and cuts the
 * UPS, so ockle gets the time to shut the lab down in order. `close()` logs out.
 *
 * Each read is one `LIST VAR` (one round trip). upsd drops a client silent for 60 s
 * (server/upsd.c, "shed clients after 1 minute of inactivity"), so a monitor that polls less
 * often loses its login between polls; the next read logs in again.
 *
 * `mode = primary` also offers `forcedShutdown()`: `FSD`, which tells every monitor of the UPS
 * to shut down now (a latch in upsd until it restarts). The user needs `upsmon primary`.
 */
import type { Infer } from '../../src/config/types.js';
import { DeviceReplyError } from '../../src/errors.js';
import { defineDriver, type DeviceInfo, type DriverContext, type UpsPower, type UpsReading, type UpsSource } from '../types.js';
import { NutClient } from './client.js';
import { nutSketch, nutTemplate } from './definition.js';

export { nutTemplate };

export type NutSpec = Infer<typeof nutTemplate>;

/** A number as NUT gives it (decimal, dot separator); anything else is not reported. */
function num(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+(\.\d+)?$/.test(v.trim())) return undefined;
  return Number(v);
}

/**
 * `ups.alarm` is free text; drivers are asked to wrap each alarm in brackets when they raise
 * several (NUT's drivers/dstate.c, alarm_set). Bracketed: one alarm per bracket; otherwise the
 * whole text is one alarm (its words cannot be told apart).
 */
export function splitAlarms(text: string | undefined): string[] {
  const t = text?.trim() ?? '';
  if (t === '') return [];
  const bracketed = [...t.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!.trim()).filter(Boolean);
  return bracketed.length > 0 ? bracketed : [t];
}

/**
 * Where the output comes from, by NUT's status words (docs/new-drivers.txt, "Status data"):
 * OFF (output off) before OB (on battery) before BYPASS before OL (on line). Anything else
 * (WAIT while a driver starts, no status at all) is unknown, never mains.
 */
function powerOf(flags: readonly string[]): UpsPower {
  if (flags.includes('OFF')) return 'off';
  if (flags.includes('OB')) return 'battery';
  if (flags.includes('BYPASS')) return 'bypass';
  if (flags.includes('OL')) return 'mains';
  return 'unknown';
}

/** One reading from a UPS's variables (`LIST VAR`); upsd prepends `FSD` to ups.status itself. */
export function readingFromVars(vars: ReadonlyMap<string, string>): UpsReading {
  const flags = (vars.get('ups.status') ?? '').split(/\s+/).filter(Boolean);
  const chargePct = num(vars.get('battery.charge'));
  const runtimeS = num(vars.get('battery.runtime'));
  const loadPct = num(vars.get('ups.load'));
  const inputVolts = num(vars.get('input.voltage'));
  return {
    power: powerOf(flags),
    lowBattery: flags.includes('LB'),
    forcedShutdown: flags.includes('FSD'),
    ...(chargePct !== undefined && { chargePct }),
    ...(runtimeS !== undefined && { runtimeS }),
    ...(loadPct !== undefined && { loadPct }),
    ...(inputVolts !== undefined && { inputVolts }),
    flags,
    alarms: splitAlarms(vars.get('ups.alarm')),
  };
}

/** Manufacturer and model, without saying the manufacturer twice. */
function modelOf(vars: ReadonlyMap<string, string>): string | undefined {
  const pick = (prefix: 'device' | 'ups'): string | undefined => {
    const mfr = vars.get(`${prefix}.mfr`)?.trim();
    const model = vars.get(`${prefix}.model`)?.trim();
    if (!model) return mfr || undefined;
    return mfr && !model.toLowerCase().startsWith(mfr.toLowerCase()) ? `${mfr} ${model}` : model;
  };
  return pick('device') ?? pick('ups');
}

/** A UPS on upsd, read as a secondary monitor. */
export class NutUps implements UpsSource {
  readonly id: string;
  protected readonly client: NutClient;
  /** The UPS name on upsd. */
  protected readonly ups: string;
  #vars: ReadonlyMap<string, string> = new Map();

  constructor(id: string, spec: NutSpec, ctx: DriverContext) {
    this.id = id;
    this.ups = spec.ups;
    this.client = new NutClient({
      id,
      host: spec.host,
      port: spec.port,
      ups: spec.ups,
      username: spec.username,
      password: spec.password,
      primary: spec.mode === 'primary',
      timeoutMs: spec.request_timeout,
      log: ctx.log,
    });
  }

  /** Requests sent to upsd so far (login steps included): a read costs one. */
  get requests(): number {
    return this.client.requests;
  }

  /** Connections opened to upsd so far (a dropped one is opened again, with a new login, at the next read). */
  get connections(): number {
    return this.client.connections;
  }

  /** Connects, logs in (the credentials and the UPS name are checked here) and reads once. */
  async open(signal: AbortSignal): Promise<void> {
    await this.read(signal);
  }

  async read(signal: AbortSignal): Promise<UpsReading> {
    const ups = this.ups;
    const rows = await this.client.request({ words: ['LIST', 'VAR', ups], label: `LIST VAR ${ups}`, list: `VAR ${ups}` }, signal);
    const vars = new Map<string, string>();
    for (const w of rows) if (w[0] === 'VAR' && w[1] === ups && w[2] !== undefined) vars.set(w[2], w[3] ?? '');
    if (!vars.has('ups.status'))
      throw new DeviceReplyError(this.id, `${this.client.where}: the UPS reports no ups.status`, { hint: 'The NUT driver of this UPS gives no status; check it with `upsc UPS@HOST ups.status`.' });
    this.#vars = vars;
    return readingFromVars(vars);
  }

  info(): DeviceInfo {
    const v = this.#vars;
    const model = modelOf(v);
    const firmware = v.get('ups.firmware') ?? v.get('device.firmware');
    const serial = v.get('device.serial') ?? v.get('ups.serial');
    const driver = v.get('driver.name');
    return {
      ...(model !== undefined && { model }),
      ...(firmware !== undefined && { firmware }),
      details: { ups: this.ups, ...(driver !== undefined && { driver }), ...(serial !== undefined && { serial }) },
    };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** A UPS on upsd where ockle is a primary: it may raise FSD. */
export class NutPrimaryUps extends NutUps {
  /**
   * `FSD`: every monitor of the UPS shuts down now; the primary upsmon then cuts the UPS once
   * the others logged out. Sent once: upsd keeps it as a latch until it restarts.
   * @throws NutReplyError (ACCESS-DENIED: the user lacks `upsmon primary`), DeviceUnreachableError, OperationAbortedError
   */
  async forcedShutdown(signal: AbortSignal): Promise<void> {
    await this.client.request({ words: ['FSD', this.ups], label: `FSD ${this.ups}` }, signal);
  }
}

export const nutDriver = defineDriver({
  ...nutSketch,
  create: (spec, ctx) => (spec.mode === 'primary' ? new NutPrimaryUps(ctx.id, spec, ctx) : new NutUps(ctx.id, spec, ctx)),
});
