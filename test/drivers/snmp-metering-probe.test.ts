/**
 * How the snmp-pdu driver finds a PDU's metering and model, against the test agent on 127.0.0.1
 * serving the profile fixtures (test/fixtures/snmp) with metering rows added here. These are
 * driver behaviours (probe at open, -1 as "not measured", per-unit model objects, SNMPv1's
 * noSuchName), not vendor facts: no real recording of a Sentry4, HPE or Tripp Lite PDU exists
 * yet, so their values below are inputs, written in the units their MIBs state.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { snmpPduDriver, type SnmpPdu, type SnmpSpec } from '../../drivers/snmp-pdu/index.js';
import { REPO } from '../support/demo.js';
import { makeDriverContext } from '../support/driver-context.js';
import { loadRecording, T, TestAgent, type Value } from '../support/snmp-agent.js';
import { snmpSpec } from '../support/snmp-spec.js';

const E = '1.3.6.1.4.1';
const FIXTURES = join(REPO, 'test', 'fixtures', 'snmp');
const sig = (): AbortSignal => new AbortController().signal;
const int = (value: number): Value => ({ type: T.Integer, value });
const str = (s: string): Value => ({ type: T.OctetString, value: Buffer.from(s) });

const open: { agent: TestAgent; device: SnmpPdu }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.device.close();
    await o.agent.stop();
  }
});

/** The fixture plus `rows`, on a read-only agent (a SET is refused and counted). */
async function serve(fixture: string, rows: Record<string, Value>, over: Partial<Record<keyof SnmpSpec, unknown>> = {}): Promise<{ agent: TestAgent; device: SnmpPdu }> {
  const data = loadRecording(join(FIXTURES, `${fixture}.snmprec`));
  for (const [oid, v] of Object.entries(rows)) data.set(oid, v);
  const agent = await new TestAgent({ data, onSet: () => 17 /* notWritable */ }).start();
  const device = snmpPduDriver.create(snmpSpec({ port: agent.port, ...over }), makeDriverContext({ id: 'pdu-m' })) as SnmpPdu;
  open.push({ agent, device });
  await device.open(sig());
  return { agent, device };
}

describe('snmp-pdu metering probe and model object', () => {
  it('sentry4: reads st4OutletMonitorTable in its units, and a -1 column as not measured', async () => {
    const m = `${E}.1718.4.1.8.3.1`; // unit 1, cord 1, outlet N
    const { agent, device } = await serve('sentry4', {
      // hundredth Amps, tenth Volts, Watts, Watt-Hours (Sentry4-MIB UNITS); -1 = no reading
      [`${m}.3.1.1.1`]: int(123),
      [`${m}.6.1.1.1`]: int(2073),
      [`${m}.7.1.1.1`]: int(250),
      [`${m}.14.1.1.1`]: int(-1),
      [`${m}.3.1.1.2`]: int(0),
      [`${m}.6.1.1.2`]: int(2066),
      [`${m}.7.1.1.2`]: int(0),
      [`${m}.14.1.1.2`]: int(4321),
      [`${E}.1718.4.1.2.2.1.5.1`]: str('PRO2-4321'), // st4UnitModel, unit 1
    });
    expect(device.caps.metering).toBe(true);
    expect(device.info()).toMatchObject({ model: 'PRO2-4321', details: { sysDescr: 'Sentry Switched PRO2 PDU', metering: 'amps, volts, watts, energyWh' } });
    const r = await device.meter!([1, 2], sig());
    expect(r.get(1)).toEqual({ amps: 1.23, volts: 207.3, watts: 250 });
    expect(r.get(2)).toEqual({ amps: 0, volts: 206.6, watts: 0, energyWh: 4321 });
    expect(agent.sets).toHaveLength(0);
  });

  it('hpe-epdu: the model, firmware and metering of unit 0 (the master of a chain)', async () => {
    const o = `${E}.232.165.7.5.1.1`; // pdu2OutletTable, unit 0, outlet N
    const { device } = await serve('hpe-epdu', {
      // milliamps, Watts, Watt-Hours (CPQPOWER-MIB DESCRIPTIONs)
      [`${o}.5.0.1`]: int(1500),
      [`${o}.14.0.1`]: int(320),
      [`${o}.15.0.1`]: int(98765),
      [`${E}.232.165.7.1.2.1.3.0`]: str('HP 8.6kVA 208V 30A 3Ph NA/JP maPDU'), // pdu2Model.0
      [`${E}.232.165.7.1.2.1.5.0`]: str('02.00.0043'), // pdu2FirmwareVersion.0
    });
    expect(device.info()).toMatchObject({ model: 'HP 8.6kVA 208V 30A 3Ph NA/JP maPDU', firmware: '02.00.0043' });
    expect((await device.meter!([1], sig())).get(1)).toEqual({ amps: 1.5, watts: 320, energyWh: 98765 });
  });

  it('tripplite: the model is tlpDeviceModel, never the card’s sysDescr; unmeasured columns are left out', async () => {
    const t = `${E}.850.1.1.3.2.3.3.1.1`; // tlpPduOutletTable, device 1, outlet N
    const { device } = await serve('tripplite', {
      '1.3.6.1.2.1.1.1.0': str('Ubuntu 16.04.4 LTS'), // what a Tripp Lite card answers (issue 20)
      [`${E}.850.1.1.1.2.1.5.1`]: str('PDUMH15NET'), // tlpDeviceModel.1
      // 0.01 Amps and Watts; this receptacle does not measure voltage (no column 7)
      [`${t}.8.1.1`]: int(179),
      [`${t}.9.1.1`]: int(211),
    });
    expect(device.info()).toMatchObject({ model: 'PDUMH15NET', details: { sysDescr: 'Ubuntu 16.04.4 LTS', metering: 'amps, watts' } });
    expect((await device.meter!([1], sig())).get(1)).toEqual({ amps: 1.79, watts: 211 });
  });

  it('a PDU of a metering family that answers none of its columns shows no metering and no model, over SNMPv1 too', async () => {
    // SNMPv1 answers noSuchName for the whole GET; the sentry4 model is a GET of one object.
    const { agent, device } = await serve('sentry4', {}, { version: '1' });
    expect(device.profile?.name).toBe('sentry4');
    expect(device.caps.metering).toBe(false);
    expect(device.meter).toBeUndefined();
    expect(device.info().model).toBeUndefined();
    expect(device.info().details?.sysDescr).toBe('Sentry Switched PRO2 PDU');
    expect([...(await device.read([1, 2, 3, 4], sig())).values()]).toEqual(['on', 'on', 'off', 'unknown']);
    expect(agent.sets).toHaveLength(0);
  });

  it('a metering read against a silent agent fails as unreachable, naming the OID, and invents nothing', async () => {
    const { agent, device } = await serve('hpe-epdu', { [`${E}.232.165.7.5.1.1.5.0.1`]: int(1500) });
    agent.silent = true;
    await expect(device.meter!([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', snmpStatus: 'timeout', oid: `${E}.232.165.7.5.1.1.5.0.1` });
  });
});
