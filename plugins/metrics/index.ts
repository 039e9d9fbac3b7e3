/** metrics: the manifest (runs in a worker thread; the code is in plugin.ts). */
import { listenPort, str } from '../../src/config/types.js';
import { builtModule } from '../../src/plugin-host/paths.js';

export const name = 'metrics';
export const apiVersion = 1;
/** It only reads (servers, devices): a `ctx.call` that switches power would be refused. */
export const role = 'viewer';
export const description = 'Prometheus metrics on their own port: server, outlet, device and test states, metering, UPS readings and policy stages, action counts and durations, poll latency.';
export const config = {
  listen: str({ default: '127.0.0.1', help: 'Address the metrics endpoint listens on. The metrics carry no secret, but they map your lab: keep it on loopback or a management network.' }),
  port: listenPort({ addressKey: 'listen', default: 9464, help: 'TCP port of http://LISTEN:PORT/metrics (0: any free port; `ockle cmd metrics.endpoint` tells which).' }),
};
export const worker = builtModule(import.meta.url, 'plugin.js');
