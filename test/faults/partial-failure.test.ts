/**
 * Partial failure against real SNMP peers on 127.0.0.1: one PDU of two stops answering, and
 * ockle must never switch on a guess. Every test counts the SETs each agent received (0 where
 * nothing may be written) and checks what the API shows.
 *
 * The daemon runs with the monitor off: its last poll says both PDUs answer, so each decision
 * below has to come from a fresh read, not from the cache.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { ActionRecord } from '../../src/core/model.js';
import { REPO } from '../support/demo.js';
import { behaviour, onSetFor } from '../support/pdu-behaviour.js';
import { loadRecording, TestAgent } from '../support/snmp-agent.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'snmp');
const STATUS = '1.3.6.1.4.1.318.1.1.12.3.5.1.1.4'; // APC rPDUOutletStatusOutletState (1 on, 2 off)
/** The columns an APC agent shows an outlet's state in (see test/support/pdu-behaviour.ts), with their on/off values. */
const VIEWS: readonly [string, number, number][] = [
  ['1.3.6.1.4.1.318.1.1.12.3.5.1.1.4', 1, 2],
  ['1.3.6.1.4.1.318.1.1.26.9.2.3.1.5', 2, 1],
  ['1.3.6.1.4.1.318.1.1.4.4.2.1.3', 1, 2],
  ['1.3.6.1.4.1.318.1.1.12.3.3.1.1.4', 1, 2],
];
/** Someone switches an outlet at the PDU's own panel: every view of it changes, no SET is seen. */
const byHand = (agent: TestAgent, outlet: number, on: boolean): void => {
  for (const [col, vOn, vOff] of VIEWS) {
    const v = agent.data.get(`${col}.${outlet}`);
    if (v) agent.data.set(`${col}.${outlet}`, { ...v, value: on ? vOn : vOff });
  }
};
let root: string | undefined;
let daemon: Daemon | undefined;
let listener: Server | undefined;
const agents: TestAgent[] = [];
afterEach(async () => {
  await daemon?.stop();
  for (const a of agents.splice(0)) await a.stop();
  await new Promise<void>((r) => (listener ? listener.close(() => r()) : r()));
  if (root) await rm(root, { recursive: true, force: true });
  daemon = undefined;
  root = undefined;
  listener = undefined;
});

/** A loopback port that accepts connections (the server "serves") or one that refuses them. */
async function tcpPort(serving: boolean): Promise<number> {
  const s = createServer((c) => c.destroy());
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  if (serving) listener = s;
  else await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const power = (agent: TestAgent, outlet: number): string => {
  const v = agent.data.get(`${STATUS}.${outlet}`);
  return v?.value === 1 ? 'on' : v?.value === 2 ? 'off' : `?${String(v?.value)}`;
};

/**
 * Two APC PDUs (outlet 1 on, outlet 3 off on each) and one server `dual` fed by pdu-a outlet
 * `a` and pdu-b outlet `b`, proven by a TCP test.
 */
async function lab(o: { a: number; b: number; serving: boolean; extra?: string; settings?: string; servers?: Record<string, string> }): Promise<{ a: TestAgent; b: TestAgent; d: Daemon }> {
  const rec = (): TestAgent => new TestAgent({ data: loadRecording(join(FIXTURES, 'apc-rpdu.snmprec')), onSet: onSetFor(behaviour('apc', [])) });
  const a = await rec().start();
  const b = await rec().start();
  agents.push(a, b);
  root = await mkdtemp(join(tmpdir(), 'ockle-partial-'));
  const dir = join(root, 'config');
  await mkdir(join(dir, 'devices'), { recursive: true });
  await mkdir(join(dir, 'servers'), { recursive: true });
  await writeFile(
    join(dir, 'ockle.ini'),
    `[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n[servers]\nmax_attempts = 3\nboot_timeout = 1s\nshutdown_timeout = 1s\ntest_interval = 100ms\n${o.settings ?? ''}\n[plugins]\nenabled = auto-control\n`,
  );
  const dev = (port: number): string =>
    `[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nport = ${port}\ncommunity = public\nwrite_community = private\nrequest_timeout = 300ms\ntimeout = 500ms\nretries = 0\npoll_interval = 1h\nconfirm_timeout = 1s\n`;
  await writeFile(join(dir, 'devices', 'pdu-a.ini'), dev(a.port));
  await writeFile(join(dir, 'devices', 'pdu-b.ini'), dev(b.port));
  const port = await tcpPort(o.serving);
  await writeFile(
    join(dir, 'servers', 'dual.ini'),
    `[server]\nhost = 127.0.0.1\noutlets = feed-a, feed-b\ntests = svc\n${o.extra ?? ''}\n[feed-a]\ndevice = pdu-a\noutlet = ${o.a}\n[feed-b]\ndevice = pdu-b\noutlet = ${o.b}\n[svc]\ntype = tcp\nport = ${port}\ntimeout = 300ms\n`,
  );
  for (const [name, text] of Object.entries(o.servers ?? {})) await writeFile(join(dir, 'servers', `${name}.ini`), text);
  const d = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
  daemon = d;
  return { a, b, d };
}

const act = async (d: Daemon, kind: 'on' | 'off' | 'cycle', force = false): Promise<ActionRecord> =>
  d.gateway.waitFor(d.gateway.request({ kind, targets: ['dual'], force, origin: 'api:test', reason: 'test' }).id);

describe('an on never cuts a feed that is on', () => {
  it('one feed on, the other PDU silent: blocked, nothing written to either PDU, no power cycle', async () => {
    const { a, b, d } = await lab({ a: 1, b: 3, serving: false });
    expect(d.gateway.devices().every((x) => x.reachable === true)).toBe(true); // the cache says all is well
    b.silent = true;
    const rec = await act(d, 'on');
    expect(rec.status).toBe('failed');
    expect(rec.error?.message).toBe('dual: blocked: pdu-b unreachable');
    expect(rec.steps.filter((s) => s.op === 'blocked').map((s) => s.detail)).toEqual(['blocked: pdu-b unreachable; nothing switched']);
    expect(rec.steps.some((s) => s.op === 'retry' || s.op === 'cycle' || s.op === 'switch')).toBe(false);
    expect(a.sets).toEqual([]);
    expect(b.sets).toEqual([]);
    expect(power(a, 1)).toBe('on');
    const dual = d.gateway.server('dual');
    expect(dual.state).toBe('UNKNOWN');
    expect(dual.reason).toBe('pdu-b unreachable');
    expect(dual.outlets.map((x) => x.power)).toEqual(['on', 'unknown']);
  });

  it('a server that serves is never switched by an on, even with one PDU unreachable', async () => {
    const { a, b, d } = await lab({ a: 1, b: 3, serving: true });
    b.silent = true;
    const rec = await act(d, 'on');
    expect(rec.status).toBe('ok');
    expect(rec.steps.find((s) => s.op === 'up')?.detail).toBe('dual already serves: nothing switched');
    expect(a.sets.length + b.sets.length).toBe(0);
  });

  it('a cycle of a server with an unreadable feed is blocked before anything is written', async () => {
    const { a, b, d } = await lab({ a: 1, b: 1, serving: false });
    b.silent = true;
    const rec = await act(d, 'cycle');
    expect(rec.status).toBe('failed');
    expect(rec.error?.message).toBe('dual: blocked: pdu-b unreachable');
    expect(a.sets.length + b.sets.length).toBe(0);
    expect(power(a, 1)).toBe('on');
  });

  it('a write that fails on one feed is not retried by cutting the other: the next attempt switches only what reads off', async () => {
    const { a, b, d } = await lab({ a: 3, b: 3, serving: false, extra: 'max_attempts = 2' });
    // pdu-b refuses the first SET (its write community is read-only for now) and accepts once
    // attempt 1 has failed: attempt 2 must switch feed-b alone and leave feed-a, on for a
    // moment only, alone.
    b.read = ['public', 'private'];
    b.write = [];
    d.events.on('action.progressed', (e) => {
      if (e.step.op === 'failed') b.write = ['private'];
    });
    const rec = await act(d, 'on');
    const writes = (x: TestAgent): string[] => x.sets.map((s) => `${s.oid.split('.').pop()}=${String(s.value.value)}`);
    expect(rec.steps.find((s) => s.op === 'failed')?.detail).toMatch(/^attempt 1 of 2: .*pdu-b/);
    expect(writes(a)).toEqual(['3=1']); // on once, never off
    expect(writes(b)).toEqual(['3=1']);
    expect(rec.steps.find((s) => s.op === 'retry')?.detail).toBe('attempt 2 of 2: switching on what reads off');
    expect(rec.steps.filter((s) => s.op === 'already').map((s) => s.device)).toEqual(['pdu-a']);
    expect(rec.steps.some((s) => s.op === 'cycle')).toBe(false);
  });

  it('both feeds on for longer than boot_timeout and not serving: the retry power-cycles', async () => {
    const { a, b, d } = await lab({ a: 1, b: 1, serving: false, extra: 'max_attempts = 2' });
    await new Promise((r) => setTimeout(r, 1100)); // powered since start, longer than boot_timeout (1 s)
    const rec = await act(d, 'on');
    expect(rec.steps.find((s) => s.op === 'cycle')?.detail).toMatch(/^powered for \d+\.\d s but not serving: power-cycling$/);
    expect(rec.steps.find((s) => s.op === 'retry')?.detail).toMatch(/^attempt 2 of 2: powered for 1\.\d s but not serving: power-cycling$/);
    // off then on, on each PDU, per attempt (2 attempts: the server never serves)
    expect(a.sets.map((s) => s.value.value)).toEqual([2, 1, 2, 1]);
    expect(b.sets.map((s) => s.value.value)).toEqual([2, 1, 2, 1]);
    expect(rec.status).toBe('failed');
  });
});

describe('reads before writes', () => {
  it('a forced off writes only the outlet that reads on; the other is journaled "already off"', async () => {
    const { a, b, d } = await lab({ a: 1, b: 3, serving: false });
    const rec = await act(d, 'off', true);
    expect(rec.status).toBe('ok');
    expect(a.sets.map((s) => s.value.value)).toEqual([2]);
    expect(b.sets).toEqual([]);
    expect(rec.steps.find((s) => s.op === 'already')).toMatchObject({ device: 'pdu-b', outlet: 3, detail: 'pdu-b outlet 3 already reads off: not switched' });
  });

  it('a forced off with one PDU silent switches the other and fails that outlet without waiting for a write timeout', async () => {
    const { a, b, d } = await lab({ a: 1, b: 1, serving: false });
    b.silent = true;
    const rec = await act(d, 'off', true);
    expect(rec.status).toBe('failed');
    expect(a.sets.map((s) => s.value.value)).toEqual([2]);
    expect(b.sets).toEqual([]);
    expect(rec.error?.code).toBe('OCKLE_DEVICE_UNREACHABLE');
    expect(d.gateway.devices().find((x) => x.id === 'pdu-b')?.reachable).toBe(false);
  });

  it('a sequenced off of a partly powered server switches the feed that is on, and journals the other', async () => {
    const { a, b, d } = await lab({ a: 1, b: 3, serving: false });
    const rec = await act(d, 'off');
    expect(rec.status).toBe('ok');
    expect(a.sets.map((s) => s.value.value)).toEqual([2]);
    expect(b.sets).toEqual([]);
    expect(rec.steps.filter((s) => s.op === 'already').map((s) => `${s.device}/${s.outlet}`)).toEqual(['pdu-b/3']);
    expect(d.gateway.server('dual').state).toBe('OFF');
  });
});

describe('what is read is what is shown', () => {
  it('a partly powered server is probed, not called "no power"', async () => {
    const { d } = await lab({ a: 1, b: 3, serving: true });
    await new Promise((r) => setTimeout(r, 100)); // the first test run after start
    const dual = d.gateway.server('dual');
    expect(dual.outlets.map((o) => o.power)).toEqual(['on', 'off']);
    expect(dual.tests[0]).toMatchObject({ result: 'PASSED' });
    expect(dual.tests[0]!.detail).not.toBe('no power');
  });

  it('a restart after the hardware changed while ockle was down adopts what the PDU says and writes nothing', async () => {
    const { a, b, d } = await lab({ a: 1, b: 1, serving: false });
    expect((await act(d, 'off', true)).status).toBe('ok');
    expect(d.gateway.server('dual').state).toBe('FORCED_OFF');
    const dir = d.config.dir;
    await d.stop();
    daemon = undefined;
    // While ockle is stopped, someone switches both outlets back on at the PDUs' own panels.
    byHand(a, 1, true);
    byHand(b, 1, true);
    const setsA = a.sets.length;
    const setsB = b.sets.length;
    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    const dual = daemon.gateway.server('dual');
    expect(dual.outlets.map((o) => o.power)).toEqual(['on', 'on']);
    expect(dual.state).not.toBe('FORCED_OFF');
    expect(a.sets.length - setsA + (b.sets.length - setsB)).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(power(a, 1)).toBe('on');
    expect(power(b, 1)).toBe('on');
    expect(daemon.gateway.server('dual').state).toBe('NOT_SERVING'); // powered, its test fails, nothing starting it
  });
});

describe('controls', () => {
  it("a control's timeout is enforced: a shutdown command that hangs fails at its timeout and leaves the power on", async () => {
    const { a, b, d } = await lab({
      a: 1,
      b: 1,
      serving: true,
      extra: 'controls = os\non_shutdown_timeout = fail\n[os]\ntype = command\ncommand = sleep 60\ntimeout = 400ms',
    });
    const rec = await act(d, 'off');
    expect(rec.status).toBe('failed');
    const failed = rec.steps.find((s) => s.op === 'shutdown' && !s.ok);
    expect(failed?.detail).toBe('os (command): no answer within timeout 400 ms');
    expect(rec.steps.find((s) => s.op === 'failed')?.detail).toMatch(/power left on \(on_shutdown_timeout = fail\)$/);
    expect(a.sets.length + b.sets.length).toBe(0);
    expect(d.gateway.server('dual').state).toBe('FAILED_TO_STOP');
  });
});

describe('a peer that stops mid-action', () => {
  it('a PDU that goes silent during a sequence blocks the servers on it; what was switched stays, nothing is cut', async () => {
    // dual (pdu-a outlet 3, off; pdu-b outlet 2, on) does not come up in its first attempt;
    // meanwhile pdu-b stops answering. Its second attempt must not power-cycle feed-a.
    const { a, b, d } = await lab({
      a: 3,
      b: 2,
      serving: false,
      extra: 'max_attempts = 2',
      servers: { app: '[server]\noutlets = power\ndependencies = dual\n[power]\ndevice = pdu-b\noutlet = 4\n' },
    });
    // pdu-b stops answering once dual's feed on pdu-a has been confirmed on.
    d.events.on('action.progressed', (e) => {
      if (e.step.op === 'confirm' && e.step.device === 'pdu-a') b.silent = true;
    });
    const rec = await d.gateway.waitFor(d.gateway.request({ kind: 'on', targets: ['app'], force: false, origin: 'api:test', reason: 'test' }).id);
    expect(rec.status).toBe('failed');
    expect(rec.error?.message).toBe('dual: blocked: pdu-b unreachable');
    expect(rec.steps.find((s) => s.server === 'app')).toMatchObject({ op: 'blocked', detail: 'not started: dual failed' });
    expect(a.sets.map((s) => `${s.oid.split('.').pop()}=${String(s.value.value)}`)).toEqual(['3=1']); // on, never off again
    expect(b.sets).toEqual([]);
    expect(power(a, 3)).toBe('on');
    expect(d.gateway.devices().find((x) => x.id === 'pdu-b')?.reachable).toBe(false);
    expect(d.gateway.server('dual').state).toBe('UNKNOWN');
    expect(rec.steps.some((s) => s.op === 'cycle' || s.op === 'retry')).toBe(false);
  });
});
