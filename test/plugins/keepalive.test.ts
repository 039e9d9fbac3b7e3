/** auto-control's keep-alive strategy on its own: what it counts and when it asks for a restart. */
import { describe, expect, it } from 'vitest';
import { createKeepAlive } from '../../plugins/auto-control/keepalive.js';
import type { ActionRequest } from '../../src/core/model.js';
import type { OutletsRead, TestRun } from '../../src/core/sequence.js';
import { silentLogger } from '../../src/log.js';

const read = (over: Partial<OutletsRead> = {}): OutletsRead => ({ blocked: null, on: 1, off: 0, total: 1, poweredForMs: 600_000, at: 0, ...over });
const run = (result: 'PASSED' | 'FAILED' | 'NOT_RUN', over: Partial<TestRun> = {}, outlets = read()): TestRun => ({
  server: 'app',
  policy: { maxAttempts: 2, bootTimeoutMs: 60_000, shutdownTimeoutMs: 1000, testIntervalMs: 1000, onShutdownTimeout: 'fail', keepaliveFailures: 3 },
  tests: [{ name: 'http', result }],
  shouldBeUp: true,
  held: false,
  paused: false,
  outlets: () => outlets,
  ...over,
});

function keeper() {
  const asked: ActionRequest[] = [];
  const k = createKeepAlive({ request: (req) => (asked.push(req), { id: String(asked.length) } as never), log: silentLogger() });
  return { k, asked };
}

describe('keep-alive strategy', () => {
  it('asks for a sequenced cycle of the server alone after exactly keepalive_failures failed runs in a row', () => {
    const { k, asked } = keeper();
    k.tested(run('FAILED'));
    k.tested(run('FAILED'));
    expect(asked).toHaveLength(0);
    k.tested(run('FAILED'));
    expect(asked).toEqual([
      { kind: 'cycle', targets: ['app'], force: false, origin: 'plugin:auto-control', reason: 'keep-alive: http failed 3 test runs in a row' },
    ]);
    k.tested(run('FAILED'));
    expect(asked).toHaveLength(1); // counting starts again
  });

  it('starts counting again after a pass, while held by an action, while paused for maintenance, or when not brought up by ockle', () => {
    for (const reset of [run('PASSED'), run('FAILED', { held: true }), run('FAILED', { paused: true }), run('FAILED', { shouldBeUp: false }), run('NOT_RUN')]) {
      const { k, asked } = keeper();
      k.tested(run('FAILED'));
      k.tested(run('FAILED'));
      k.tested(reset);
      k.tested(run('FAILED'));
      k.tested(run('FAILED'));
      expect(asked).toHaveLength(0);
    }
  });

  it('never counts a run while an outlet cannot be read, nor while the server is still within boot_timeout', () => {
    const { k, asked } = keeper();
    for (let i = 0; i < 5; i++) k.tested(run('FAILED', {}, read({ blocked: 'pdu-a unreachable' })));
    for (let i = 0; i < 5; i++) k.tested(run('FAILED', {}, read({ poweredForMs: 59_999 })));
    expect(asked).toHaveLength(0);
    k.tested(run('FAILED'));
    k.tested(run('FAILED'));
    expect(asked).toHaveLength(0);
    k.tested(run('FAILED'));
    expect(asked).toHaveLength(1);
  });

  it('forgets the count of a server whose tests changed in a reload', () => {
    const { k, asked } = keeper();
    k.tested(run('FAILED'));
    k.tested(run('FAILED'));
    k.forget(['app']);
    k.tested(run('FAILED'));
    expect(asked).toHaveLength(0);
  });
});
