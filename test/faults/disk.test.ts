/**
 * A full disk under the daemon: the state directory is a small tmpfs, filled to the last byte.
 * No accepted action is lost, nothing throws from a timer, a new action is refused with a clear
 * coded error (and nothing switched for it) while the journal cannot write, and ockle accepts
 * actions again once space is back, without a restart. Writes are counted at the sim PDU.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import type { ActionRecord } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import type { OckleError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { makeLab, type Lab } from '../support/lab.js';
import { describeRoot } from '../support/peers.js';

/** Fills the filesystem of `dir` with `file` until it refuses another byte. */
async function fill(file: string): Promise<void> {
  const fh = await open(file, 'w');
  const chunk = Buffer.alloc(4096, 0x2e);
  try {
    for (;;) await fh.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await fh.close();
  }
  // The last partial page too.
  const one = await open(file, 'a');
  try {
    for (;;) await one.write(Buffer.from('.'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await one.close();
  }
}

describeRoot('a full disk under the daemon', () => {
  let lab: Lab | undefined;
  let daemon: Daemon | undefined;
  let mounted = '';
  afterEach(async () => {
    await daemon?.stop().catch(() => {});
    daemon = undefined;
    if (mounted) execFileSync('umount', [mounted]);
    mounted = '';
    await lab?.cleanup();
    lab = undefined;
  });

  it('refuses new actions with a coded error while the journal cannot write, loses none it accepted, and recovers', async () => {
    lab = await makeLab({ a: { noControls: true, noTests: true } });
    mkdirSync(lab.stateDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0750', 'tmpfs', lab.stateDir]);
    mounted = lab.stateDir;
    const d = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: false });
    daemon = d;
    const world = d.shared<SimWorld>('sim-world')!;
    const filler = join(lab.stateDir, 'filler');
    await fill(filler);

    // Toggle a's outlet until the journal has no room for another start record.
    const accepted: ActionRecord[] = [];
    let refused: OckleError | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const writes = world.writes('pdu-1').count;
      try {
        const rec = d.gateway.request({ kind: i % 2 === 0 ? 'on' : 'off', targets: ['a'], force: true, origin: 'api:test', reason: `fill ${i}` });
        accepted.push(await d.gateway.waitFor(rec.id));
      } catch (err) {
        refused = err as OckleError;
        expect(world.writes('pdu-1').count).toBe(writes); // nothing switched for a refused action
      }
    }
    expect(refused?.code).toBe('OCKLE_JOURNAL_UNWRITABLE');
    expect(refused?.message).toBe(`cannot record actions: no space left on ${lab.stateDir}`);
    expect(refused?.status).toBe(507);
    expect(accepted.every((a) => a.status === 'ok')).toBe(true);
    expect(d.gateway.actions({ status: 'running' })).toEqual([]); // no phantom action
    const health = d.gateway.health();
    expect(health.status).toBe('degraded');
    expect(health.journal).toMatchObject({ writable: false, error: refused?.message });

    // Space comes back: ockle writes what it kept and accepts actions again, no restart.
    await rm(filler);
    for (let i = 0; i < 100 && !d.gateway.health().journal.writable; i++) await new Promise((r) => setTimeout(r, 50));
    expect(d.gateway.health().journal.writable).toBe(true);
    const after = await d.gateway.waitFor(d.gateway.request({ kind: 'cycle', targets: ['a'], force: true, origin: 'api:test', reason: 'space is back' }).id);
    expect(after.status).toBe('ok');

    // After a restart every accepted action is there, finished as it finished.
    await d.stop();
    daemon = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: false });
    for (const a of [...accepted, after]) expect(daemon.gateway.action(a.id).status, a.id).toBe('ok');
    expect(daemon.gateway.health().journal.repairs).toEqual([]);
  }, 60_000);

  it('a power cut on a full disk: the UPS event does not begin (its memory would be lost) and nothing is shed; with space back it begins and sheds', async () => {
    lab = await makeLab({ web: { outlet: 'pdu-1:1', extra: 'shed_priority = 1' } });
    const pdu = join(lab.configDir, 'devices', 'pdu-1.ini');
    await writeFile(pdu, (await readFile(pdu, 'utf8')).replace('initial = off', 'initial = on'));
    mkdirSync(join(lab.configDir, 'ups'));
    await writeFile(join(lab.configDir, 'ups', 'ups-1.ini'), '[ups]\ntype = sim\npoll_interval = 50ms\nread_latency = 0ms\n\n[policy]\non_battery_delay = 300ms\nmin_charge = 0\nmin_runtime = 0s\n');
    mkdirSync(lab.stateDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0750', 'tmpfs', lab.stateDir]);
    mounted = lab.stateDir;
    daemon = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: true });
    const d = daemon;
    const world = d.shared<SimWorld>('sim-world')!;
    const writes = world.writes('pdu-1').count;
    // The mains fails (the drill writes the sim UPS's state), then the disk fills.
    await d.ups.simulate('ups-1', { power: 'battery' });
    const filler = join(lab.stateDir, 'filler');
    await fill(filler);
    await new Promise((r) => setTimeout(r, 1200)); // well past on_battery_delay, polled every 50 ms
    expect(d.ups.status('ups-1')).toMatchObject({ power: 'battery', event: null });
    expect(world.writes('pdu-1').count).toBe(writes);
    // Space back: the next poll begins the event (journaled) and tier 1 sheds web.
    await rm(filler);
    for (let i = 0; i < 100 && world.writes('pdu-1').count === writes; i++) await new Promise((r) => setTimeout(r, 50));
    expect(world.writes('pdu-1').log.slice(-1).map((w) => `${w.action} ${w.outlet}`)).toEqual(['off 1']);
    const recs = d.gateway.actions({ limit: 20 }).filter((a) => a.origin === 'ups:ups-1');
    expect(recs.map((r) => r.event?.stage).reverse().slice(0, 2)).toEqual(['start', 'tier-1']);
  });
});

describeRoot('the journal on a full disk', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) {
      execFileSync('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    }
    dir = '';
  });

  it('keeps the steps and the finish of a running action it cannot write yet, never throws, and writes them once it can', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { ActionJournal } = await import('../../src/core/journal.js');
    dir = await mkdtemp(join(tmpdir(), 'ockle-journal-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    const told: string[] = [];
    const j = await ActionJournal.open(dir, { onTrouble: (m) => told.push(m) });
    const a = j.start({ kind: 'on', targets: ['a'], force: true, origin: 'api:test', reason: 'before the disk filled' });
    await fill(join(dir, 'filler'));
    // Steps until the journal's last page is full too: each step is kept; nothing throws.
    let n = 0;
    for (; n < 500 && !j.unwritable; n++) {
      j.step(a.id, { server: 'a', op: 'wait', ok: true, detail: `step ${n} `.padEnd(120, '.') });
      await new Promise((r) => setImmediate(r));
    }
    expect(j.unwritable?.code).toBe('OCKLE_JOURNAL_UNWRITABLE');
    const finished = j.finish(a.id, 'ok');
    expect(finished.status).toBe('ok'); // it did finish; the record waits for the disk
    expect(() => j.start({ kind: 'off', targets: ['a'], force: true, origin: 'api:test', reason: 'refused' })).toThrow(/^cannot record actions: no space left on /);
    expect(told[0]).toMatch(/^cannot record actions: no space left on /);
    await rm(join(dir, 'filler'));
    for (let i = 0; i < 60 && j.unwritable; i++) await new Promise((r) => setTimeout(r, 50));
    expect(j.unwritable).toBeNull();
    expect(told.at(-1)).toBe('the journal can be written again: actions are accepted');
    await j.close();
    const j2 = await ActionJournal.open(dir);
    expect(j2.get(a.id)!.status).toBe('ok');
    expect(j2.get(a.id)!.steps).toHaveLength(n);
    expect(j2.repairs).toEqual([]);
    expect(j2.corruptLines).toBe(0);
    await j2.close();
  }, 30_000);

  it('a compaction the disk cannot take leaves the journal whole, takes no space and refuses nothing; it compacts once there is room', async () => {
    const { mkdtemp, readdir, truncate } = await import('node:fs/promises');
    const { statSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { ActionJournal, JOURNAL_FILE } = await import('../../src/core/journal.js');
    dir = await mkdtemp(join(tmpdir(), 'ockle-journal-compact-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir]);
    const maxFileBytes = 60_000;
    const file = join(dir, JOURNAL_FILE);
    const told: string[] = [];
    const j = await ActionJournal.open(dir, { maxFileBytes, onTrouble: (m) => told.push(m) });
    const ids: string[] = [];
    /** One action of 30 steps (~4.5 kB); `beforeFinish` runs once its steps are on disk. */
    const action = async (beforeFinish?: () => Promise<void>): Promise<void> => {
      const a = j.start({ kind: 'on', targets: ['a'], force: true, origin: 'api:test', reason: `action ${ids.length}` });
      for (let i = 0; i < 30; i++) j.step(a.id, { server: 'a', op: 'wait', ok: true, detail: `step ${i} `.padEnd(120, '.') });
      await new Promise((r) => setImmediate(r));
      await beforeFinish?.();
      j.finish(a.id, 'ok');
      // A compaction runs in the background: its outcome is what is checked.
      await j.compacted();
      ids.push(a.id);
    };
    // Up to one action short of the size that makes a finish compact.
    while (statSync(file).size <= maxFileBytes - 6000) await action();
    // The disk fills, but for a few pages: the finish line fits, the compacted copy does not.
    await action(async () => {
      await fill(join(dir, 'filler'));
      const { size } = statSync(join(dir, 'filler'));
      await truncate(join(dir, 'filler'), size - 8192);
    });
    const grown = statSync(file).size;
    expect(grown).toBeGreaterThan(maxFileBytes);
    expect(await readdir(dir)).not.toContain(`${JOURNAL_FILE}.tmp`);
    expect(j.unwritable).toBeNull();
    expect(told).toEqual([]);
    // Still records: the next action is accepted and written.
    await action();
    expect(statSync(file).size).toBeGreaterThan(grown);
    // Space back: a later finish compacts (retried once the file grew by a quarter of its limit).
    await rm(join(dir, 'filler'));
    for (let i = 0; i < 20 && statSync(file).size > maxFileBytes; i++) await action();
    expect(statSync(file).size).toBeLessThan(maxFileBytes);
    await j.close();
    const j2 = await ActionJournal.open(dir, { maxFileBytes });
    expect(j2.corruptLines).toBe(0);
    expect(j2.repairs).toEqual([]);
    expect(j2.get(ids.at(-1)!)!.steps).toHaveLength(30);
    await j2.close();
  }, 30_000);
});
