/**
 * Per-outlet metering and the model the snmp-pdu driver shows, on every real PDU recording in
 * ../shared/snmprec, replayed by the test agent on 127.0.0.1. Each expected value is derived
 * at load time from the recording, in the units the vendor's MIB text gives (quoted beside
 * each), never from the driver's profiles; so a wrong column or scale in a profile fails here.
 *
 * No recording of a Sentry4, HPE or Tripp Lite PDU exists there yet: the first test fails as
 * soon as one is added without an expectation below.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { snmpPduDriver, type SnmpPdu } from '../../drivers/snmp-pdu/index.js';
import type { Reading } from '../../drivers/types.js';
import { makeDriverContext } from '../support/driver-context.js';
import { describeShared } from '../support/peers.js';
import { loadRecording, T, TestAgent, type Value } from '../support/snmp-agent.js';
import { snmpSpec } from '../support/snmp-spec.js';

const E = '1.3.6.1.4.1';
const SYS_DESCR = '1.3.6.1.2.1.1.1.0';
const sig = (): AbortSignal => new AbortController().signal;
const intOf = (v: Value | undefined): number | undefined => (typeof v?.value === 'number' ? v.value : typeof v?.value === 'bigint' ? Number(v.value) : undefined);
const textOf = (v: Value | undefined): string | undefined => (Buffer.isBuffer(v?.value) ? v.value.toString('latin1').trim() : undefined);
const round = (x: number): number => Math.round(x * 1000) / 1000;

/** Rows of a table column: the instance after `col.` → value. */
function rows(data: Map<string, Value>, col: string): Map<string, Value> {
  const out = new Map<string, Value>();
  for (const [oid, v] of data) if (oid.startsWith(`${col}.`)) out.set(oid.slice(col.length + 1), v);
  return out;
}

type Readings = Map<number, Reading>;

/**
 * APC rPDU2OutletMeteredStatusTable (PowerNet-MIB, 1.3.6.1.4.1.318.1.1.26.9.4.3.1): the row's
 * outlet is rPDU2OutletMeteredStatusNumber (.4) on module (.2) 1. Units from the MIB
 * DESCRIPTIONs: Current (.6) "in tenths of Amps", Power (.7) "in Watts", Energy (.11) "A user
 * resettable energy meter measuring Rack PDU load energy consumption in tenths of
 * kilowatt-hours", so Wh = value × 100.
 */
function apcMetered(data: Map<string, Value>): Readings {
  const t = `${E}.318.1.1.26.9.4.3.1`;
  const out: Readings = new Map();
  for (const [index, number] of rows(data, `${t}.4`)) {
    if (intOf(data.get(`${t}.2.${index}`)) !== 1) continue;
    out.set(intOf(number)!, {
      amps: round(intOf(data.get(`${t}.6.${index}`))! / 10),
      watts: intOf(data.get(`${t}.7.${index}`))!,
      energyWh: intOf(data.get(`${t}.11.${index}`))! * 100,
    });
  }
  return out;
}

/** CPS-MIB ePDUOutletStatusLoad (1.3.6.1.4.1.3808.1.1.3.3.5.1.1.7.N): "in tenths of Amps". */
function cyberpowerMetered(data: Map<string, Value>): Readings {
  const out: Readings = new Map();
  for (const [n, v] of rows(data, `${E}.3808.1.1.3.3.5.1.1.7`)) out.set(Number(n), { amps: round(intOf(v)! / 10) });
  return out;
}

/**
 * Raritan PDU2-MIB measurementsOutletSensorValue (…6.5.4.3.1.4.P.N.type), scaled by the PDU's
 * own outletSensorDecimalDigits (…6.3.5.4.1.7.P.N.type) and named by its outletSensorUnits
 * (…6.3.5.4.1.6: volt 1, amp 2, watt 3, wattHour 5), so the recording says what each number is.
 */
function raritanMetered(data: Map<string, Value>): Readings {
  const field: Record<number, keyof Reading> = { 1: 'volts', 2: 'amps', 3: 'watts', 5: 'energyWh' };
  const out = new Map<number, Record<string, number>>();
  for (const [inst, v] of rows(data, `${E}.13742.6.5.4.3.1.4`)) {
    const [pdu, n, type] = inst.split('.').map(Number);
    if (pdu !== 1 || ![1, 4, 5, 8].includes(type!)) continue; // rmsCurrent, rmsVoltage, activePower, activeEnergy
    const units = intOf(data.get(`${E}.13742.6.3.5.4.1.6.${inst}`));
    const digits = intOf(data.get(`${E}.13742.6.3.5.4.1.7.${inst}`));
    const k = units === undefined ? undefined : field[units];
    if (!k || digits === undefined) continue;
    const r = out.get(n!) ?? {};
    r[k] = round(intOf(v)! / 10 ** digits);
    out.set(n!, r);
  }
  return out;
}

interface Expect {
  /** Profiles to open the recording with, each with the model object (full OID) it must show. */
  models: Record<string, string>;
  /** Per-outlet readings derived from the recording; null: the recording has no per-outlet meter. */
  metering: (data: Map<string, Value>) => Readings | null;
  /** Serve what the dump lacks but the device answers (documented where used). */
  prepare?: (data: Map<string, Value>) => void;
}

const APC_MODELS = {
  'apc-rpdu': `${E}.318.1.1.12.1.5.0`, // rPDUIdentModelNumber
  'apc-rpdu2': `${E}.318.1.1.26.2.1.8.1`, // rPDU2IdentModelNumber, PDU 1
  'apc-spdu': `${E}.318.1.1.4.1.4.0`, // sPDUIdentModelNumber
};

const EXPECT: Record<string, Expect> = {
  'apc-8641.snmprec': { models: APC_MODELS, metering: apcMetered },
  // A switched-only rack PDU: no rPDU2OutletMeteredStatusTable at all.
  'apc-7902b.snmprec': { models: APC_MODELS, metering: (d) => (apcMetered(d).size > 0 ? apcMetered(d) : null) },
  'cyberpower-pdu44005.snmpwalk': { models: { cyberpower: `${E}.3808.1.1.3.1.5.0` /* ePDUIdentModelNumber */ }, metering: cyberpowerMetered },
  // Model anonymised: the dump has no nameplate (pduModel …6.3.2.1.1.3.1) nor system group.
  'raritan-pdu2.snmpwalk': {
    models: { 'raritan-px2': `${E}.13742.6.3.2.1.1.3.1` },
    metering: raritanMetered,
    // The dump has the onOff sensor (…6.5.4.3.1.3.1.N.14, 7 on / 8 off) but not the switching
    // table the profile reads (outletSwitchingState …6.4.1.2.1.3.1.N): serve it from the sensor,
    // as snmp-recordings.test.ts does.
    prepare: (data) => {
      for (const [inst, v] of rows(data, `${E}.13742.6.5.4.3.1.3.1`))
        if (inst.endsWith('.14')) data.set(`${E}.13742.6.4.1.2.1.3.1.${inst.split('.')[0]}`, { type: T.Integer, value: intOf(v)! });
    },
  },
};

describeShared('snmp-pdu metering and model on the real PDU recordings', 'snmprec', (dir) => {
  const files = dir ? readdirSync(dir).filter((f) => /\.(snmprec|snmpwalk)$/.test(f)) : [];
  const open: { agent: TestAgent; device: SnmpPdu }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) {
      await o.device.close();
      await o.agent.stop();
    }
  });
  const serve = async (file: string, profile: string): Promise<{ agent: TestAgent; device: SnmpPdu; data: Map<string, Value> }> => {
    const data = loadRecording(join(dir, file));
    EXPECT[file]?.prepare?.(data);
    // A read-only agent: any SET is refused and counted, so "never writes" is checked at the peer.
    const agent = await new TestAgent({ data, onSet: () => 17 /* notWritable */ }).start();
    const device = snmpPduDriver.create(snmpSpec({ port: agent.port, profile }), makeDriverContext({ id: 'rec' })) as SnmpPdu;
    open.push({ agent, device });
    await device.open(sig());
    return { agent, device, data };
  };

  it('has a metering and model expectation for every recording there', () => {
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((f) => !EXPECT[f])).toEqual([]);
  });

  for (const [file, x] of Object.entries(EXPECT)) {
    for (const [profile, modelOid] of Object.entries(x.models)) {
      it(`${file}: ${profile} shows the PDU's own model object, and sysDescr only as a detail`, async () => {
        const { agent, device, data } = await serve(file, profile);
        const info = device.info();
        expect(info.model).toBe(textOf(data.get(modelOid)));
        const sysDescr = textOf(data.get(SYS_DESCR));
        expect(info.details?.sysDescr).toBe(sysDescr);
        if (info.model !== undefined && sysDescr !== undefined) expect(info.model).not.toBe(sysDescr);
        expect(agent.sets).toHaveLength(0);
      });

      it(`${file}: ${profile} reads every outlet's metering as the recording holds it`, async () => {
        const { agent, device, data } = await serve(file, profile);
        const want = x.metering(data);
        const all = Array.from({ length: device.outletCount }, (_, i) => i + 1);
        if (want === null) {
          // Nothing to show: no metering capability, no meter(), nothing invented.
          expect(device.caps.metering).toBe(false);
          expect(device.meter).toBeUndefined();
        } else {
          expect(want.size).toBe(device.outletCount);
          expect(device.caps.metering).toBe(true);
          const got = await device.meter!(all, sig());
          expect(all.map((n) => got.get(n))).toEqual(all.map((n) => want.get(n)));
        }
        expect(agent.sets).toHaveLength(0);
      });
    }
  }

  it('apc-8641.snmprec: the outlets add up to the PDU\'s own totals, which the MIB gives in other units', async () => {
    // rPDU2DeviceStatusPower (…26.4.3.1.5.1) "in hundredths of kilowatts", rPDU2DeviceStatusEnergy
    // (…26.4.3.1.9.1) "in tenths of kilowatt-hours", rPDU2PhaseStatusCurrent (…26.6.3.1.5.1) in
    // tenths of amps (PowerNet-MIB). A wrong outlet scale is 10× or 100× off; the sums differ from
    // the totals only by the meters' rounding, the PDU's own draw and the meters' reset times.
    const { device, data } = await serve('apc-8641.snmprec', 'apc-rpdu');
    const all = Array.from({ length: device.outletCount }, (_, i) => i + 1);
    const got = [...(await device.meter!(all, sig())).values()];
    const sum = (k: keyof Reading): number => got.reduce((s, r) => s + (r[k] ?? 0), 0);
    const near = (a: number, b: number): void => {
      expect(b).toBeGreaterThan(0);
      expect(a / b).toBeGreaterThan(0.75);
      expect(a / b).toBeLessThan(1.33);
    };
    near(sum('watts'), intOf(data.get(`${E}.318.1.1.26.4.3.1.5.1`))! * 10);
    near(sum('energyWh'), intOf(data.get(`${E}.318.1.1.26.4.3.1.9.1`))! * 100);
    near(sum('amps'), intOf(data.get(`${E}.318.1.1.26.6.3.1.5.1`))! / 10);
  });
});
