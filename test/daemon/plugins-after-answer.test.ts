/**
 * `ockle daemon` starts its worker plugins once the API has answered its first request (or a
 * second after it listens when nobody asks): their threads would compete with that answer for
 * the CPU. Until then they show as `starting`; a stop before then starts none.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';

const WORKERS = ['logger', 'metrics', 'timer-example'];

describe('worker plugins after the first answer', () => {
  let demo: DemoCopy;
  let daemon: Daemon | undefined;
  beforeEach(async () => {
    demo = await demoConfig();
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await demo.cleanup();
  });

  const start = async (changes: string[]): Promise<Daemon> => {
    const d = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false, pluginsAfterFirstAnswer: true });
    d.events.on('plugin.changed', (e) => changes.push(`${e.plugin}: ${e.state}`));
    return d;
  };
  const workers = (d: Daemon) => d.plugins().filter((p) => p.where === 'worker' && p.state !== 'disabled');
  const allRunning = async (d: Daemon): Promise<void> => {
    for (let i = 0; i < 600 && workers(d).some((p) => p.state !== 'running'); i++) await new Promise((r) => setTimeout(r, 25));
  };

  it('no worker starts before the API answers; after its first answer every one runs', async () => {
    const changes: string[] = [];
    daemon = await start(changes);
    // 1. Started, listening, nothing asked yet: the workers wait, shown as starting.
    expect(changes).toEqual([]);
    expect(workers(daemon).map((p) => `${p.name}: ${p.state}`)).toEqual(WORKERS.map((n) => `${n}: starting`));
    // 2. The first answer lets them start.
    expect((await fetch(`${daemon.url}/api/health`)).status).toBe(200);
    await allRunning(daemon);
    expect(workers(daemon).map((p) => `${p.name}: ${p.state}`)).toEqual(WORKERS.map((n) => `${n}: running`));
    for (const n of WORKERS) expect(changes.filter((c) => c.startsWith(`${n}:`)).slice(0, 2)).toEqual([`${n}: starting`, `${n}: running`]);
  });

  it('with nobody asking, they start anyway', async () => {
    const changes: string[] = [];
    daemon = await start(changes);
    await allRunning(daemon);
    expect(workers(daemon).map((p) => `${p.name}: ${p.state}`)).toEqual(WORKERS.map((n) => `${n}: running`));
  });

  it('a stop before the first answer starts none, then or later', async () => {
    const changes: string[] = [];
    daemon = await start(changes);
    await daemon.stop();
    // Longer than the wait for a first answer (a second): the cancelled start stays cancelled.
    await new Promise((r) => setTimeout(r, 1500));
    expect(changes).toEqual([]);
  });
});
