/**
 * The SSE stream's event names are the plugin contract's table: `?types=` accepts every one of
 * them and nothing else, and the stream carries each, by the API alone (no daemon: a gateway
 * that is only an event bus).
 */
import { connect } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Auth } from '../../src/api/auth.js';
import { createApi } from '../../src/api/server.js';
import { EventBus } from '../../src/core/event-bus.js';
import type { Gateway } from '../../src/core/gateway.js';
import type { OckleEvents } from '../../src/core/model.js';
import { silentLogger } from '../../src/log.js';
import { EVENT_NAMES, type PluginEventName } from '../../src/plugin-host/contract.js';

/** One payload per event; the shapes do not matter to the stream, only that each crosses. */
const sample = (e: PluginEventName) => ({ sample: e }) as unknown as OckleEvents[typeof e];

describe('SSE event names', () => {
  const events = new EventBus<OckleEvents>();
  let app: FastifyInstance;
  let url: string;
  beforeAll(async () => {
    app = createApi({ events } as unknown as Gateway, { auth: new Auth({ tokens: [], anonymousRole: 'viewer' }), log: silentLogger(), version: 'test', web: false });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app.close();
  });
  /** Waits until the bus has `n` listeners (a stream listens, or a closed one has let go). */
  const listeners = async (n: number): Promise<void> => {
    for (let i = 0; i < 200 && events.listenerCount() !== n; i++) await new Promise((r) => setTimeout(r, 10));
    expect(events.listenerCount()).toBe(n);
  };

  it('?types= takes every event of the table, and the stream carries each', async () => {
    const ac = new AbortController();
    const res = await fetch(`${url}/api/events?types=${EVENT_NAMES.join(',')}`, { signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    await listeners(1);
    for (const e of EVENT_NAMES) events.emit(e, sample(e));
    let text = '';
    while ((text.match(/^event: /gm) ?? []).length < EVENT_NAMES.length) text += (await reader.read()).value ?? '';
    ac.abort();
    await listeners(0);
    expect([...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1])).toEqual(EVENT_NAMES);
  });

  it('?types= with one event carries only that one', async () => {
    const ac = new AbortController();
    const res = await fetch(`${url}/api/events?types=plugin.changed`, { signal: ac.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    await listeners(1);
    for (const e of EVENT_NAMES) events.emit(e, sample(e));
    let text = '';
    while (!text.includes('event: plugin.changed')) text += (await reader.read()).value ?? '';
    ac.abort();
    await listeners(0);
    expect([...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1])).toEqual(['plugin.changed']);
  });

  it('a burst of events reaches every stream whole and in order, with the same ids on each', async () => {
    const open = async () => {
      const ac = new AbortController();
      const res = await fetch(`${url}/api/events?types=server.changed`, { signal: ac.signal });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      return { ac, reader, text: '' };
    };
    const streams = [await open(), await open()];
    await listeners(2);
    // One synchronous burst (one turn of the loop), as a sequence's wave makes them.
    for (let i = 0; i < 1000; i++) events.emit('server.changed', { server: `s${i}`, state: 'OK', previous: 'OFF', reason: '' });
    for (const s of streams) while ((s.text.match(/^event: /gm) ?? []).length < 1000) s.text += (await s.reader.read()).value ?? '';
    const parsed = streams.map((s) => [...s.text.matchAll(/^id: (\d+)\ndata: (.*)$/gm)].map((m) => ({ id: Number(m[1]), server: (JSON.parse(m[2]!) as { server: string }).server })));
    expect(parsed[0]!.map((e) => e.server)).toEqual(Array.from({ length: 1000 }, (_, i) => `s${i}`));
    expect(parsed[1]).toEqual(parsed[0]);
    expect(parsed[0]!.every((e, i) => i === 0 || e.id === parsed[0]![i - 1]!.id + 1)).toBe(true);
    for (const s of streams) s.ac.abort();
    await listeners(0);
  });

  it('refuses a name that is not in the table, listing the ones that are', async () => {
    const res = await fetch(`${url}/api/events?types=server.changed,server.chnaged`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: unknown }).error).toEqual({
      code: 'OCKLE_REQUEST_INVALID',
      message: 'querystring/types has unknown event "server.chnaged"',
      hint: `Events are: ${EVENT_NAMES.join(', ')}.`,
    });
  });

  it('the OpenAPI document describes each event, from the same table', async () => {
    const doc = (await (await fetch(`${url}/api/openapi.json`)).json()) as { paths: Record<string, { get: { description: string } }> };
    for (const e of EVENT_NAMES) expect(doc.paths['/api/events']!.get.description).toContain(`${e}: `);
  });
});

describe('an SSE client that stops reading', () => {
  const events = new EventBus<OckleEvents>();
  const logged: string[] = [];
  let app: FastifyInstance;
  let port: number;
  beforeAll(async () => {
    const log = pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) });
    app = createApi({ events } as unknown as Gateway, { auth: new Auth({ tokens: [], anonymousRole: 'viewer' }), log, version: 'test', web: false, sseMaxBufferedBytes: 64 * 1024 });
    port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port);
  });
  afterAll(async () => {
    await app.close();
  });

  it('is closed once too much waits for it, and the daemon lets go of it; a client that reads is kept', async () => {
    // A reading client (the dashboard), and one that sends its request, then never reads.
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/api/events?types=server.changed`, { signal: ac.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let read = '';
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        read += value;
      }
    })();
    const stuck = connect(port, '127.0.0.1');
    stuck.write(`GET /api/events?types=server.changed HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
    stuck.pause();
    let closed = false;
    stuck.on('close', () => (closed = true));
    for (let i = 0; i < 200 && events.listenerCount() !== 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(events.listenerCount()).toBe(2);
    // 40 MB of events, 10 kB each, in bursts the reading client keeps up with: far more than
    // the loopback socket buffers and the 64 kB limit hold for the one that does not read.
    const reason = 'x'.repeat(10_000);
    for (let i = 0; i < 4000 && events.listenerCount() === 2; i++) {
      events.emit('server.changed', { server: `s${i}`, state: 'OK', previous: 'OFF', reason });
      if (i % 2 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(events.listenerCount()).toBe(1);
    expect(logged.map((l) => JSON.parse(l) as { msg: string; buffered: number }).find((l) => l.msg.startsWith('event stream closed: the client stopped reading'))?.buffered).toBeGreaterThan(64 * 1024);
    // The stuck client, reading again, finds its stream ended.
    stuck.resume();
    for (let i = 0; i < 500 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(true);
    // The reading client still gets what comes next.
    const before = read.length;
    events.emit('server.changed', { server: 'after', state: 'OK', previous: 'OFF', reason: 'still here' });
    for (let i = 0; i < 200 && !read.slice(before).includes('"server":"after"'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(read.slice(before)).toContain('"server":"after"');
    ac.abort();
    await reading;
  }, 60_000);
});
