/**
 * The sequencer's wait on another gateway's server (plugins/auto-control/remote.ts), on the real
 * RemoteLab store fed by hand, as the mqtt plugin feeds it (test/plugins/federation.test.ts runs
 * the same through Debian mosquitto): when it asks, when it asks again, and what ends the wait.
 */
import { describe, expect, it } from 'vitest';
import { waitRemote } from '../../plugins/auto-control/remote.js';
import { EventBus } from '../../src/core/event-bus.js';
import type { ActionStep, OckleEvents } from '../../src/core/model.js';
import { RemoteLab, type RemoteReport } from '../../src/core/remote.js';
import type { ServerOps } from '../../src/core/sequence.js';

function harness(timeoutMs = 60_000) {
  const events = new EventBus<OckleEvents>();
  const lab = new RemoteLab(events);
  lab.configure([{ name: 'vm-1', remoteDependencies: ['gw-a:storage-1'], settings: { remote_timeout: timeoutMs } }], 'gw-b');
  const asked: OckleEvents['remote.request'][] = [];
  events.on('remote.request', (e) => asked.push(e));
  const steps: Omit<ActionStep, 'at'>[] = [];
  const ops = { step: (_id: string, s: Omit<ActionStep, 'at'>) => steps.push(s), now: () => performance.now() } as unknown as ServerOps;
  const report = (state: string, o: Partial<{ availability: string | null; connected: boolean; actionId: string | null; serving: boolean; power: string }> = {}): void => {
    const r: RemoteReport = {
      connected: o.connected ?? true,
      error: o.connected === false ? 'connection refused' : null,
      gateways: { 'gw-a': o.availability === undefined ? 'online' : o.availability },
      servers: [{ gateway: 'gw-a', name: 'storage-1', state, serving: o.serving ?? state === 'OK', power: o.power ?? (state === 'OFF' ? 'off' : 'on'), reason: `${state} reason`, actionId: o.actionId ?? null, dependencies: [] }],
    };
    lab.update(r);
  };
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
  const wait = (goal: 'on' | 'off' = 'on', extra: { powerEvent?: boolean; signal?: AbortSignal } = {}) =>
    waitRemote(lab, ops, { ref: 'gw-a:storage-1', goal, actionId: 'act-1', server: 'vm-1', reason: 'test', signal: extra.signal ?? new AbortController().signal, ...(extra.powerEvent && { powerEvent: true }) });
  return { lab, asked, steps, report, tick, wait };
}

describe('waiting on a server of another gateway', () => {
  it('asks once when it is known and not serving, and ends when it serves', async () => {
    const h = harness();
    h.report('OFF');
    const w = h.wait();
    await h.tick();
    expect(h.asked).toEqual([expect.objectContaining({ gateway: 'gw-a', server: 'storage-1', action: 'on', for: 'vm-1' })]);
    h.lab.replied({ requestId: h.asked[0]!.requestId, status: 'accepted', actionId: 'a-9', error: null });
    h.report('SWITCHING_ON', { actionId: 'a-9' });
    await h.tick();
    expect(h.asked).toHaveLength(1);
    h.report('OK');
    await expect(w).resolves.toBeNull();
    expect(h.steps.at(-1)).toMatchObject({ op: 'remote', ok: true, detail: 'gw-a:storage-1 serves' });
  });

  it('asks nothing while UNKNOWN (broker gone, gateway offline), says why, and asks once it is known again', async () => {
    const h = harness();
    h.report('OFF', { connected: false });
    const w = h.wait();
    await h.tick();
    h.report('OFF', { availability: 'offline' });
    await h.tick();
    expect(h.asked).toEqual([]);
    expect(h.steps.map((s) => s.detail)).toEqual([
      'waiting on gw-a:storage-1: the MQTT broker is unreachable (connection refused); vm-1 is not started on a guess',
      'waiting on gw-a:storage-1: gateway gw-a is offline; vm-1 is not started on a guess',
    ]);
    h.report('OFF');
    await h.tick();
    expect(h.asked).toHaveLength(1);
    h.report('OK');
    await expect(w).resolves.toBeNull();
  });

  it('asks again after its gateway came back from a restart that lost the request, not before', async () => {
    const h = harness();
    h.report('OFF');
    const w = h.wait();
    await h.tick();
    h.lab.replied({ requestId: h.asked[0]!.requestId, status: 'accepted', actionId: 'a-1', error: null });
    h.report('SWITCHING_ON', { availability: 'offline', actionId: 'a-1' });
    await h.tick();
    h.report('OFF', { actionId: null });
    await h.tick();
    expect(h.asked).toHaveLength(2);
    h.report('OK');
    await expect(w).resolves.toBeNull();
  });

  it('asks again when its gateway refused because the server was busy; ends with the reason when it refused for good or failed', async () => {
    const busy = harness();
    busy.report('OFF');
    const w1 = busy.wait();
    await busy.tick();
    busy.lab.replied({ requestId: busy.asked[0]!.requestId, status: 'refused', actionId: null, error: { code: 'OCKLE_ACTION_BUSY', message: 'server "storage-1" is busy with action x' } });
    await busy.tick();
    expect(busy.asked).toHaveLength(2);
    busy.report('OK');
    await expect(w1).resolves.toBeNull();

    const refused = harness();
    refused.report('OFF');
    const w2 = refused.wait();
    await refused.tick();
    refused.lab.replied({ requestId: refused.asked[0]!.requestId, status: 'refused', actionId: null, error: { code: 'OCKLE_AUTH_FORBIDDEN', message: 'MQTT user gw-b has no role' } });
    await expect(w2).resolves.toBe('its gateway refused: MQTT user gw-b has no role');
    expect(refused.asked).toHaveLength(1);

    const failed = harness();
    failed.report('OFF');
    const w3 = failed.wait();
    await failed.tick();
    failed.lab.replied({ requestId: failed.asked[0]!.requestId, status: 'failed', actionId: 'a-2', error: { code: 'OCKLE_SEQUENCE_START_FAILED', message: 'storage-1: tests did not pass' } });
    await expect(w3).resolves.toBe("its gateway's on failed: storage-1: tests did not pass");
  });

  it('gives up at remote_timeout, with the state it last had', async () => {
    const h = harness(1000);
    h.report('OFF', { availability: 'offline' });
    await expect(h.wait()).resolves.toBe('did not serve within remote_timeout 1.0 s (UNKNOWN: gateway gw-a is offline)');
    expect(h.asked).toEqual([]);
  });

  it('off: waits until its gateway reads it off; in a power event an UNKNOWN dependent is not waited on', async () => {
    const h = harness();
    h.report('OK');
    const w = h.wait('off');
    await h.tick();
    expect(h.asked).toEqual([expect.objectContaining({ action: 'off' })]);
    h.report('OFF');
    await expect(w).resolves.toBeNull();

    const ups = harness();
    ups.report('OK', { availability: 'offline' });
    await expect(ups.wait('off', { powerEvent: true })).resolves.toBeNull();
    expect(ups.asked).toEqual([]);
    expect(ups.steps.at(-1)?.detail).toMatch(/UNKNOWN \(gateway gw-a is offline\): not waited on during a power event/);
  });

  it('a cancelled action ends the wait at once (rejects), asking nothing more', async () => {
    const h = harness();
    h.report('OFF', { connected: false });
    const ac = new AbortController();
    const w = h.wait('on', { signal: ac.signal });
    await h.tick();
    ac.abort(new Error('cancelled'));
    await expect(w).rejects.toThrow('cancelled');
    expect(h.asked).toEqual([]);
  });
});

describe('a dependency cycle across gateways', () => {
  it('fails at once, naming the cycle, instead of waiting until remote_timeout; a cycle elsewhere does not matter', async () => {
    const events = new EventBus<OckleEvents>();
    const lab = new RemoteLab(events);
    lab.configure([{ name: 'vm-1', dependencies: [], remoteDependencies: ['gw-a:storage-1'], settings: { remote_timeout: 60_000 } }], 'gw-b');
    const server = (name: string, dependencies: string[]) => ({ gateway: 'gw-a', name, state: 'OFF', serving: false, power: 'off', reason: '', actionId: null, dependencies });
    lab.update({ connected: true, error: null, gateways: { 'gw-a': 'online' }, servers: [server('storage-1', ['gw-b:vm-1']), server('x', ['y']), server('y', ['x'])] });
    expect(lab.cycle('vm-1')).toEqual(['gw-b:vm-1', 'gw-a:storage-1', 'gw-b:vm-1']);
    const steps: Omit<ActionStep, 'at'>[] = [];
    const ops = { step: (_id: string, s: Omit<ActionStep, 'at'>) => steps.push(s), now: () => performance.now() } as unknown as ServerOps;
    await expect(waitRemote(lab, ops, { ref: 'gw-a:storage-1', goal: 'on', actionId: 'a', server: 'vm-1', reason: 't', signal: new AbortController().signal })).resolves.toMatch(
      /^is part of a dependency cycle across gateways: gw-b:vm-1 → gw-a:storage-1 → gw-b:vm-1/,
    );
    // storage-1 no longer depends on vm-1: the x ↔ y cycle of gw-a is not vm-1's.
    lab.update({ connected: true, error: null, gateways: { 'gw-a': 'online' }, servers: [server('storage-1', []), server('x', ['y']), server('y', ['x'])] });
    expect(lab.cycle('vm-1')).toBeNull();
  });
});
