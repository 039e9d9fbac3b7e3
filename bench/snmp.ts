/**
 * SNMP benchmark: `npm run bench -- snmp`. 20 simulated APC rack PDUs × 24 outlets, each its own
 * UDP agent on 127.0.0.1 (the test agent, in this process). Side by side, in one run:
 * - ockle: one full poll of all 480 outlets (every PDU read at once, one GET each), through
 *   the snmp-pdu driver;
 * - the physical limit: the round trip of a single GET of one varbind to one PDU;
 * - (a) Ockle's method: one GET per outlet, one after the other, with the same library;
 * - (b) Debian fence-agents' `fence_apc_snmp -o status`, one process per outlet of ONE PDU
 *   (what a cluster admin would script), scaled to 480 outlets;
 * and the latency of one switch, request → verified by read-back.
 */
import { execFile, fork } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import snmp from 'net-snmp';
import { snmpPduDriver, type SnmpPdu } from '../drivers/snmp-pdu/index.js';
import { Secret } from '../src/config/types.js';
import { silentLogger } from '../src/log.js';
import { templateDefaults, time } from './timing.js';

const PDUS = 20;
const OUTLETS = 24;
const E = '1.3.6.1.4.1';


export async function benchSnmp(): Promise<string[]> {
  // Loopback as it is, then with every agent taking 5 ms to answer (an embedded PDU agent's
  // order of magnitude), where round trips, not CPU, decide.
  return [...(await scenario(0)), ...(await scenario(5))];
}

async function scenario(agentDelayMs: number): Promise<string[]> {
  // The agents live in a child process: their work runs beside the client, as real PDUs do.
  const child = fork(join(import.meta.dirname, 'snmp-agents.js'), [String(PDUS), String(OUTLETS), String(agentDelayMs)], { stdio: 'inherit' });
  const ports = await new Promise<number[]>((resolve) => child.once('message', (m: { ports: number[] }) => resolve(m.ports)));
  const agentRequests = (): Promise<number> =>
    new Promise((resolve) => {
      child.once('message', (m: { requests: number }) => resolve(m.requests));
      child.send({ requests: true });
    });
  const agents = ports.map((port) => ({ port }));
  const stateDir = mkdtempSync(join(tmpdir(), 'ockle-bench-snmp-'));
  const spec = (port: number) => {
    return { ...templateDefaults(snmpPduDriver.template), host: '127.0.0.1', port, community: new Secret('public'), write_community: new Secret('private') } as Parameters<typeof snmpPduDriver.create>[0];
  };
  const ctx = (id: string) => ({ id, log: silentLogger(), stateDir, shared: <X>(_k: string, init: () => X): X => init() });
  const devices = agents.map((a, i) => snmpPduDriver.create(spec(a.port), ctx(`pdu-${i + 1}`)) as SnmpPdu);
  const signal = new AbortController().signal;
  setMaxListeners(0, signal); // one signal shared by every device of the run
  const rows: string[] = [];
  const line = (s: string): void => {
    console.log(s);
    rows.push(s);
  };
  try {
    await Promise.all(devices.map((d) => d.open(signal)));
    const all = Array.from({ length: OUTLETS }, (_, i) => i + 1);

    // The physical limit: one GET, one varbind, one PDU (same library, same loopback).
    const session = snmp.createSession('127.0.0.1', 'public', { port: agents[0]!.port, retries: 0, timeout: 2000 });
    const oneGet = (): Promise<void> =>
      new Promise((resolve, reject) => session.get([`${E}.318.1.1.12.3.5.1.1.4.1`], (e: Error | null) => (e ? reject(e) : resolve())));
    for (let i = 0; i < 20; i++) await oneGet();
    const reps = agentDelayMs > 0 ? 20 : 200;
    const rtt = await time(reps, oneGet);

    // ockle: every PDU read at once, one GET each (state + pending for 24 outlets = 48 varbinds).
    const poll = (): Promise<unknown> => Promise.all(devices.map((d) => d.read(all, signal)));
    for (let i = 0; i < 10; i++) await poll();
    const req0 = await agentRequests();
    const cpu0 = process.cpuUsage();
    const ockle = await time(reps, poll);
    const cpu = process.cpuUsage(cpu0);
    const cpuPerPoll = (cpu.user + cpu.system) / 1000 / reps;
    const perPoll = ((await agentRequests()) - req0) / reps;

    // One PDU's whole read alone (the same 48-varbind GET): what a poll of all would take if
    // the PDUs were read perfectly in parallel.
    const onePdu = await time(reps, () => devices[0]!.read(all, signal));

    // The floor for any poll that asks every PDU once: one single-varbind GET to each, all at once.
    const floorSessions = agents.map((a) => snmp.createSession('127.0.0.1', 'public', { port: a.port, retries: 0, timeout: 2000 }));
    const floor = (): Promise<unknown> =>
      Promise.all(floorSessions.map((s) => new Promise<void>((resolve, reject) => s.get([`${E}.318.1.1.12.3.5.1.1.4.1`], (e: Error | null) => (e ? reject(e) : resolve())))));
    for (let i = 0; i < 10; i++) await floor();
    const floorMs = await time(reps, floor);
    for (const s of floorSessions) s.close();

    // (a) Ockle's method: one GET per outlet, sequentially, all 480.
    const sessions = agents.map((a) => snmp.createSession('127.0.0.1', 'public', { port: a.port, retries: 0, timeout: 2000 }));
    const perOutlet = async (): Promise<void> => {
      for (const s of sessions)
        for (const n of all)
          await new Promise<void>((resolve, reject) => s.get([`${E}.318.1.1.12.3.5.1.1.4.${n}`], (e: Error | null) => (e ? reject(e) : resolve())));
    };
    await perOutlet();
    const oneByOne = await time(agentDelayMs > 0 ? 1 : 10, perOutlet);

    // (b) fence_apc_snmp -o status, one process per outlet of one PDU, scaled to 480 outlets.
    let fence: number | null = null;
    if (agentDelayMs === 0) {
    const run = promisify(execFile);
    try {
      const one = async (n: number): Promise<void> => {
        await run('fence_apc_snmp', ['--ip', '127.0.0.1', '--ipport', String(agents[1]!.port), '--community', 'public', '--snmp-version', '2c', '--plug', String(n), '-o', 'status'], { timeout: 30_000 }).catch(
          (e: { code?: number; stdout?: string }) => {
            // status exits 0 for on, 2 for off: both are answers.
            if (e.code !== 2) throw e as Error;
          },
        );
      };
      await one(1);
      const t = performance.now();
      for (const n of all) await one(n);
      fence = ((performance.now() - t) / OUTLETS) * OUTLETS * PDUS;
    } catch (err) {
      line(`(fence_apc_snmp not run: ${(err as Error).message.split('\n')[0]}; apt-get install fence-agents)`);
    }
    }

    // Switch latency: SET + read-back until it reads the wanted state (what the core does).
    const dev = devices[2]!;
    let want: 'on' | 'off' = 'off';
    const switchVerified = async (): Promise<void> => {
      want = want === 'on' ? 'off' : 'on';
      await dev.switch(1, want, signal);
      for (;;) if ((await dev.read([1], signal)).get(1) === want) return;
    };
    await switchVerified();
    const sw = await time(reps / 4, switchVerified);

    session.close();
    for (const s of sessions) s.close();

    line(`\nsnmp: ${PDUS} simulated APC PDUs × ${OUTLETS} outlets on 127.0.0.1 (test agents in a child process${agentDelayMs ? `, each answering after ${agentDelayMs} ms` : ''})`);
    line(`full poll of ${PDUS * OUTLETS} outlets  ockle ${ockle.toFixed(2).padStart(8)} ms (${perPoll.toFixed(0)} requests)   one PDU's read alone ${onePdu.toFixed(2).padStart(6)} ms   ratio ${(ockle / onePdu).toFixed(2)}`);
    line(`  one GET of one varbind (round trip)   ${rtt.toFixed(2).padStart(8)} ms   full poll / that ${(ockle / rtt).toFixed(1)}`);
    line(`  ${PDUS} one-varbind GETs at once (floor)  ${floorMs.toFixed(2).padStart(8)} ms   full poll / floor ${(ockle / floorMs).toFixed(2)}`);
    line(`  gateway CPU per full poll             ${cpuPerPoll.toFixed(2).padStart(8)} ms`);
    line(`  vs (a) one GET per outlet, sequential  ${oneByOne.toFixed(1).padStart(9)} ms   ockle is ${(oneByOne / ockle).toFixed(0)}× faster`);
    if (fence !== null) line(`  vs (b) fence_apc_snmp -o status per outlet ${fence.toFixed(0).padStart(7)} ms   ockle is ${(fence / ockle).toFixed(0)}× faster (measured on 24 outlets, ×20)`);
    line(`one switch, request → verified by read-back   ${sw.toFixed(2)} ms   (${(sw / rtt).toFixed(1)} round trips)`);
  } finally {
    for (const d of devices) await d.close();
    child.disconnect();
    await new Promise((r) => child.once('exit', r));
    rmSync(stateDir, { recursive: true, force: true });
  }
  return rows;
}
