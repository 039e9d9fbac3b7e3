/**
 * A plugin gone wild never slows power control: while a plugin floods 64 KB log lines, leaks
 * Buffers outside its heap, or answers commands with 200 MB, ten forced switches through the
 * daemon take at most twice as long as on a quiet daemon (the same switches, the same sim PDU,
 * measured in the same run), and each misbehaviour is contained: lines dropped with a count,
 * the leaking worker restarted at max_memory, a too-large result refused.
 */
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { Daemon, type ExtraPlugin } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';

const WILD = ['floods-big-lines', 'leaks-buffers', 'huge-results'] as const;
const extraPlugins = new Map<string, ExtraPlugin>(WILD.map((f) => [f, { module: join(REPO, 'test', 'fixtures', 'plugins', `${f}.mjs`), description: `fixture: ${f}`, config: {} }]));

let demo: DemoCopy | undefined;
let daemon: Daemon | undefined;
afterEach(async () => {
  await daemon?.stop();
  await demo?.cleanup();
  daemon = demo = undefined;
});

/** Ten forced switches of web-2 (off, on, …): the median time of one, in ms. */
async function tenSwitches(d: Daemon): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const rec = await d.gateway.waitFor(d.gateway.request({ kind: i % 2 === 0 ? 'off' : 'on', targets: ['web-2'], force: true, origin: 'api:test', reason: `switch ${i}` }).id);
    times.push(performance.now() - t0);
    expect(rec.status).toBe('ok');
  }
  return times.sort((a, b) => a - b)[5]!;
}

async function start(plugins: readonly string[], log = silentLogger()): Promise<Daemon> {
  demo = await demoConfig();
  const ini = (await demo.read('ockle.ini'))
    .replace(/^enabled = .*$/m, `enabled = ${['auto-control', ...plugins].join(', ')}\nmax_memory = 128`)
    .replace(/^\[plugins\.(logger|metrics|timer-example)\]\n(?:.+\n)*\n/gm, '');
  await demo.write('ockle.ini', ini);
  return Daemon.start({ configDir: demo.configDir, log, extraPlugins });
}

describe('a plugin gone wild', () => {
  it('never slows forced switches past twice a quiet daemon, and each misbehaviour is contained', async () => {
    daemon = await start([]);
    const quiet = await tenSwitches(daemon);
    await daemon.stop();
    await demo!.cleanup();

    const lines: { msg: string; plugin?: string; dropped?: number; state?: string; detail?: string }[] = [];
    daemon = await start(WILD, pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) }));
    const d = daemon;
    const states: string[] = [];
    d.events.on('plugin.changed', (e) => states.push(`${e.plugin}:${e.state}:${e.detail}`));
    await new Promise((r) => setTimeout(r, 1500)); // let them get going
    // Five 200 MB answers at once, while the others flood and leak.
    const dumps = Promise.allSettled(Array.from({ length: 5 }, () => invoke(d, 'huge-results.dump')));
    const wild = await tenSwitches(d);
    const results = await dumps;
    expect(wild, `quiet ${quiet.toFixed(0)} ms, with the wild plugins ${wild.toFixed(0)} ms`).toBeLessThanOrEqual(2 * quiet);

    // Contained: the flood is cut and counted, the leak restarted at max_memory, the dump refused.
    const flood = lines.filter((l) => l.plugin === 'floods-big-lines');
    expect(flood.some((l) => /^dropped \d+ log lines/.test(l.msg) || (l.dropped ?? 0) > 0)).toBe(true);
    expect(flood.every((l) => l.msg.length <= 2100)).toBe(true);
    expect(states.some((s) => /^leaks-buffers:backoff:uses \d+ MB of memory .* over max_memory 128 MB; restarting/.test(s)), states.join('\n')).toBe(true);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: expect.stringMatching(/^OCKLE_(COMMAND_FAILED|PLUGIN_UNAVAILABLE)$/) as string });
    }
    expect(results.some((r) => /the result takes 200\.0 MB \(a command may answer at most 4 MB\)/.test(((r as PromiseRejectedResult).reason as Error).message))).toBe(true);
    expect(d.shared<SimWorld>('sim-world')!.writes('pdu-b').count).toBe(10);
  }, 60_000);
});

/** Runs a plugin command the way the API does. */
async function invoke(d: Daemon, name: string): Promise<unknown> {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${d.url}/api/commands/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(d)}` }, body: '{}' });
    const body = (await res.json()) as { result?: unknown; error?: { code: string; message: string } };
    if (res.ok) return body.result;
    if (body.error?.code !== 'OCKLE_NOT_FOUND') throw Object.assign(new Error(body.error!.message), { code: body.error!.code });
    await new Promise((r) => setTimeout(r, 50)); // not registered yet
  }
  throw new Error(`${name} never registered`);
}
async function token(d: Daemon): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return (await readFile(join(d.config.stateDir, 'api-token'), 'utf8')).trim();
}
