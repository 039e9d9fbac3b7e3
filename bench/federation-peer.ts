/**
 * Gateway B of the federation benchmark (bench/mqtt.ts), run in a worker thread: a daemon of its
 * own event loop, as it would be on its own Pi, so gateway A's journal writes on the main thread
 * never delay what B sees. It posts every `remote.changed` with the absolute time it happened.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';

const { configDir } = workerData as { configDir: string };
const d = await Daemon.start({ configDir, log: silentLogger() });
d.events.on('remote.changed', (e) => parentPort!.postMessage({ ref: e.server.ref, state: e.server.state, power: e.server.power, at: performance.timeOrigin + performance.now() }));
parentPort!.on('message', (m: string) => {
  if (m === 'stop') void d.stop().then(() => parentPort!.postMessage({ stopped: true }));
});
parentPort!.postMessage({ ready: true });
