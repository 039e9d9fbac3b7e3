/**
 * The snmp-pdu driver against a real SNMP peer on 127.0.0.1 (the test agent, wired with each
 * vendor's SET behaviour as its MIB describes it): every profile on a fixture of its own,
 * detection, one round trip per read, verified switching, typed errors and faults.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { snmpPduDriver, type SnmpPdu, type SnmpSpec } from '../../drivers/snmp-pdu/index.js';
import { PROFILE_NAMES } from '../../drivers/snmp-pdu/profiles/index.js';
import type { Power } from '../../drivers/types.js';
import { Secret } from '../../src/config/types.js';
import { REPO } from '../support/demo.js';
import { makeDriverContext } from '../support/driver-context.js';
import { behaviour, onSetFor, type History } from '../support/pdu-behaviour.js';
import { ErrorStatus, loadRecording, T, TestAgent } from '../support/snmp-agent.js';
import { describeOutletDevice } from './outlet-contract.js';
import { snmpSpec } from '../support/snmp-spec.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'snmp');
const sig = (): AbortSignal => new AbortController().signal;


interface Rig {
  agent: TestAgent;
  device: SnmpPdu;
  history: History;
}
const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.device.close();
    await r.agent.stop();
  }
});

async function rig(fixture: string, kind: string, over: Partial<Record<keyof SnmpSpec, unknown>> = {}, agentOver: { maxVarbinds?: number; maxBulkVarbinds?: number } = {}): Promise<Rig> {
  const history: History = [];
  const agent = await new TestAgent({ data: loadRecording(join(FIXTURES, `${fixture}.snmprec`)), onSet: onSetFor(behaviour(kind, history)), ...agentOver }).start();
  const device = snmpPduDriver.create(snmpSpec({ port: agent.port, ...over }), makeDriverContext({ id: 'pdu-t' })) as SnmpPdu;
  const r = { agent, device, history };
  rigs.push(r);
  return r;
}

const all = (d: SnmpPdu): number[] => Array.from({ length: d.outletCount }, (_, i) => i + 1);

/** Each profile's fixture: what it must read, and how its device reacts. */
const CASES: {
  profile: string;
  kind: string;
  over?: Partial<Record<keyof SnmpSpec, unknown>>;
  states: Power[];
  names: string[];
  meter?: Record<number, Record<string, number>>;
}[] = [
  { profile: 'apc-rpdu', kind: 'apc', states: ['on', 'on', 'off', 'switching'], names: ['web-1', 'db-1', 'spare', 'storage-1'] },
  { profile: 'apc-rpdu2', kind: 'apc', states: ['on', 'on', 'off', 'on'], names: ['web-1', 'db-1', 'spare', 'storage-1'] },
  { profile: 'apc-spdu', kind: 'apc', states: ['on', 'off', 'on', 'unknown'], names: ['web-1', 'db-1', 'spare', 'storage-1'] },
  { profile: 'raritan-px1', kind: 'raritan-px1', states: ['on', 'off', 'on', 'switching'], names: ['web-1', 'db-1', 'spare', 'storage-1'], meter: { 1: { amps: 1.2 }, 3: { amps: 0.35 } } },
  {
    profile: 'raritan-px2',
    kind: 'raritan-px2',
    states: ['on', 'on', 'off', 'on'],
    names: ['web-1', 'db-1', 'spare', 'storage-1'],
    meter: { 1: { amps: 0.74, volts: 233, watts: 150, energyWh: 107881 }, 3: { amps: 0.31, volts: 232, watts: 70, energyWh: 2200 } },
  },
  {
    profile: 'eaton-epdu',
    kind: 'eaton',
    states: ['on', 'on', 'off', 'switching'],
    names: ['web-1', 'db-1', 'spare', 'storage-1'],
    meter: { 1: { amps: 1.5, volts: 230.1, watts: 320, energyWh: 98765 }, 2: { amps: 0.8, volts: 230.1, watts: 170, energyWh: 4321 } },
  },
  { profile: 'hpe-epdu', kind: 'hpe', states: ['on', 'on', 'off', 'switching'], names: ['web-1', 'db-1', 'spare', 'storage-1'] },
  { profile: 'cyberpower', kind: 'cyberpower', states: ['on', 'on', 'off', 'on'], names: ['web-1', 'db-1', 'spare', 'storage-1'], meter: { 1: { amps: 1.2 }, 3: { amps: 0.5 } } },
  { profile: 'sentry3', kind: 'sentry3', states: ['on', 'on', 'off', 'switching'], names: ['web-1', 'db-1', 'spare', 'storage-1'], meter: { 1: { amps: 1.5 } } },
  { profile: 'sentry4', kind: 'sentry4', states: ['on', 'on', 'off', 'unknown'], names: ['web-1', 'db-1', 'spare', 'storage-1'] },
  { profile: 'tripplite', kind: 'tripplite', states: ['on', 'on', 'off', 'on'], names: ['web-1', 'db-1', 'spare', 'storage-1'] },
  { profile: 'tripplite-pa15', kind: 'tripplite', states: ['on', 'on', 'off', 'on'], names: ['web-1', 'db-1', 'spare', 'storage-1'] },
  {
    profile: 'generic',
    kind: 'if-mib',
    over: { profile: 'generic', status_oid: '1.3.6.1.2.1.2.2.1.7', status_on: ['1'], status_off: ['2'], control_oid: '1.3.6.1.2.1.2.2.1.7', control_on: 1, control_off: 2, name_oid: '1.3.6.1.2.1.2.2.1.2' },
    states: ['on', 'on', 'off', 'on'],
    names: ['Gi1/0/1', 'Gi1/0/2', 'Gi1/0/3', 'Gi1/0/4'],
  },
];

describe('snmp-pdu profiles, each on its own fixture', () => {
  it('covers every built-in profile', () => {
    expect(CASES.map((c) => c.profile).sort()).toEqual([...PROFILE_NAMES, 'generic'].sort());
  });

  for (const c of CASES) {
    describe(c.profile, () => {
      it(`is detected (${c.over ? 'configured' : 'profile = auto'}) and reads states, names, count${c.meter ? ' and metering' : ''}`, async () => {
        const { device, agent } = await rig(c.profile, c.kind, c.over);
        await device.open(sig());
        expect(device.profile?.name).toBe(c.profile);
        expect(device.outletCount).toBe(4);
        expect([...(device.info().outletNames ?? new Map()).values()]).toEqual(c.names);
        const before = agent.requests;
        const states = await device.read(all(device), sig());
        expect(agent.requests - before).toBe(1); // every outlet in one GET
        expect(all(device).map((n) => states.get(n))).toEqual(c.states);
        expect(device.caps.metering).toBe(c.meter !== undefined);
        if (c.meter) {
          const m = await device.meter!(all(device), sig());
          for (const [n, r] of Object.entries(c.meter)) expect(m.get(Number(n))).toEqual(r);
        }
        expect(agent.sets).toHaveLength(0); // opening and reading never write
      });

      it('switches through its control OID and reads the result back', async () => {
        const { device, agent, history } = await rig(c.profile, c.kind, c.over);
        await device.open(sig());
        await device.switch(3, 'on', sig());
        expect((await device.read([3], sig())).get(3)).toBe('on');
        await device.switch(1, 'off', sig());
        expect((await device.read([1], sig())).get(1)).toBe('off');
        expect(history.map((h) => `${h.action}`)).toEqual(['on', 'off']);
        if (device.caps.cycle) {
          await device.switch(2, 'cycle', sig());
          expect(history.at(-1)?.action).toBe('cycle');
        }
        expect(agent.sets).toHaveLength(device.caps.cycle ? 3 : 2); // each command sent exactly once
      });
    });
  }
});

describeOutletDevice('snmp-pdu (apc-rpdu fixture)', async () => {
  const history: History = [];
  const agent = await new TestAgent({ data: loadRecording(join(FIXTURES, 'apc-rpdu.snmprec')), onSet: onSetFor(behaviour('apc', history)) }).start();
  // Outlet 4 has a command pending on the fixture: clear it, so every outlet reads on or off.
  agent.set('1.3.6.1.4.1.318.1.1.12.3.5.1.1.5.4', { type: T.Integer, value: 2 });
  const device = snmpPduDriver.create(snmpSpec({ port: agent.port, outlets: 4 }), makeDriverContext({ id: 'pdu-c' }));
  const view = (n: number): Power => (agent.int(`1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.${n}`) === 1 ? 'on' : 'off');
  return { device, peer: { power: view, writes: () => agent.sets.length }, close: () => agent.stop() };
});

describe('snmp-pdu transport', () => {
  it('polls many outlets with one GETBULK of the status columns', async () => {
    const { device, agent } = await rig('apc-rpdu', 'apc');
    await device.open(sig());
    const before = agent.requests;
    expect([...(await device.read(all(device), sig())).values()]).toEqual(['on', 'on', 'off', 'switching']);
    expect(agent.requests - before).toBe(1);
  });

  it('fetches what a truncated GETBULK answer lacks with a GET', async () => {
    const { device, agent } = await rig('apc-rpdu', 'apc', {}, { maxBulkVarbinds: 3 });
    await device.open(sig());
    const before = agent.requests;
    expect([...(await device.read(all(device), sig())).values()]).toEqual(['on', 'on', 'off', 'switching']);
    expect(agent.requests - before).toBe(2);
  });

  it('splits a GET at the agent’s varbind limit (learned from tooBig), and keeps the smaller batch', async () => {
    const { device, agent } = await rig('apc-rpdu', 'apc', { max_varbinds: 48 }, { maxVarbinds: 3 });
    const start = agent.requests;
    await device.open(sig()); // its GET of four names meets tooBig and learns the limit
    expect(agent.requests - start).toBeGreaterThan(6);
    for (let i = 0; i < 2; i++) {
      const before = agent.requests;
      // Three outlets: 6 varbinds (state + pending) in GETs of 3, no tooBig round trip any more.
      expect([...(await device.read([1, 2, 3], sig())).values()]).toEqual(['on', 'on', 'off']);
      expect(agent.requests - before).toBe(2);
    }
  });

  it('reads over SNMPv1 too (noSuchName instead of v2 exceptions)', async () => {
    const { device } = await rig('apc-rpdu', 'apc', { version: '1' });
    await device.open(sig());
    expect(device.profile?.name).toBe('apc-rpdu');
    expect([...(await device.read(all(device), sig())).values()]).toEqual(['on', 'on', 'off', 'switching']);
    await device.switch(3, 'on', sig());
    expect((await device.read([3], sig())).get(3)).toBe('on');
  });

  it('does not match a profile on an agent without a PDU table, and says how to fix it', async () => {
    const agent = await new TestAgent({ data: new Map([['1.3.6.1.2.1.1.2.0', { type: T.Oid, value: '1.3.6.1.4.1.8072.3.2.10' }]]) }).start();
    const device = snmpPduDriver.create(snmpSpec({ port: agent.port }), makeDriverContext({ id: 'pdu-x' }));
    try {
      await expect(device.open(sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REPLY', hint: expect.stringMatching(/profile = one of apc-rpdu/) });
    } finally {
      await device.close();
      await agent.stop();
    }
  });
});

describe('snmp-pdu faults', () => {
  it('a silent agent is a timeout: unreachable, naming the OID, never "off"', async () => {
    const { device, agent } = await rig('apc-rpdu', 'apc');
    await device.open(sig());
    agent.silent = true;
    const err = await device.read([1], sig()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', snmpStatus: 'timeout', oid: '1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.1', outlet: 1 });
  });

  it('a wrong community goes unanswered, and the hint says to check it', async () => {
    const { device } = await rig('apc-rpdu', 'apc', { community: new Secret('not-the-community') });
    const err = (await device.open(sig()).catch((e: unknown) => e)) as Error & { hint: string };
    expect(err).toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', snmpStatus: 'timeout' });
    expect(err.hint).toMatch(/check the community/);
    expect(err.message).not.toContain('not-the-community');
  });

  it('a SET with a read-only community is refused with noAccess and a hint, and changes nothing', async () => {
    const { device, agent } = await rig('apc-rpdu', 'apc', { write_community: new Secret('public') });
    await device.open(sig());
    const err = await device.switch(3, 'on', sig()).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'OCKLE_DEVICE_REFUSED',
      snmpStatus: 'noAccess',
      outlet: 3,
      oid: '1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.3',
      hint: expect.stringMatching(/community is read-only/),
    });
    expect(agent.sets).toHaveLength(0);
    expect((await device.read([3], sig())).get(3)).toBe('off');
  });

  it('a value the agent rejects (wrongValue) is a typed refusal, sent once and not retried', async () => {
    // A PDU whose firmware takes other command values than the profile's: every SET gets wrongValue.
    const agent = await new TestAgent({ data: loadRecording(join(FIXTURES, 'apc-rpdu.snmprec')), onSet: () => ErrorStatus.wrongValue }).start();
    const device = snmpPduDriver.create(snmpSpec({ port: agent.port }), makeDriverContext({ id: 'pdu-w' }));
    try {
      await device.open(sig());
      const before = agent.requests;
      const err = await device.switch(3, 'on', sig()).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', snmpStatus: 'wrongValue', outlet: 3, hint: expect.stringMatching(/refused the value/) });
      expect(agent.requests - before).toBe(1);
      expect((await device.read([3], sig())).get(3)).toBe('off');
    } finally {
      await device.close();
      await agent.stop();
    }
  });

  it('an agent restarting mid-poll: the read fails as unreachable, the next one after it is back succeeds', async () => {
    const { device, agent } = await rig('apc-rpdu', 'apc');
    await device.open(sig());
    const port = agent.port;
    await agent.stop();
    await expect(device.read(all(device), sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE' });
    await agent.start(port);
    expect([...(await device.read(all(device), sig())).values()]).toEqual(['on', 'on', 'off', 'switching']);
  });

  it('an abort ends a request at once', async () => {
    const { device, agent } = await rig('apc-rpdu', 'apc', { request_timeout: 5000 });
    await device.open(sig());
    agent.silent = true;
    const ac = new AbortController();
    const p = device.read([1], ac.signal);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'OCKLE_OPERATION_ABORTED' });
  });
});
