/**
 * The plugin host with real worker threads: one fixture plugin per misbehaviour, and the host's
 * reaction (state transitions, restarts with backoff, failed after too many crashes, deadlines),
 * while the main thread stays responsive.
 */
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventBus } from '../../src/core/event-bus.js';
import { Secret } from '../../src/config/types.js';
import { PluginHost, type PluginState } from '../../src/plugin-host/host.js';
import { REPO } from '../support/demo.js';

const FIX = join(REPO, 'test', 'fixtures', 'plugins');
const hosts: PluginHost[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.stop('test end');
});

function host(fixture: string, o: { handle?: (m: string, p: unknown) => Promise<unknown>; config?: Record<string, unknown> } = {}) {
  const bus = new EventBus<Record<string, unknown>>();
  const states: string[] = [];
  const logs: { msg: string; plugin?: string; level: number }[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as { msg: string; level: number }) });
  const h = new PluginHost({
    name: fixture,
    module: join(FIX, `${fixture}.mjs`),
    config: o.config ?? {},
    dataDir: '/nonexistent/plugin-data',
    log,
    handle: o.handle ?? (async (method, params) => (method === 'echo' ? params : Promise.reject(new Error(`no method ${method}`)))),
    subscribe: (event, fn) => bus.on(event, fn),
    onState: (s: PluginState, detail) => states.push(`${s}: ${detail}`),
    startTimeoutMs: 800,
    heartbeatMs: 50,
    missedBeats: 6,
    stopTimeoutMs: 300,
    backoffMs: [50, 100],
    maxCrashes: 3,
    crashWindowMs: 60_000,
    commandTimeoutMs: 300,
  });
  hosts.push(h);
  return { h, bus, states, logs };
}
const until = async (cond: () => boolean, what: string, ms = 5000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('plugin host', () => {
  it('runs a good plugin: ready, config (a secret as its value), events in, requests out, logs with its name, clean stop', async () => {
    const { h, bus, states, logs } = host('good', { config: { greeting: new Secret('hello') } });
    h.start();
    await until(() => h.state === 'running', 'running');
    expect(logs.find((l) => l.msg === 'started')).toMatchObject({ plugin: 'good', greeting: 'hello' });
    await until(() => bus.listenerCount() > 0, 'subscribed');
    bus.emit('ping', { n: 42 });
    await until(() => logs.some((l) => l.msg === 'echoed'), 'echo round trip');
    expect(logs.find((l) => l.msg === 'echoed')).toMatchObject({ r: { n: 42 } });
    await h.stop('daemon stopping');
    expect(states.map((s) => s.split(':')[0])).toEqual(['starting', 'running', 'stopping', 'stopped']);
    expect(bus.listenerCount()).toBe(0);
  });

  it('a plugin that throws in start is restarted with backoff, then failed after too many crashes', async () => {
    const { h, states } = host('throws-in-start');
    h.start();
    await until(() => h.state === 'failed', 'failed');
    expect(states.filter((s) => s.startsWith('backoff'))).toHaveLength(2);
    expect(states.at(-1)).toMatch(/^failed: start failed: cannot open database; 3 crashes within 60 s/);
    await h.restart(); // an operator's restart clears the history
    await until(() => states.filter((s) => s.startsWith('starting')).length === 4, 'restarted');
  });

  it('a plugin that never gets ready is terminated at the start timeout', async () => {
    const { h, states } = host('never-ready');
    h.start();
    await until(() => states.some((s) => s.startsWith('backoff')), 'backoff');
    expect(states.find((s) => s.startsWith('backoff'))).toMatch(/not ready within 800 ms/);
  });

  it('a plugin that hangs (blocked event loop) is detected by missed heartbeats, terminated and restarted', async () => {
    const { h, bus, states } = host('hangs');
    h.start();
    await until(() => h.state === 'running', 'running');
    await until(() => bus.listenerCount() > 0, 'subscribed');
    const t0 = Date.now();
    bus.emit('config.reloaded', { ok: true, message: 'hang' });
    await until(() => states.some((s) => s.startsWith('backoff')), 'hang detected');
    expect(states.find((s) => s.startsWith('backoff'))).toMatch(/hung: no heartbeat/);
    // The main thread was never blocked: this test's own timers kept running.
    expect(Date.now() - t0).toBeLessThan(5000);
    await until(() => h.state === 'running', 'running again');
  });

  it('a worker not heard from yet is not hung: its thread is still loading, and the start timeout is the limit', async () => {
    const { h, states } = host('good');
    // Simulated time passes with the worker silent, as on a machine busy while threads start
    // (nothing from the worker can be read during this synchronous advance): 600 ms of silence
    // is twice the hang limit (6 × 50 ms) and within the start timeout (800 ms).
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    try {
      h.start();
      vi.advanceTimersByTime(600);
    } finally {
      vi.useRealTimers();
    }
    expect(states).toEqual(['starting: worker spawned']);
    await until(() => h.state === 'running', 'running');
    expect(states.some((s) => s.startsWith('backoff'))).toBe(false);
  });

  it('the main thread blocked longer than the hang limit: the heartbeats waiting behind it are read, the plugin is not restarted', async () => {
    const { h, states } = host('good');
    h.start();
    await until(() => h.state === 'running', 'running');
    const block = Date.now() + 600; // twice the hang limit (6 × 50 ms)
    while (Date.now() < block) {
      // a synchronous stall of the daemon's thread (a slow config load, a sync write)
    }
    await new Promise((r) => setTimeout(r, 400));
    expect(states.filter((s) => !/^(starting|running)/.test(s))).toEqual([]);
    expect(h.state).toBe('running');
  });

  it('a plugin whose thread exits is restarted', async () => {
    const { h, states } = host('exits');
    h.start();
    await until(() => states.some((s) => /exited with code 3/.test(s)), 'exit seen');
  });

  it('a plugin that throws in an event handler keeps running; the bug is counted and logged', async () => {
    const { h, bus, logs } = host('throws-in-event');
    h.start();
    await until(() => h.state === 'running' && bus.listenerCount() > 0, 'running');
    bus.emit('config.reloaded', { ok: true, message: 'ping' });
    await until(() => h.bugs === 1, 'bug counted');
    expect(h.state).toBe('running');
    expect(logs.some((l) => /threw in event/.test(l.msg))).toBe(true);
  });

  it('malformed messages are logged as the plugin’s bug and never crash the host', async () => {
    const { h, logs } = host('malformed');
    h.start();
    await until(() => h.bugs >= 4, 'four malformed messages');
    expect(logs.filter((l) => /malformed message/.test(l.msg))).toHaveLength(4);
    await until(() => h.state === 'running', 'still running: the well-formed ready was taken');
  });

  it('a plugin slow to stop is terminated at the stop deadline', async () => {
    const { h, states } = host('slow-stop');
    h.start();
    await until(() => h.state === 'running', 'running');
    await h.stop('daemon stopping');
    expect(states.at(-1)).toBe('stopped: daemon stopping; not stopped within 300 ms: terminated');
  });

  it('a plugin flooding its log does not stall the host', async () => {
    const { h, logs } = host('floods-logs');
    h.start();
    await until(() => h.state === 'running', 'running');
    // 5000 lines in one go: the first 1000 pass, the rest are dropped and counted, told once.
    await until(() => logs.some((l) => /^dropped \d+ log lines/.test(l.msg)), 'the drop count');
    const passed = logs.filter((l) => /^line /.test(l.msg)).length;
    const dropped = Number(/^dropped (\d+)/.exec(logs.find((l) => /^dropped \d+ log lines/.test(l.msg))!.msg)![1]);
    expect(passed).toBeGreaterThanOrEqual(1000);
    expect(passed + dropped).toBe(5000);
  });

  it('registered commands: one answer each (result, the plugin’s error, timeout, unsendable), names prefixed, gone when the plugin stops', async () => {
    const { h, logs } = host('commands');
    h.start();
    await until(() => h.state === 'running', 'running');
    expect(h.commands().map((c) => [c.name, c.role])).toEqual([
      ['commands.add', 'viewer'],
      ['commands.boom', 'operator'],
      ['commands.never', 'operator'],
      ['commands.uncloneable', 'operator'],
      ['commands.secret-op', 'admin'],
      ['commands.dir', 'viewer'],
    ]);
    expect(logs.find((l) => l.msg === 'bad name refused')).toMatchObject({ err: expect.stringContaining('lower case') });
    expect(await h.invoke('commands.add', { a: 2, b: 40 })).toEqual({ sum: 42 });
    expect(await h.invoke('commands.dir', {})).toBe('/nonexistent/plugin-data');
    await expect(h.invoke('commands.boom', {})).rejects.toMatchObject({ code: 'OCKLE_COMMAND_FAILED', message: 'boom: the plugin said no' });
    await expect(h.invoke('commands.never', {})).rejects.toMatchObject({ code: 'OCKLE_COMMAND_TIMEOUT' });
    await expect(h.invoke('commands.uncloneable', {})).rejects.toMatchObject({ code: 'OCKLE_COMMAND_FAILED', message: expect.stringContaining('could not be cloned') });
    await expect(h.invoke('commands.nope', {})).rejects.toMatchObject({ code: 'OCKLE_NOT_FOUND', hint: expect.stringContaining('commands.add') });
    await expect(h.invoke('commands.add', { f: () => 1 })).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID' });
    // Many in flight at once: each gets its own answer.
    const sums = await Promise.all(Array.from({ length: 50 }, (_, i) => h.invoke('commands.add', { a: i, b: 1 })));
    expect(sums).toEqual(Array.from({ length: 50 }, (_, i) => ({ sum: i + 1 })));
    // A command in flight when the plugin stops is answered (unavailable), not left hanging.
    const inFlight = h.invoke('commands.never', {}).catch((e: unknown) => e);
    await h.stop('test');
    expect(await inFlight).toMatchObject({ code: 'OCKLE_PLUGIN_UNAVAILABLE' });
    expect(h.commands()).toEqual([]);
  });
});
