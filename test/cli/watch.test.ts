/**
 * `ockle watch` against a daemon on the demo lab: a readable line per event (time, what, the
 * gist), JSON lines with --json, and device.metered only when asked for (--metered, or named in
 * --types), since the event stream leaves it out by default. The formatter is also checked event
 * by event, without a daemon.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/commands.js';
import { formatEvent, watchTypes } from '../../src/cli/watch.js';
import type { ActionRecord } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { EVENT_NAMES } from '../../src/plugin-host/contract.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';

const TIME = /^\d\d:\d\d:\d\d /;

describe('ockle watch', () => {
  let demo: DemoCopy;
  let daemon: Daemon;
  beforeAll(async () => {
    demo = await demoConfig();
    daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false });
    await daemon.gateway.actions(); // journal open
  });
  afterAll(async () => {
    await daemon.stop();
    await demo.cleanup();
  });

  /** Starts `ockle watch ARGS`; its output so far, and its exit code once the stream ends. */
  function watch(...args: string[]): { out: () => string; err: () => string; code: Promise<number> } {
    let out = '';
    let err = '';
    const code = main(['watch', ...args, '--config', demo.configDir], {
      stdout: { write: (s: string) => ((out += s), true) },
      stderr: { write: (s: string) => ((err += s), true) },
      env: {},
      cwd: demo.configDir,
    });
    return { out: () => out, err: () => err, code };
  }
  const until = async (ok: () => boolean): Promise<void> => {
    for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  };

  it('prints a readable line per event, JSON lines with --json, and device.metered only when asked for', async () => {
    const before = daemon.events.listenerCount();
    const plain = watch();
    const json = watch('--json');
    const metered = watch('--metered');
    const onlyMetered = watch('--types', 'device.metered', '--json');
    await until(() => daemon.events.listenerCount() >= before + 4);
    expect(daemon.events.listenerCount()).toBeGreaterThanOrEqual(before + 4);

    const off = daemon.gateway.request({ kind: 'off', targets: ['web-2'], force: true, origin: 'api:ada', reason: 'why' });
    await daemon.gateway.waitFor(off.id);
    daemon.events.emit('device.metered', { device: 'pdu-a', at: new Date().toISOString(), readings: { 1: { watts: 100.4, amps: 0.44 }, 2: { watts: 50 } } });
    const on = daemon.gateway.request({ kind: 'on', targets: ['web-2'], force: true, origin: 'api:ada', reason: '' });
    await daemon.gateway.waitFor(on.id);
    await until(() => [plain, json, metered].every((w) => w.out().includes(on.id)) && onlyMetered.out().includes('pdu-a'));
    // A daemon that stops ends the streams, and with them the commands (exit 4, as before).
    await daemon.stop();
    for (const w of [plain, json, metered, onlyMetered]) expect(await w.code, w.err()).toBe(4);
    daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false });

    // Readable: the local time, then what changed, from → to, and why.
    const lines = plain.out().trimEnd().split('\n');
    for (const l of lines) expect(l).toMatch(TIME);
    expect(plain.out()).not.toMatch(/\{"/); // no JSON left in any line
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^\\d\\d:\\d\\d:\\d\\d action ${off.id} started: forced off web-2 \\(api:ada, "why"\\)$`)));
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d outlet pdu-b\/5 on → off$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d server web-2 OK → SWITCHING_OFF \(.+\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d server web-2 SWITCHING_OFF → FORCED_OFF \(forced off\)$/));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^\\d\\d:\\d\\d:\\d\\d action ${off.id} ok: forced off web-2 in \\d`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^\\d\\d:\\d\\d:\\d\\d action ${on.id} started: forced on web-2 \\(api:ada\\)$`)));
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d outlet pdu-b\/5 off → on$/));
    expect(plain.out()).not.toContain('metered');
    expect(plain.out()).not.toContain('\x1b['); // not a terminal: no colour

    // --json: one JSON object per line, the API's events as they came; no device.metered.
    const events = json
      .out()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; data: unknown });
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['action.started', 'outlet.changed', 'server.changed', 'action.finished']));
    expect(events.map((e) => e.event)).not.toContain('device.metered');
    expect(events.find((e) => e.event === 'action.started')!.data).toMatchObject({ action: { id: off.id, kind: 'off', force: true, origin: 'api:ada', reason: 'why' } });

    // --metered: everything, plus the metering line; --types device.metered: only that.
    expect(metered.out()).toMatch(/^\d\d:\d\d:\d\d metered pdu-a: 2 outlets, 150 W$/m);
    expect(metered.out()).toContain(`action ${on.id} ok`);
    expect(onlyMetered.out().trimEnd().split('\n').map((l) => (JSON.parse(l) as { event: string }).event)).toEqual(['device.metered']);
  }, 30_000);

  it('colours the time and the states on a terminal', async () => {
    const paint = (code: string | undefined, s: string): string => (code ? `\x1b[${code}m${s}\x1b[0m` : s);
    const line = formatEvent({ event: 'server.changed', data: { server: 'web-1', state: 'OFF', previous: 'OK', reason: 'tests fail' } }, new Date(2026, 0, 1, 12, 3, 4), paint, (s) => paint(s === 'OK' ? '32' : '90', s));
    expect(line).toBe('\x1b[90m12:03:04\x1b[0m server web-1 \x1b[32mOK\x1b[0m → \x1b[90mOFF\x1b[0m (tests fail)');
  });

  it('asks the stream for device.metered only with --metered', () => {
    expect(watchTypes(undefined, false)).toBeUndefined();
    expect(watchTypes('server.changed', false)).toBe('server.changed');
    expect(watchTypes(undefined, true)!.split(',')).toEqual(EVENT_NAMES);
    expect(watchTypes('server.changed', true)).toBe('server.changed,device.metered');
    expect(watchTypes('device.metered', true)).toBe('device.metered');
  });

  it('says the gist of every event in one line', () => {
    const at = new Date(2026, 0, 1, 9, 5, 7);
    const f = (event: string, data: unknown): string => formatEvent({ event, data }, at);
    const action = (over: Partial<ActionRecord>): ActionRecord => ({ id: '12', kind: 'on', targets: ['storage-1'], force: false, origin: 'api:ada', reason: 'why', requestedAt: '2026-01-01T09:00:00.000Z', status: 'running', steps: [], ...over });
    expect(f('server.changed', { server: 'web-1', state: 'OFF', previous: 'OK', reason: 'switched off' })).toBe('09:05:07 server web-1 OK → OFF (switched off)');
    expect(f('outlet.changed', { device: 'pdu-a', outlet: 3, power: 'off', previous: 'on' })).toBe('09:05:07 outlet pdu-a/3 on → off');
    expect(f('test.changed', { server: 'db-1', test: 'ping', result: 'FAILED', previous: 'PASSED', detail: 'timeout after 1 s' })).toBe('09:05:07 test db-1/ping PASSED → FAILED (timeout after 1 s)');
    expect(f('device.unreachable', { device: 'pdu-a', message: 'ETIMEDOUT' })).toBe('09:05:07 device pdu-a unreachable: ETIMEDOUT');
    expect(f('device.reachable', { device: 'pdu-a' })).toBe('09:05:07 device pdu-a reachable again');
    expect(f('device.metered', { device: 'relay-1', at: '', readings: { 1: {} } })).toBe('09:05:07 metered relay-1: 1 outlet');
    expect(f('action.started', { action: action({}) })).toBe('09:05:07 action 12 started: on storage-1 (api:ada, "why")');
    expect(f('action.progressed', { actionId: '12', step: { at: '', server: 'storage-1', op: 'up', ok: true, detail: 'tests pass', ms: 41_200 } })).toBe('09:05:07 action 12 up storage-1: tests pass (41.2 s)');
    expect(f('action.progressed', { actionId: '12', step: { at: '', device: 'pdu-a', outlet: 3, op: 'switch', ok: false, detail: 'no answer' } })).toBe('09:05:07 action 12 failed switch pdu-a/3: no answer');
    expect(f('action.progress', { actionId: '12', kind: 'on', server: 'storage-1', event: 'done', wave: 2, waves: 3, currentWave: 3, done: 4, total: 7, percent: 57.1, active: [] })).toBe(
      '09:05:07 action 12 storage-1 done: wave 2/3, 4/7 servers done (57%)',
    );
    expect(f('action.finished', { action: action({ status: 'failed', finishedAt: '2026-01-01T09:01:30.000Z', error: { code: 'OCKLE_ACTION_FAILED', message: 'db-1 did not start' } }) })).toBe(
      '09:05:07 action 12 failed: on storage-1 in 90.0 s (OCKLE_ACTION_FAILED: db-1 did not start)',
    );
    expect(f('action.finished', { action: action({ kind: 'off', force: true, targets: ['web-1', 'web-2'], status: 'ok', finishedAt: '2026-01-01T09:00:00.400Z' }) })).toBe('09:05:07 action 12 ok: forced off web-1, web-2 in 400 ms');
    expect(f('config.reloaded', { ok: true, message: '' })).toBe('09:05:07 config reloaded');
    expect(f('config.reloaded', { ok: false, message: 'servers/db-1.ini:3: bad' })).toBe('09:05:07 config reload failed: servers/db-1.ini:3: bad');
    expect(f('plugin.changed', { plugin: 'logger', state: 'running', detail: '' })).toBe('09:05:07 plugin logger running');
    // An event this ockle does not know, or a payload it does not expect: the JSON, never a crash.
    expect(f('server.exploded', { server: 'x' })).toBe('09:05:07 server.exploded {"server":"x"}');
    expect(f('action.started', { nothing: true })).toBe('09:05:07 action.started {"nothing":true}');
  });
});
