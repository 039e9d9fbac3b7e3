import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultRegistry } from '../../drivers/registry.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { checkConfig } from '../../src/config/load.js';
import { formatProblem } from '../../src/errors.js';
import { sleep, TIMER_MAX_MS } from '../../src/timers.js';
import { demoConfig } from '../support/demo.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('long waits', () => {
  it('sleep waits the whole of a wait longer than one timer holds (Node would fire it after 1 ms)', async () => {
    vi.useFakeTimers();
    let done = false;
    const thirtyDays = 30 * 86_400_000;
    void sleep(thirtyDays).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(TIMER_MAX_MS + 1000);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(thirtyDays - TIMER_MAX_MS - 1000 - 1);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it('config check refuses a duration a timer cannot hold, saying the limit', async () => {
    const demo = await demoConfig();
    try {
      await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace('[servers]\n', '[servers]\nshutdown_timeout = 30d\n'));
      await demo.write('devices/pdu-b.ini', (await demo.read('devices/pdu-b.ini')).replace('poll_interval = 2s', 'poll_interval = 30d'));
      const { problems } = await checkConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
      const lines = problems.map(formatProblem);
      expect(lines).toContain('devices/pdu-b.ini:9: poll_interval = 30d: 30d is out of range Use a duration 100ms–24d: 24 days is the longest a timer can wait.');
      expect(lines.some((l) => /^ockle\.ini:\d+: shutdown_timeout = 30d: 30d is out of range Use a duration 1s–24d: 24 days is the longest a timer can wait\.$/.test(l)), lines.join('\n')).toBe(true);
    } finally {
      await demo.cleanup();
    }
  });
});
