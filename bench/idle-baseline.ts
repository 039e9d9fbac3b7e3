/**
 * The memory benchmark's baseline process: a fastify server on loopback and `argv[2]` idle
 * worker threads, nothing else. Prints its port once every worker is online.
 */
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { fastify } from 'fastify';

const IDLE = `const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => parentPort.postMessage(m));`;
const app = fastify();
app.get('/', async () => ({ ok: true }));
await app.listen({ host: '127.0.0.1', port: 0 });
await Promise.all(Array.from({ length: Number(process.argv[2] ?? 0) }, () => new Promise((resolve) => new Worker(IDLE, { eval: true }).once('online', resolve))));
process.stdout.write(`${(app.server.address() as AddressInfo).port}\n`);
