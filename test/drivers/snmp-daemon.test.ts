/**
 * SNMP PDUs under the daemon: start adopts what the PDUs report and writes nothing; a switch is
 * one SET confirmed by read-back; an unreachable PDU turns its outlets unknown (never off) and
 * back; one slow PDU does not hold up the polls of the others.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { REPO } from '../support/demo.js';
import { behaviour, onSetFor } from '../support/pdu-behaviour.js';
import { loadRecording, TestAgent } from '../support/snmp-agent.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'snmp');
let root: string | undefined;
let daemon: Daemon | undefined;
const agents: TestAgent[] = [];
afterEach(async () => {
  await daemon?.stop();
  for (const a of agents.splice(0)) await a.stop();
  if (root) await rm(root, { recursive: true, force: true });
  daemon = undefined;
  root = undefined;
});

async function lab(pollMs = 60_000): Promise<{ a: TestAgent; b: TestAgent; d: Daemon }> {
  const a = await new TestAgent({ data: loadRecording(join(FIXTURES, 'apc-rpdu.snmprec')), onSet: onSetFor(behaviour('apc', [])) }).start();
  const b = await new TestAgent({ data: loadRecording(join(FIXTURES, 'cyberpower.snmprec')), onSet: onSetFor(behaviour('cyberpower', [])) }).start();
  agents.push(a, b);
  root = await mkdtemp(join(tmpdir(), 'ockle-snmp-lab-'));
  const dir = join(root, 'config');
  await mkdir(join(dir, 'devices'), { recursive: true });
  await mkdir(join(dir, 'servers'), { recursive: true });
  await writeFile(join(dir, 'ockle.ini'), '[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n');
  const dev = (port: number, extra = ''): string =>
    `[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nport = ${port}\ncommunity = public\nwrite_community = private\nrequest_timeout = 2s\ntimeout = 3s\nretries = 0\npoll_interval = ${pollMs}ms\nconfirm_timeout = 2s\n${extra}`;
  await writeFile(join(dir, 'devices', 'pdu-a.ini'), dev(a.port));
  await writeFile(join(dir, 'devices', 'pdu-b.ini'), dev(b.port, 'profile = cyberpower\n'));
  await writeFile(join(dir, 'servers', 'web-1.ini'), '[server]\noutlets = power\n[power]\ndevice = pdu-a\noutlet = 1\n');
  await writeFile(join(dir, 'servers', 'spare.ini'), '[server]\noutlets = power\n[power]\ndevice = pdu-a\noutlet = 3\n');
  await writeFile(join(dir, 'servers', 'db-1.ini'), '[server]\noutlets = power\n[power]\ndevice = pdu-b\noutlet = 1\n');
  const d = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: pollMs < 60_000 });
  daemon = d;
  return { a, b, d };
}

const until = async (cond: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`never happened: ${what}`);
};

describe('SNMP PDUs under the daemon', () => {
  it('adopts what the PDUs report at start (outlet count, names, states) and writes nothing', async () => {
    const { a, b, d } = await lab();
    const devs = d.gateway.devices();
    const pduA = devs.find((x) => x.id === 'pdu-a')!;
    expect(pduA).toMatchObject({ reachable: true, outletCount: 4, model: 'AP7900', details: { profile: 'apc-rpdu', sysObjectID: '1.3.6.1.4.1.318.1.3.4.5' } });
    expect(pduA.outlets.map((o) => `${o.outlet}:${o.power}:${o.name}`)).toEqual(['1:on:web-1', '2:on:db-1', '3:off:spare', '4:switching:storage-1']);
    expect(d.gateway.server('web-1').state).toBe('OK');
    expect(d.gateway.server('spare').state).toBe('OFF');
    expect(a.sets.length + b.sets.length).toBe(0);
  });

  it('publishes metering with the device data and as an event on every poll', async () => {
    const { d } = await lab(100);
    const e = await d.events.once('device.metered', (x) => x.device === 'pdu-b');
    expect(e.readings[1]).toEqual({ amps: 1.2 });
    expect(d.gateway.devices().find((x) => x.id === 'pdu-b')!.outlets[0]!.reading).toEqual({ amps: 1.2 });
    expect(d.gateway.devices().find((x) => x.id === 'pdu-a')!.outlets[0]!.reading).toBeNull(); // APC rPDU: no per-outlet metering
  });

  it('switches with one SET and confirms by reading back', async () => {
    const { a, d } = await lab();
    const rec = await d.gateway.waitFor(d.gateway.request({ kind: 'on', targets: ['spare'], force: true, origin: 'api:test', reason: 'test' }).id);
    expect(rec.status).toBe('ok');
    expect(a.sets.map((s) => `${s.oid}=${String(s.value.value)}`)).toEqual(['1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.3=1']);
    expect(rec.steps.map((s) => s.op)).toEqual(['switch', 'confirm']);
    expect(d.gateway.server('spare').state).toBe('FORCED_ON');
  });

  it('an unreachable PDU turns its outlets unknown, never off, and back when it answers', async () => {
    const { b, d } = await lab(100);
    const seen: string[] = [];
    d.events.on('device.unreachable', (e) => seen.push(`unreachable ${e.device}`));
    // Said when it is true: the servers of a device that is back are derived before the event.
    d.events.on('device.reachable', (e) => seen.push(`reachable ${e.device} db-1 ${d.gateway.server('db-1').state}`));
    b.silent = true;
    await until(() => d.gateway.devices().find((x) => x.id === 'pdu-b')!.reachable === false, 'pdu-b unreachable');
    const pduB = d.gateway.devices().find((x) => x.id === 'pdu-b')!;
    expect(new Set(pduB.outlets.map((o) => o.power))).toEqual(new Set(['unknown']));
    expect(d.gateway.server('db-1').state).toBe('UNKNOWN');
    expect(d.gateway.server('web-1').state).toBe('OK'); // the other PDU is unaffected
    b.silent = false;
    await until(() => d.gateway.devices().find((x) => x.id === 'pdu-b')!.reachable === true, 'pdu-b back');
    expect(d.gateway.server('db-1').state).toBe('OK');
    expect(seen).toEqual(['unreachable pdu-b', 'reachable pdu-b db-1 OK']);
  });

  it('one slow PDU does not hold up the polls of the others', async () => {
    const { a, b, d } = await lab(100);
    b.delayMs = 1500; // answers, but slowly
    const pollB = (): string | null => d.gateway.devices().find((x) => x.id === 'pdu-b')!.lastPollAt;
    const pollA = (): string | null => d.gateway.devices().find((x) => x.id === 'pdu-a')!.lastPollAt;
    await new Promise((r) => setTimeout(r, 150)); // any poll of b already on the wire finishes unslowed
    const bFrozen = pollB();
    const reqA = a.requests;
    // While b's slow reply is outstanding, a is polled again and again.
    await until(() => a.requests >= reqA + 3, 'three more polls of pdu-a');
    expect(pollB()).toBe(bFrozen);
    expect(pollA()).not.toBeNull();
  });
});
