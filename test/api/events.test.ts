/**
 * The SSE stream's event names are the plugin contract's table: `?types=` accepts every one of
 * them and nothing else, and the stream carries each, by the API alone (no daemon: a gateway
 * that is only an event bus).
 */
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
