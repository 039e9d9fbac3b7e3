/**
 * Plugin host benchmarks (issue 7):
 * - a ctx request round trip from a worker (p50/p99), against a bare MessagePort round trip
 *   between the same two threads (the transport itself);
 * - one event fanned out to 5 plugin workers until all 5 have handled it, against a bare
 *   postMessage to 5 workers and their 5 replies;
 * - memory per idle plugin worker (RSS delta), against a bare idle worker.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EventBus } from '../src/core/event-bus.js';
import { silentLogger } from '../src/log.js';
import { PluginHost } from '../src/plugin-host/host.js';

const PROBE = join(import.meta.dirname, 'plugin-probe.js');
const pct = (xs: readonly number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const until = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
};

const ECHO_WORKER = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => parentPort.postMessage(m));
`;

function bareWorker(): Worker {
  return new Worker(ECHO_WORKER, { eval: true });
}

async function bareRtt(w: Worker, n: number): Promise<number[]> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await new Promise<void>((resolve) => {
      w.once('message', () => resolve());
      w.postMessage({ v: 1, type: 'request', id: i, method: 'echo', params: { i } });
    });
    xs.push(performance.now() - t);
  }
  return xs;
}

function probeHost(name: string, bus: EventBus<Record<string, unknown>>, handle: (m: string, p: unknown) => Promise<unknown>): PluginHost {
  return new PluginHost({
    name,
    module: PROBE,
    dataDir: '.',
    config: {},
    log: silentLogger(),
    handle,
    subscribe: (e, fn) => bus.on(e, fn),
  });
}

export async function benchPlugins(report: (r: { name: string; unit: string; ockle: number; baseline: number; baselineName: string }) => void): Promise<void> {
  const N = 5000;
  // 1. Request round trip.
  const bus = new EventBus<Record<string, unknown>>();
  const servers = Array.from({ length: 10 }, (_, i) => ({ name: `server-${i}`, state: 'OK', outlets: [{ device: 'pdu-a', outlet: i + 1, power: 'on' }] }));
  const h = probeHost('probe', bus, async (m, p) => (m === 'servers' ? servers : p));
  h.start();
  await until(() => h.state === 'running');
  await h.invoke('probe.rtt', { n: 500, method: 'echo' }); // warm up
  const echo = (await h.invoke('probe.rtt', { n: N, method: 'echo' })) as number[];
  const list = (await h.invoke('probe.rtt', { n: N, method: 'servers' })) as number[];
  const w = bareWorker();
  await bareRtt(w, 500);
  const bare = await bareRtt(w, N);
  await w.terminate();
  report({ name: 'ctx.call round trip, p50', unit: 'ms', ockle: pct(echo, 50), baseline: pct(bare, 50), baselineName: 'bare MessagePort round trip, p50' });
  report({ name: 'ctx.call round trip, p99', unit: 'ms', ockle: pct(echo, 99), baseline: pct(bare, 99), baselineName: 'bare MessagePort round trip, p99' });
  report({ name: 'ctx.call("servers", 10), p99', unit: 'ms', ockle: pct(list, 99), baseline: pct(bare, 99), baselineName: 'bare MessagePort round trip, p99' });
  await h.stop('bench');

  // 2. Event fan-out to 5 workers.
  const K = 1000;
  let acked = 0;
  let allAcked: () => void = () => {};
  const hosts = Array.from({ length: 5 }, (_, i) =>
    probeHost(`probe-${i}`, bus, async (m) => {
      if (m === 'ack' && ++acked === 5) allAcked();
      return null;
    }),
  );
  for (const x of hosts) x.start();
  await until(() => hosts.every((x) => x.state === 'running') && bus.listenerCount() >= 5);
  const fan: number[] = [];
  for (let seq = 0; seq < K; seq++) {
    acked = 0;
    const done = new Promise<void>((resolve) => (allAcked = resolve));
    const t = performance.now();
    bus.emit('bench.tick', { seq });
    await done;
    fan.push(performance.now() - t);
  }
  const bares = Array.from({ length: 5 }, bareWorker);
  const bareFan: number[] = [];
  for (let seq = 0; seq < K; seq++) {
    const t = performance.now();
    await Promise.all(bares.map((b) => new Promise<void>((resolve) => (b.once('message', () => resolve()), b.postMessage({ v: 1, type: 'event', name: 'bench.tick', payload: { seq } })))));
    bareFan.push(performance.now() - t);
  }
  report({ name: 'event to 5 workers, all handled, p50', unit: 'ms', ockle: pct(fan, 50), baseline: pct(bareFan, 50), baselineName: 'bare postMessage to 5 + replies, p50' });
  report({ name: 'event to 5 workers, all handled, p99', unit: 'ms', ockle: pct(fan, 99), baseline: pct(bareFan, 99), baselineName: 'bare postMessage to 5 + replies, p99' });
  await Promise.all(hosts.map((x) => x.stop('bench')));
  await Promise.all(bares.map((b) => b.terminate()));

  // 3. Memory per idle worker: RSS after 5 settle, minus before.
  const settle = async (): Promise<number> => {
    await new Promise((r) => setTimeout(r, 1500));
    global.gc?.();
    return process.memoryUsage().rss;
  };
  const r0 = await settle();
  const idle = Array.from({ length: 5 }, (_, i) => probeHost(`idle-${i}`, bus, async () => null));
  for (const x of idle) x.start();
  await until(() => idle.every((x) => x.state === 'running'));
  const r1 = await settle();
  await Promise.all(idle.map((x) => x.stop('bench')));
  const r2 = await settle();
  const plain = Array.from({ length: 5 }, bareWorker);
  await new Promise((r) => setTimeout(r, 200));
  const r3 = await settle();
  await Promise.all(plain.map((b) => b.terminate()));
  const MB = 1024 * 1024;
  report({ name: 'RSS per idle plugin worker', unit: 'MB', ockle: (r1 - r0) / 5 / MB, baseline: (r3 - r2) / 5 / MB, baselineName: 'RSS per bare idle worker' });
}
