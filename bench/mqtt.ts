/**
 * MQTT benchmarks (issue 19): `npm run build && node dist/bench/run.js mqtt`. One Debian
 * mosquitto on loopback (test/support/mosquitto.ts), started by the run.
 *
 * 1. State propagation: gateway A (a real daemon, sim PDU, the mqtt plugin in its worker)
 *    switches an outlet; the time from the core's `outlet.changed` event to the new retained
 *    state arriving at a mosquitto_sub (what gateway B or Home Assistant sees), against the
 *    broker's own publish→receive latency in the same run: a line written to a running
 *    `mosquitto_pub -l` until the same mosquitto_sub prints it (no process start in either).
 * 2. Resync: a real daemon with 100 servers (4 PDUs of 25 metered outlets, HA discovery on)
 *    reconnecting while 49 simulated gateways of the same size are connected: its own
 *    `lastResyncMs` (inventory of what the broker holds, then every state and config
 *    published, QoS 1, acknowledged), against one bare mqtt.js client publishing the same
 *    messages (QoS 1, retained) and nothing else.
 * 3. Scale, simulated: 50 gateways × 100 servers as 50 mqtt.js clients in this process, with
 *    ockle's own payloads (topics.ts, discovery.ts): the retained set all 50 publish at once
 *    (as after a broker restart), and a lab-wide `on` (4 state messages per server: server
 *    SWITCHING_ON, outlet on, meter, server OK) carried to one wildcard subscriber; messages
 *    per second and the broker's CPU per message (from /proc), for the figures in docs/mqtt.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { connectAsync, type MqttClient } from 'mqtt';
import { discoveryMessages } from '../plugins/mqtt/discovery.js';
import { stateMessages } from '../plugins/mqtt/topics.js';
import type { DeviceStatus, ServerStatus } from '../src/core/model.js';
import { Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import { makeLab, type Lab } from '../test/support/lab.js';
import { startMosquitto, type Mosquitto } from '../test/support/mosquitto.js';
import { median } from './timing.js';

type Report = (r: { name: string; unit: string; ockle: number; baseline: number; baselineName: string }) => void;

const pct = (xs: readonly number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
/**
 * Rounds run before the measured ones, by ockle and the baseline alike: the baseline's first
 * lines wait for mosquitto_pub's connection, ockle's first events run in code V8 has not
 * compiled yet (a gateway that has run for an hour has).
 */
const WARMUP = 5;

const until = async (cond: () => boolean, what: string, ms = 60_000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`bench: never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** A lab of `servers` servers on PDUs of 25 metered outlets, with the mqtt plugin on the anonymous listener. */
async function mqttLab(broker: Mosquitto, gateway: string, servers: number): Promise<Lab> {
  const spec: Record<string, { outlet: string; noTests: boolean; noControls: boolean }> = {};
  const pdus = Math.ceil(servers / 25);
  for (let i = 0; i < servers; i++) spec[`srv-${i + 1}`] = { outlet: `pdu-${Math.floor(i / 25) + 1}:${(i % 25) + 1}`, noTests: true, noControls: true };
  const lab = await makeLab(spec, { devices: Object.fromEntries(Array.from({ length: pdus }, (_, i) => [`pdu-${i + 1}`, ''])) });
  const ini = join(lab.configDir, 'ockle.ini');
  const text = (await readFile(ini, 'utf8')).replace('enabled = auto-control', 'enabled = auto-control, mqtt');
  await writeFile(ini, `${text}\n[plugins.mqtt]\nbroker = mqtt://127.0.0.1:${broker.ports.anon}\ngateway = ${gateway}\nreconnect_min = 100ms\nreconnect_max = 1s\n`);
  return lab;
}

const mqttStatus = (d: Daemon): Record<string, unknown> => d.plugins().find((p) => p.name === 'mqtt')?.status ?? {};

/** Absolute high-resolution time, comparable between threads. */
const now = (): number => performance.timeOrigin + performance.now();

/**
 * mosquitto_sub read by a worker thread that stamps each line as it arrives: gateway B is
 * another process, so A's main thread being busy (its journal's fdatasync) must not delay
 * the stamp, as it would if this thread read the pipe.
 */
async function stampedSub(broker: Mosquitto, topics: readonly string[]): Promise<{ next(pred: (t: string, p: string) => boolean): Promise<number>; close(): Promise<void> }> {
  const marker = `bench/ready/${Date.now()}`;
  await broker.pub({ topic: marker, message: 'ready', retain: true });
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { spawn } = require('node:child_process');
    const p = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(workerData.port), '-V', 'mqttv5', '-q', '1', '-F', '%t\\t%p', ...workerData.topics.flatMap((t) => ['-t', t])], { stdio: ['ignore', 'pipe', 'ignore'] });
    let buf = '';
    p.stdout.on('data', (d) => {
      const at = performance.timeOrigin + performance.now();
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\\n')) >= 0) { const line = buf.slice(0, nl); buf = buf.slice(nl + 1); const i = line.indexOf('\\t'); parentPort.postMessage({ topic: line.slice(0, i), payload: line.slice(i + 1), at }); }
    });
    parentPort.on('message', () => { p.kill(); process.exit(0); });`;
  const w = new Worker(code, { eval: true, workerData: { port: broker.ports.anon, topics: [...topics, marker] } });
  const seen: { topic: string; payload: string; at: number }[] = [];
  let wake: (() => void) | null = null;
  w.on('message', (m: { topic: string; payload: string; at: number }) => {
    seen.push(m);
    wake?.();
  });
  // A failing reader fails the benchmark through `next`, so the run cleans up behind it.
  let failed: Error | null = null;
  w.on('error', (err) => {
    failed = err;
    wake?.();
  });
  const next = async (pred: (t: string, p: string) => boolean): Promise<number> => {
    const t0 = Date.now();
    for (;;) {
      if (failed) throw failed;
      const i = seen.findIndex((m) => pred(m.topic, m.payload));
      if (i >= 0) return seen.splice(0, i + 1).at(-1)!.at;
      if (Date.now() - t0 > 10_000) throw new Error('bench: no message within 10 s');
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  await next((t) => t === marker);
  return {
    next,
    close: async () => {
      w.postMessage('stop');
      await new Promise((r) => w.once('exit', r));
    },
  };
}

/** 1. Outlet event → retained state at mosquitto_sub, against mosquitto_pub -l → mosquitto_sub. */
async function propagation(broker: Mosquitto, report: Report): Promise<void> {
  const N = 60;
  const lab = await mqttLab(broker, 'bench-a', 4);
  let daemon: Daemon | null = null;
  try {
    const d = await Daemon.start({ configDir: lab.configDir, log: silentLogger() });
    daemon = d;
    await until(() => typeof mqttStatus(d).lastResyncMs === 'number', 'bench-a resynchronised');
    const sub = await stampedSub(broker, ['ockle/bench-a/outlet/pdu-1/1/state', 'bench/base']);
    const ockle: number[] = [];
    for (let i = 0; i < WARMUP + N; i++) {
      const power = i % 2 === 0 ? 'on' : 'off';
      let t0 = 0;
      const off = d.events.on('outlet.changed', (e) => {
        if (e.device === 'pdu-1' && e.outlet === 1 && e.power === power) t0 = now();
      });
      const a = d.gateway.request({ kind: power, targets: [], outlets: [{ device: 'pdu-1', outlet: 1 }], force: true, origin: 'bench', reason: 'mqtt propagation' });
      const at = await sub.next((t, p) => t.endsWith('/1/state') && (JSON.parse(p) as { power: string }).power === power);
      off();
      if (i >= WARMUP) ockle.push(at - t0);
      await until(() => d.gateway.action(a.id).status !== 'running', 'the action finished');
      await new Promise((r) => setTimeout(r, 20));
    }
    // The broker alone: one long-running publisher, lines through it to the same subscriber.
    const pub = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.ports.anon), '-t', 'bench/base', '-q', '1', '-V', 'mqttv5', '-l'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const base: number[] = [];
    for (let i = 0; i < WARMUP + N; i++) {
      const t0 = now();
      pub.stdin.write(`{"power":"x","i":${i}}\n`);
      const at = await sub.next((t, p) => t === 'bench/base' && p.endsWith(`"i":${i}}`));
      if (i >= WARMUP) base.push(at - t0); // the first lines wait for mosquitto_pub's connection
      await new Promise((r) => setTimeout(r, 20));
    }
    pub.stdin.end();
    await sub.close();
    report({ name: 'state A → subscriber, p50', unit: 'ms', ockle: median(ockle), baseline: median(base), baselineName: 'mosquitto_pub -l → mosquitto_sub, p50' });
    report({ name: 'state A → subscriber, p99', unit: 'ms', ockle: pct(ockle, 99), baseline: pct(base, 99), baselineName: 'mosquitto_pub -l → mosquitto_sub, p99' });
    await federationView(broker, d, ockle.length, base, report);
  } finally {
    await daemon?.stop();
    await lab.cleanup();
  }
}

/**
 * 1b. Gateway A → gateway B's view (federation): B (a second daemon, in a worker thread of its
 * own: bench/federation-peer.ts) has a server that depends on bench-a:srv-1, so it follows A
 * through its own mqtt plugin; the time from A's `outlet.changed` to B's `remote.changed`
 * saying the new power, against the same broker baseline. B's plugin worker, its hand-over to
 * B's main thread and B's store are all in it.
 */
async function federationView(broker: Mosquitto, a: Daemon, n: number, base: readonly number[], report: Report): Promise<void> {
  const lab = await makeLab({ 'app-1': { noTests: true, noControls: true, extra: 'dependencies = bench-a:srv-1' } });
  const ini = join(lab.configDir, 'ockle.ini');
  const text = (await readFile(ini, 'utf8')).replace('enabled = auto-control', 'enabled = auto-control, mqtt');
  await writeFile(ini, `${text}\n[plugins.mqtt]\nbroker = mqtt://127.0.0.1:${broker.ports.anon}\ngateway = bench-b\nhomeassistant = false\nreconnect_min = 100ms\nreconnect_max = 1s\n`);
  const seen: { ref: string; state: string; power: string; at: number }[] = [];
  const b = new Worker(new URL('./federation-peer.js', import.meta.url), { workerData: { configDir: lab.configDir } });
  let ready = false;
  let stopped = false;
  b.on('message', (m: { ready?: true; stopped?: true; ref?: string; state?: string; power?: string; at?: number }) => {
    if (m.ready) ready = true;
    else if (m.stopped) stopped = true;
    else seen.push(m as { ref: string; state: string; power: string; at: number });
  });
  try {
    await until(() => ready, 'bench-b started', 30_000);
    await until(() => seen.some((e) => e.ref === 'bench-a:srv-1' && e.state !== 'UNKNOWN'), 'bench-b sees bench-a:srv-1', 30_000);
    const view: number[] = [];
    // Each round switches the outlet to the other side, starting from where the first part left it.
    const was = a.gateway.devices().find((x) => x.id === 'pdu-1')!.outlets[0]!.power;
    for (let i = 0; i < WARMUP + n; i++) {
      const power = (i % 2 === 0) === (was === 'off') ? 'on' : 'off';
      let t0 = 0;
      const from = seen.length;
      const offA = a.events.on('outlet.changed', (e) => {
        if (e.device === 'pdu-1' && e.outlet === 1 && e.power === power) t0 = now();
      });
      const act = a.gateway.request({ kind: power, targets: [], outlets: [{ device: 'pdu-1', outlet: 1 }], force: true, origin: 'bench', reason: 'federation propagation' });
      const got = () => seen.slice(from).find((e) => e.ref === 'bench-a:srv-1' && e.power === power);
      await until(() => got() !== undefined && a.gateway.action(act.id).status !== 'running', 'B saw the change and the action finished');
      offA();
      if (i >= WARMUP) view.push(got()!.at - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
    report({ name: 'state A → B’s view, p50', unit: 'ms', ockle: median(view), baseline: median(base), baselineName: 'mosquitto_pub -l → mosquitto_sub, p50' });
    report({ name: 'state A → B’s view, p99', unit: 'ms', ockle: pct(view, 99), baseline: pct(base, 99), baselineName: 'mosquitto_pub -l → mosquitto_sub, p99' });
  } finally {
    b.postMessage('stop');
    await until(() => stopped, 'bench-b stopped', 30_000).catch(() => undefined);
    await b.terminate();
    await lab.cleanup();
  }
}

/** A simulated gateway's lab: `servers` servers on PDUs of 25 metered outlets, all off. */
function simLab(servers: number, power: 'on' | 'off'): { servers: ServerStatus[]; devices: DeviceStatus[] } {
  const reading = power === 'on' ? { watts: 180.5, amps: 0.78, volts: 230.1, energyWh: 15_000 } : { watts: 0, amps: 0, volts: 230.1, energyWh: 15_000 };
  const s: ServerStatus[] = [];
  const d: DeviceStatus[] = [];
  for (let i = 0; i < servers; i++) {
    const device = `pdu-${Math.floor(i / 25) + 1}`;
    s.push({ name: `srv-${i + 1}`, description: '', host: null, state: power === 'on' ? 'OK' : 'OFF', reason: '', outlets: [{ name: 'psu', device, outlet: (i % 25) + 1, power, readBack: 'real' }], controls: [], tests: [], dependencies: i > 0 ? ['srv-1'] : [], dependents: [], remoteDependencies: [], remoteDependents: [], actionId: null, paused: null });
  }
  for (let p = 0; p < Math.ceil(servers / 25); p++)
    d.push({
      id: `pdu-${p + 1}`,
      type: 'snmp-pdu',
      description: '',
      reachable: true,
      error: null,
      readBack: 'real',
      outletCount: 25,
      outlets: Array.from({ length: 25 }, (_, o) => ({ outlet: o + 1, power, name: null, boundTo: `srv-${p * 25 + o + 1}/psu`, reading })),
      model: 'AP8641',
      firmware: null,
      details: {},
      lastPollAt: null,
      lastPollMs: null,
    });
  return { servers: s, devices: d };
}

const allMessages = (gateway: string, lab: { servers: ServerStatus[]; devices: DeviceStatus[] }): Map<string, string> => {
  const n = { prefix: 'ockle', gateway };
  return new Map([...stateMessages(n, lab.servers, lab.devices), ...discoveryMessages(n, { haPrefix: 'homeassistant', outletSwitches: true, version: '0' }, lab.servers, lab.devices)]);
};

/** CPU seconds the broker has used (utime + stime from /proc/PID/stat). */
function brokerCpu(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
function mosquittoPid(broker: Mosquitto): number {
  const r = spawnSyncOut('pgrep', ['-f', `${broker.dir}/mosquitto.conf`]);
  return Number(r.trim().split('\n')[0]);
}
const spawnSyncOut = (cmd: string, args: string[]): string => spawnSync(cmd, args, { encoding: 'utf8' }).stdout;

const publishAll = (c: MqttClient, msgs: ReadonlyMap<string, string>): Promise<unknown> => Promise.all([...msgs].map(([t, p]) => c.publishAsync(t, p, { qos: 1, retain: true })));

/** 2 and 3: 50 gateways × 100 servers on one broker. */
async function scale(broker: Mosquitto, report: Report): Promise<void> {
  const G = 50;
  const S = 100;
  const clients: MqttClient[] = [];
  try {
    for (let g = 1; g < G; g++) clients.push(await connectAsync(`mqtt://127.0.0.1:${broker.ports.anon}`, { clientId: `sim-gw-${g}`, protocolVersion: 5, clean: true }));
    const offLab = simLab(S, 'off');
    const perGateway = allMessages('sim-1', offLab).size;
    // 3a. Every simulated gateway publishes its retained set at once (a broker restart).
    const watcher = await connectAsync(`mqtt://127.0.0.1:${broker.ports.anon}`, { clientId: 'bench-watch', protocolVersion: 5 });
    let seen = 0;
    watcher.on('message', () => void seen++);
    await watcher.subscribeAsync('ockle/#', { qos: 0 });
    const pid = mosquittoPid(broker);
    let c0 = brokerCpu(pid);
    let t0 = performance.now();
    await Promise.all(clients.map((c, i) => publishAll(c, allMessages(`sim-${i + 1}`, offLab))));
    const resyncAll = performance.now() - t0;
    const resyncCpu = brokerCpu(pid) - c0;
    const sent = perGateway * clients.length;
    console.log(`  scale: ${clients.length} simulated gateways × ${S} servers, ${perGateway} retained messages each (states + HA configs), ${sent} in all: all published and acknowledged in ${resyncAll.toFixed(0)} ms (${Math.round(sent / (resyncAll / 1000))} msg/s), broker CPU ${(resyncCpu * 1000).toFixed(0)} ms (${((resyncCpu * 1e6) / sent).toFixed(1)} µs/msg)`);

    // 3b. A lab-wide on: per server SWITCHING_ON, outlet on, its meter, OK; to the wildcard subscriber.
    const n = (g: number) => ({ prefix: 'ockle', gateway: `sim-${g}` });
    const onLab = simLab(S, 'on');
    const switching = { ...offLab, servers: offLab.servers.map((s) => ({ ...s, state: 'SWITCHING_ON' as const })) };
    const burst = clients.map((_, i) => {
      const a = stateMessages(n(i + 1), switching.servers, offLab.devices);
      const b = stateMessages(n(i + 1), onLab.servers, onLab.devices);
      // 4 messages per server: server SWITCHING_ON, outlet on, device meter, server OK.
      return [...a].filter(([t]) => t.includes('/server/')).concat([...b].filter(([t]) => t.includes('/outlet/')), [...b].filter(([t]) => t.includes('/outlet/')).map(([t, p]) => [t, p.replace('180.5', '181.0')] as [string, string]), [...b].filter(([t]) => t.includes('/server/')));
    });
    const total = burst.reduce((x, b) => x + b.length, 0);
    seen = 0;
    c0 = brokerCpu(pid);
    t0 = performance.now();
    await Promise.all(clients.map(async (c, i) => {
      for (const [t, p] of burst[i]!) await c.publishAsync(t, p, { qos: 1, retain: true });
    }));
    await until(() => seen >= total, `the subscriber saw ${total} messages`);
    const onMs = performance.now() - t0;
    const onCpu = brokerCpu(pid) - c0;
    console.log(`  scale: lab-wide on, ${total} state messages from ${clients.length} gateways (each publishing one at a time, QoS 1): delivered to a wildcard subscriber in ${onMs.toFixed(0)} ms, ${Math.round(total / (onMs / 1000))} msg/s, broker CPU ${((onCpu * 1e6) / total).toFixed(1)} µs/msg`);
    console.log(`  scale: steady state is changes only: metering at poll_interval 10 s with every reading changed = ${(G * S) / 10} msg/s for ${G}×${S}; server states ~0`);
    await watcher.endAsync();

    // 2. One real daemon of the same size reconnecting while the 49 others are connected.
    const lab = await mqttLab(broker, 'bench-real', S);
    let started: Daemon | null = null;
    try {
      const daemon = await Daemon.start({ configDir: lab.configDir, log: silentLogger() });
      started = daemon;
      await until(() => typeof mqttStatus(daemon).lastResyncMs === 'number', 'bench-real resynchronised', 120_000);
      const firstResync = Number(mqttStatus(daemon).lastResyncMs);
      const connects = Number(mqttStatus(daemon).connects);
      const retained = daemon.gateway.servers().length;
      // Reconnect: the broker restarts (retained state kept on disk); every gateway comes back.
      await broker.stop();
      await broker.start();
      await until(() => Number(mqttStatus(daemon).connects) === connects + 1 && typeof mqttStatus(daemon).lastResyncMs === 'number' && mqttStatus(daemon).connection === 'connected', 'bench-real reconnected', 120_000);
      const resync = Number(mqttStatus(daemon).lastResyncMs);
      // Baseline: a bare client publishing what the plugin publishes (its servers, devices, HA).
      const [servers, devices] = [daemon.gateway.servers(), daemon.gateway.devices()];
      const msgs = allMessages('bench-base', { servers: [...servers], devices: [...devices] });
      const bare = await connectAsync(`mqtt://127.0.0.1:${broker.ports.anon}`, { clientId: 'bench-bare', protocolVersion: 5, clean: true });
      const tb = performance.now();
      await publishAll(bare, msgs);
      const bareMs = performance.now() - tb;
      await bare.endAsync();
      console.log(`  resync: real daemon, ${retained} servers, ${msgs.size} retained messages; first connect ${firstResync} ms`);
      report({ name: `resync on reconnect, ${S} servers`, unit: 'ms', ockle: resync, baseline: bareMs, baselineName: 'bare client, same messages, QoS 1' });
    } finally {
      await started?.stop();
      await lab.cleanup();
    }
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true)));
  }
}

/** @param o.scale false: propagation only (`run.js mqtt-propagation`), a minute instead of several */
export async function benchMqtt(report: Report, o: { readonly scale?: boolean } = {}): Promise<void> {
  const broker = await startMosquitto();
  try {
    await propagation(broker, report);
    if (o.scale !== false) await scale(broker, report);
  } finally {
    await broker.close();
  }
}
