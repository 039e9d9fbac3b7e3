/**
 * `snmp` UPS source: any UPS whose network card serves the standard UPS-MIB (RFC 1628,
 * 1.3.6.1.2.1.33), through the same SNMP client (v1, v2c, v3) as the snmp-pdu driver. One GET
 * per read carries every object the policy needs; the alarm table is walked only when the UPS
 * says alarms are present.
 */
import { DeviceReplyError } from '../../src/errors.js';
import { type Infer } from '../../src/config/types.js';
import { defineDriver, type DeviceInfo, type UpsPower, type UpsReading, type UpsSource } from '../types.js';
import { SnmpClient, snmpTarget, type SnmpValue } from '../snmp-pdu/client.js';
import { upsMibSketch, type upsMibTemplate } from './definition.js';

/** UPS-MIB objects (RFC 1628, upsMIB = 1.3.6.1.2.1.33, upsObjects = .1). */
export const UPS_MIB = {
  manufacturer: '1.3.6.1.2.1.33.1.1.1.0',
  model: '1.3.6.1.2.1.33.1.1.2.0',
  software: '1.3.6.1.2.1.33.1.1.3.0',
  /** upsBatteryStatus: 1 unknown, 2 batteryNormal, 3 batteryLow, 4 batteryDepleted. */
  batteryStatus: '1.3.6.1.2.1.33.1.2.1.0',
  /** upsSecondsOnBattery: 0 when on mains. */
  secondsOnBattery: '1.3.6.1.2.1.33.1.2.2.0',
  /** upsEstimatedMinutesRemaining. */
  minutesRemaining: '1.3.6.1.2.1.33.1.2.3.0',
  /** upsEstimatedChargeRemaining, percent. */
  chargeRemaining: '1.3.6.1.2.1.33.1.2.4.0',
  /** upsInputVoltage of input line 1 (RMS volts). */
  inputVoltage1: '1.3.6.1.2.1.33.1.3.3.1.3.1',
  /** upsOutputSource: 1 other, 2 none, 3 normal, 4 bypass, 5 battery, 6 booster, 7 reducer. */
  outputSource: '1.3.6.1.2.1.33.1.4.1.0',
  /** upsOutputPercentLoad column (one row per output line). */
  outputLoad: '1.3.6.1.2.1.33.1.4.4.1.5',
  /** upsAlarmsPresent. */
  alarmsPresent: '1.3.6.1.2.1.33.1.6.1.0',
  /** upsAlarmDescr column: each row's value is one of the well-known alarm OIDs below. */
  alarmDescr: '1.3.6.1.2.1.33.1.6.2.1.2',
} as const;

/** The well-known alarms (upsWellKnownAlarms, 1.3.6.1.2.1.33.1.6.3.N), in words. */
const ALARMS: Readonly<Record<number, string>> = {
  1: 'battery bad',
  2: 'on battery',
  3: 'low battery',
  4: 'depleted battery',
  5: 'temperature bad',
  6: 'input bad',
  7: 'output bad',
  8: 'output overload',
  9: 'on bypass',
  10: 'bypass bad',
  11: 'output off as requested',
  12: 'UPS off as requested',
  13: 'charger failed',
  14: 'UPS output off',
  15: 'UPS system off',
  16: 'fan failure',
  17: 'fuse failure',
  18: 'general fault',
  19: 'diagnostic test failed',
  20: 'communications lost',
  21: 'awaiting power',
  22: 'shutdown pending',
  23: 'shutdown imminent',
  24: 'test in progress',
};

const SOURCE: Readonly<Record<number, UpsPower>> = { 2: 'off', 3: 'mains', 4: 'bypass', 5: 'battery', 6: 'mains', 7: 'mains' };
/** The status words NUT would show, so the faces speak one language for both sources. */
const WORD: Readonly<Record<UpsPower, string>> = { mains: 'OL', battery: 'OB', bypass: 'BYPASS', off: 'OFF', unknown: 'UNKNOWN' };

type Spec = Infer<typeof upsMibTemplate>;

const num = (v: SnmpValue | undefined): number | undefined => {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
};
const text = (v: SnmpValue | undefined): string | undefined => (Buffer.isBuffer(v) ? v.toString('utf8').replace(/\0+$/, '').trim() : typeof v === 'string' ? v.trim() : undefined) || undefined;

export class UpsMibSource implements UpsSource {
  readonly #client: SnmpClient;
  #info: DeviceInfo = {};

  constructor(
    readonly id: string,
    spec: Spec,
  ) {
    this.#client = new SnmpClient(snmpTarget(id, spec, 32));
  }

  async open(signal: AbortSignal): Promise<void> {
    const v = await this.#client.get([UPS_MIB.manufacturer, UPS_MIB.model, UPS_MIB.software, UPS_MIB.outputSource], signal);
    if (num(v.get(UPS_MIB.outputSource)) === undefined)
      throw new DeviceReplyError(this.id, `${this.id}: the agent answers but serves no UPS-MIB (upsOutputSource ${UPS_MIB.outputSource} is missing)`, {
        hint: 'Check that the address is the UPS’s network card and that its SNMP agent enables the standard UPS-MIB (RFC 1628).',
      });
    const mfr = text(v.get(UPS_MIB.manufacturer));
    const model = text(v.get(UPS_MIB.model));
    const firmware = text(v.get(UPS_MIB.software));
    this.#info = { ...((mfr || model) && { model: [mfr, model].filter(Boolean).join(' ') }), ...(firmware && { firmware }), details: { mib: 'UPS-MIB (RFC 1628)' } };
  }

  async read(signal: AbortSignal): Promise<UpsReading> {
    const lines = [1, 2, 3].map((n) => `${UPS_MIB.outputLoad}.${n}`);
    const v = await this.#client.get(
      [UPS_MIB.batteryStatus, UPS_MIB.secondsOnBattery, UPS_MIB.minutesRemaining, UPS_MIB.chargeRemaining, UPS_MIB.inputVoltage1, UPS_MIB.outputSource, UPS_MIB.alarmsPresent, ...lines],
      signal,
    );
    const source = num(v.get(UPS_MIB.outputSource));
    if (source === undefined)
      throw new DeviceReplyError(this.id, `${this.id}: no upsOutputSource in the reply`, { hint: 'The agent stopped serving the UPS-MIB; check the UPS’s network card.' });
    const power: UpsPower = SOURCE[source] ?? 'unknown';
    const battery = num(v.get(UPS_MIB.batteryStatus));
    const lowBattery = battery === 3 || battery === 4;
    const alarmsPresent = num(v.get(UPS_MIB.alarmsPresent)) ?? 0;
    const alarms: string[] = [];
    if (alarmsPresent > 0) {
      const rows = await this.#client.walk(UPS_MIB.alarmDescr, signal).catch(() => new Map<string, SnmpValue>());
      for (const descr of rows.values()) {
        const oid = typeof descr === 'string' ? descr : Buffer.isBuffer(descr) ? descr.toString() : '';
        const m = /^\.?1\.3\.6\.1\.2\.1\.33\.1\.6\.3\.(\d+)$/.exec(oid);
        alarms.push(m ? (ALARMS[Number(m[1])] ?? `alarm ${m[1]}`) : `alarm ${oid || '?'}`);
      }
      if (alarms.length === 0) alarms.push(`${alarmsPresent} alarm${alarmsPresent === 1 ? '' : 's'} present`);
    }
    const loads = lines.map((l) => num(v.get(l))).filter((x): x is number => x !== undefined);
    const charge = num(v.get(UPS_MIB.chargeRemaining));
    const minutes = num(v.get(UPS_MIB.minutesRemaining));
    const volts = num(v.get(UPS_MIB.inputVoltage1));
    const onBattery = num(v.get(UPS_MIB.secondsOnBattery));
    return {
      power,
      lowBattery,
      forcedShutdown: false,
      ...(charge !== undefined && { chargePct: charge }),
      ...(minutes !== undefined && { runtimeS: minutes * 60 }),
      ...(loads.length > 0 && { loadPct: Math.max(...loads) }),
      ...(volts !== undefined && { inputVolts: volts }),
      ...(onBattery !== undefined && power === 'battery' && { onBatteryS: onBattery }),
      flags: [WORD[power], ...(power === 'battery' ? ['DISCHRG'] : []), ...(lowBattery ? ['LB'] : [])],
      alarms,
    };
  }

  info(): DeviceInfo {
    return this.#info;
  }

  async close(): Promise<void> {
    this.#client.close();
  }
}

export const upsMibDriver = defineDriver({
  ...upsMibSketch,
  create: (spec, ctx) => new UpsMibSource(ctx.id, spec),
});
