/**
 * The UPS faces on the demo lab, in-process through the CLI and the API (the CLI's local admin
 * token): `ockle ups`, the UPS line of `ockle status`, `ockle plan ups` (nothing done), a drill,
 * a viewer refused the drill, a UPS file edited with `ockle config set` and reloaded, and the
 * events as `ockle watch` prints them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { demoDaemon } from '../support/cli.js';
import { formatEvent } from '../../src/cli/watch.js';

describe('UPS faces on the demo lab', () => {
  const lab = demoDaemon();
  const { run, writes } = lab;
  beforeAll(async () => {
    await lab.d.ups.monitor('rack-ups').poll();
  });

  it('ockle ups, ockle status and ockle plan ups show the UPS and its stages, and write nothing', async () => {
    const w = writes();
    const u = await run('ups');
    expect(u.code, u.err).toBe(0);
    expect(u.out).toMatch(/^ups rack-ups on mains 100 %, 20 min runtime, load 35 %$/m);
    const s = await run('status');
    expect(s.out).toMatch(/^ups rack-ups on mains/m);
    const j = JSON.parse((await run('status', '--json')).out) as { ups: { name: string; power: string }[] };
    expect(j.ups).toMatchObject([{ name: 'rack-ups', power: 'mains' }]);
    const p = await run('plan', 'ups', 'rack-ups');
    expect(p.code, p.err).toBe(0);
    expect(p.out).toContain('tier-1 (on battery for 30 s): off backup, vm-3, web-2');
    expect(p.out).toContain('tier-2 (60 s after the previous tier ends): off vm-1, vm-2, web-1');
    expect(p.out).toContain('tier-3 (60 s after the previous tier ends): off storage-2');
    expect(p.out).toMatch(/low-battery \(.*\): off db-1, storage-1\n/);
    expect(p.out).toContain('kept core-switch: keep_on');
    expect(writes()).toBe(w);
    expect((await run('plan', 'ups', 'nope')).code).not.toBe(0);
  });

  it('a drill needs the admin role; it shows at once, and a real UPS would refuse it', async () => {
    const tok = await run('token', 'new', 'viewer-1', '--role', 'viewer');
    const token = /^\s+(ockle_\S+)$/m.exec(tok.out)![1]!;
    await lab.demo.write('ockle.ini', (await lab.demo.read('ockle.ini')) + '\n' + tok.out.slice(tok.out.indexOf('[token.viewer-1]')));
    expect(await lab.d.reload()).toBe(true);
    const api = (path: string, init?: RequestInit) => fetch(`${lab.d.url}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
    // A viewer reads the UPS and its plan, but may not drill: a drill acts on real servers.
    expect((await api('/api/ups/rack-ups')).status).toBe(200);
    expect((await api('/api/ups/rack-ups/plan')).status).toBe(200);
    const r = await api('/api/ups/rack-ups/simulate', { method: 'POST', body: JSON.stringify({ power: 'battery' }) });
    expect(r.status).toBe(403);
    expect(lab.d.ups.status('rack-ups').power).toBe('mains');
    expect((await api('/api/ups/nope')).status).toBe(404);
    const bad = await run('ups', 'simulate', 'rack-ups', 'brownout');
    expect(bad.code).toBe(2);
    const ok = await run('ups', 'simulate', 'rack-ups', 'battery', '--charge', '64');
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/^ups rack-ups ON BATTERY 64 %/m);
    expect((await run('ups', 'rack-ups')).out).toMatch(/on-battery: on battery for \d+ s/);
    await run('ups', 'simulate', 'rack-ups', 'mains', '--charge', '100');
    expect(lab.d.ups.status('rack-ups').power).toBe('mains');
  });

  it('ockle config set edits a UPS file, checked whole and reloaded; a bad value is refused at its line', async () => {
    const set = await run('config', 'set', 'ups/rack-ups.ini:policy.min_charge', '25');
    expect(set.code, set.err).toBe(0);
    expect(set.out).toMatch(/ups\/rack-ups\.ini:\d+: \+ min_charge = 25/);
    expect(lab.d.config.ups.find((u) => u.id === 'rack-ups')!.policy.min_charge).toBe(25);
    const bad = await run('config', 'set', 'ups/rack-ups.ini:policy.keep_on', 'core-swich');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/ups\/rack-ups\.ini:\d+: keep_on names "core-swich", which is not a configured server Did you mean "core-switch"\?/);
    expect(lab.d.config.ups.find((u) => u.id === 'rack-ups')!.policy.keep_on).toEqual(['core-switch']);
  });

  it('ockle watch prints the UPS events as lines', () => {
    const at = new Date(2026, 11, 1, 12, 0, 5);
    const ups = { ...lab.d.ups.status('rack-ups'), power: 'battery' as const, chargePct: 71, runtimeS: 720, loadPct: 35, lowBattery: false, error: null };
    expect(formatEvent({ event: 'ups.changed', data: { ups } }, at)).toBe('12:00:05 ups rack-ups on battery (71 %, 12 min, load 35 %)');
    expect(formatEvent({ event: 'ups.stage', data: { ups: 'rack-ups', event: 'e1', stage: 'tier-1', status: 'started', detail: 'off web-2', actionId: 'a1' } }, at)).toBe(
      '12:00:05 ups rack-ups tier-1 started: off web-2 (action a1)',
    );
  });
});
