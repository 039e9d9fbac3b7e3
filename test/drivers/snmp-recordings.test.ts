/**
 * The snmp-pdu driver against every real PDU recording in ../shared/snmprec, replayed by the test
 * agent on 127.0.0.1 with the device's SET behaviour wired in (a write to the control column
 * changes every status view, the way the PDU does). Expectations are read from the recording
 * with the encodings its README documents, not from the driver's profiles.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { snmpPduDriver, type SnmpPdu } from '../../drivers/snmp-pdu/index.js';
import type { Power } from '../../drivers/types.js';
import { makeDriverContext } from '../support/driver-context.js';
import { behaviour, onSetFor, type History } from '../support/pdu-behaviour.js';
import { describeShared } from '../support/peers.js';
import { loadRecording, T, TestAgent, type Value } from '../support/snmp-agent.js';
import { snmpSpec } from '../support/snmp-spec.js';

const E = '1.3.6.1.4.1';
const sig = (): AbortSignal => new AbortController().signal;
const intOf = (v: Value | undefined): number | undefined => (typeof v?.value === 'number' ? v.value : undefined);
const textOf = (v: Value | undefined): string | undefined => (Buffer.isBuffer(v?.value) ? v.value.toString('utf8') : undefined);

/** Values of a column, by outlet number (last OID arc, or the arc before `suffix`). */
function column(data: Map<string, Value>, col: string, suffix = ''): Map<number, Value> {
  const out = new Map<number, Value>();
  const re = new RegExp(`^${col.replace(/\./g, '\\.')}\\.(?:\\d+\\.)*?(\\d+)${suffix ? `\\.${suffix}` : ''}$`);
  for (const [oid, v] of data) {
    const m = re.exec(oid);
    if (m) out.set(Number(m[1]), v);
  }
  return out;
}

interface Expect {
  file: string;
  kind: string;
  /** Profiles that must read this recording (the first is what auto must pick). */
  profiles: string[];
  outlets: number;
  /** The status view each profile reads, with the README's encoding. */
  states: (data: Map<string, Value>) => Power[];
  names: (data: Map<string, Value>) => string[];
  meter?: { outlet: number; reading: Record<string, number> };
  /** Derive what the dump lacks but the device serves (documented per file). */
  prepare?: (data: Map<string, Value>) => void;
}

const enc = (m: Record<number, Power>) => (v: Value | undefined): Power => m[intOf(v) ?? NaN] ?? 'unknown';
const statesOf = (col: string, m: Record<number, Power>, suffix = '') => (data: Map<string, Value>): Power[] => [...column(data, col, suffix).entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => enc(m)(v));
const namesOf = (col: string) => (data: Map<string, Value>): string[] => [...column(data, col).entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => textOf(v) ?? '');

const apc = (file: string, outlets: number): Expect => ({
  file,
  kind: 'apc',
  profiles: ['apc-rpdu', 'apc-rpdu2', 'apc-spdu'],
  outlets,
  states: statesOf(`${E}.318.1.1.12.3.5.1.1.4`, { 1: 'on', 2: 'off' }),
  names: namesOf(`${E}.318.1.1.12.3.5.1.1.2`),
});

const EXPECT: Record<string, Expect> = {
  'apc-7902b.snmprec': apc('apc-7902b.snmprec', 16),
  'apc-8641.snmprec': apc('apc-8641.snmprec', 24),
  'cyberpower-pdu44005.snmpwalk': {
    file: 'cyberpower-pdu44005.snmpwalk',
    kind: 'cyberpower',
    profiles: ['cyberpower'],
    outlets: 10,
    states: statesOf(`${E}.3808.1.1.3.3.5.1.1.4`, { 1: 'on', 2: 'off' }),
    names: namesOf(`${E}.3808.1.1.3.3.3.1.1.2`),
    meter: { outlet: 1, reading: { amps: 0 } },
  },
  'raritan-pdu2.snmpwalk': {
    file: 'raritan-pdu2.snmpwalk',
    kind: 'raritan-px2',
    profiles: ['raritan-px2'],
    outlets: 12,
    states: statesOf(`${E}.13742.6.5.4.3.1.3.1`, { 7: 'on', 8: 'off' }, '14'),
    // outletName is not in the dump: the driver falls back to outletLabel.
    names: namesOf(`${E}.13742.6.3.5.3.1.2.1`),
    meter: { outlet: 1, reading: { amps: 0.074, volts: 233, watts: 7, energyWh: 107881 } },
    // The dump has the onOff sensor (7 on / 8 off) but not the switching table nor the system
    // group: serve outletSwitchingState and switchingOperation as the PDU does, from the sensor.
    prepare: (data) => {
      for (const [n, v] of column(data, `${E}.13742.6.5.4.3.1.3.1`, '14')) {
        data.set(`${E}.13742.6.4.1.2.1.3.1.${n}`, { type: T.Integer, value: intOf(v)! });
        data.set(`${E}.13742.6.4.1.2.1.2.1.${n}`, { type: T.Integer, value: intOf(v) === 7 ? 1 : 0 });
      }
    },
  },
};

describeShared('snmp-pdu on the real PDU recordings', 'snmprec', (dir) => {
  const files = dir ? readdirSync(dir).filter((f) => /\.(snmprec|snmpwalk)$/.test(f)) : [];
  const open: { agent: TestAgent; device: SnmpPdu }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) {
      await o.device.close();
      await o.agent.stop();
    }
  });
  const serve = async (x: Expect, profile: string): Promise<{ agent: TestAgent; device: SnmpPdu; history: History; data: Map<string, Value> }> => {
    const data = loadRecording(join(dir, x.file));
    x.prepare?.(data);
    const history: History = [];
    const agent = await new TestAgent({ data, onSet: onSetFor(behaviour(x.kind, history)) }).start();
    const device = snmpPduDriver.create(snmpSpec({ port: agent.port, profile }), makeDriverContext({ id: 'rec' })) as SnmpPdu;
    open.push({ agent, device });
    return { agent, device, history, data };
  };

  it('has an expectation for every recording there', () => {
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((f) => !EXPECT[f])).toEqual([]);
  });

  for (const x of Object.values(EXPECT)) {
    it(`${x.file}: auto picks ${x.profiles[0]} and reads count, names, states${x.meter ? ', metering' : ''} in one GET`, async () => {
      const { agent, device, data } = await serve(x, 'auto');
      await device.open(sig());
      expect(device.profile?.name).toBe(x.profiles[0]);
      expect(device.outletCount).toBe(x.outlets);
      expect([...device.info().outletNames!.values()]).toEqual(x.names(data));
      const before = agent.requests;
      const read = await device.read(Array.from({ length: x.outlets }, (_, i) => i + 1), sig());
      expect(agent.requests - before).toBe(1);
      const want = x.states(data);
      expect(want).toHaveLength(x.outlets);
      expect([...read.values()]).toEqual(want);
      expect(want).toContain('on');
      if (x.meter) expect((await device.meter!([x.meter.outlet], sig())).get(x.meter.outlet)).toEqual(x.meter.reading);
      expect(agent.sets).toHaveLength(0);
    });

    for (const profile of x.profiles)
      it(`${x.file}: ${profile} switches an outlet through its control OID, and every view follows`, async () => {
        const { device, history, data } = await serve(x, profile);
        await device.open(sig());
        const all = Array.from({ length: x.outlets }, (_, i) => i + 1);
        const states = await device.read(all, sig());
        const on = all.find((n) => states.get(n) === 'on')!;
        await device.switch(on, 'off', sig());
        expect((await device.read([on], sig())).get(on)).toBe('off');
        await device.switch(on, 'on', sig());
        expect((await device.read([on], sig())).get(on)).toBe('on');
        expect(history.map((h) => `${h.instance.split('.').at(-1)}:${h.action}`)).toEqual([`${on}:off`, `${on}:on`]);
        // The README's encoding of the primary view agrees after the switches.
        expect(x.states(data)[on - 1]).toBe('on');
      });
  }

  it('apc-8641.snmprec: the rPDU, rPDU2 (inverted) and sPDU views read the same states', async () => {
    const x = EXPECT['apc-8641.snmprec']!;
    const reads: Power[][] = [];
    for (const profile of x.profiles) {
      const { device } = await serve(x, profile);
      await device.open(sig());
      reads.push([...(await device.read(Array.from({ length: x.outlets }, (_, i) => i + 1), sig())).values()]);
    }
    expect(reads[1]).toEqual(reads[0]);
    expect(reads[2]).toEqual(reads[0]);
    expect(reads[0]).toContain('off');
  });
});
