import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ActionJournal, JOURNAL_FILE } from '../../src/core/journal.js';

const req = (targets: string[], kind: 'on' | 'off' = 'on') => ({ kind, targets, force: true, origin: 'api:alice', reason: 'test' });

describe('ActionJournal', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ockle-journal-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every action, step and result across a restart, in order', async () => {
    const j = await ActionJournal.open(dir);
    const a = j.start(req(['web-1']));
    j.step(a.id, { server: 'web-1', device: 'pdu-b', outlet: 4, op: 'switch', ok: true, detail: 'on sent' });
    j.finish(a.id, 'ok');
    const b = j.start(req(['db-1'], 'off'));
    j.finish(b.id, 'failed', { code: 'OCKLE_DEVICE_REFUSED', message: 'still on' });
    const before = j.list();
    await j.close();
    const j2 = await ActionJournal.open(dir);
    expect(j2.list()).toEqual(before);
    expect(j2.list().map((x) => x.id)).toEqual([b.id, a.id]);
    expect(j2.get(a.id)!.steps[0]).toMatchObject({ op: 'switch', outlet: 4 });
    expect(j2.get(b.id)!.error?.code).toBe('OCKLE_DEVICE_REFUSED');
    expect(j2.interruptedOnOpen).toEqual([]);
    await j2.close();
  });

  it('marks an action the previous process left unfinished as interrupted', async () => {
    const j = await ActionJournal.open(dir);
    const a = j.start(req(['vm-1']));
    await j.close(); // the daemon died here
    const j2 = await ActionJournal.open(dir);
    expect(j2.interruptedOnOpen.map((x) => x.id)).toEqual([a.id]);
    expect(j2.get(a.id)).toMatchObject({ status: 'interrupted', error: { code: 'OCKLE_OPERATION_ABORTED' } });
    await j2.close();
    const j3 = await ActionJournal.open(dir);
    expect(j3.interruptedOnOpen).toEqual([]);
    expect(j3.get(a.id)!.status).toBe('interrupted');
    await j3.close();
  });

  it('skips a torn last line instead of failing to open', async () => {
    const j = await ActionJournal.open(dir);
    const a = j.start(req(['vm-1']));
    j.finish(a.id, 'ok');
    await j.close();
    await appendFile(join(dir, JOURNAL_FILE), '{"t":"start","action":{"id":"a');
    const j2 = await ActionJournal.open(dir);
    expect(j2.corruptLines).toBe(1);
    expect(j2.get(a.id)!.status).toBe('ok');
    const c = j2.start(req(['vm-2']));
    expect(j2.get(c.id)!.status).toBe('running');
    await j2.close();
  });

  it('gives unique, time-sortable ids, also across a restart in the same millisecond', async () => {
    const now = () => new Date('2026-11-24T10:00:00Z');
    const j = await ActionJournal.open(dir, { now });
    const ids = [j.start(req(['a'])).id, j.start(req(['b'])).id];
    await j.close();
    const j2 = await ActionJournal.open(dir, { now });
    ids.push(j2.start(req(['c'])).id);
    expect(new Set(ids).size).toBe(3);
    expect([...ids].sort()).toEqual(ids);
    await j2.close();
  });

  it('filters by server and status, newest first, with a limit', async () => {
    const j = await ActionJournal.open(dir);
    for (const t of ['a', 'b', 'a', 'c', 'a']) j.finish(j.start(req([t])).id, t === 'c' ? 'failed' : 'ok');
    expect(j.list({ server: 'a' })).toHaveLength(3);
    expect(j.list({ status: 'failed' }).map((x) => x.targets)).toEqual([['c']]);
    expect(j.list({ limit: 2 }).map((x) => x.targets[0])).toEqual(['a', 'c']);
    await j.close();
  });

  it('compacts the file past its size limit, keeping the newest actions', async () => {
    const j = await ActionJournal.open(dir, { maxInMemory: 5, maxFileBytes: 2000 });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const a = j.start(req([`s${i}`]));
      j.finish(a.id, 'ok');
      ids.push(a.id);
    }
    await j.close();
    const size = (await readFile(join(dir, JOURNAL_FILE), 'utf8')).length;
    expect(size).toBeLessThan(4000);
    const j2 = await ActionJournal.open(dir, { maxInMemory: 5 });
    expect(j2.list().map((a) => a.id)).toEqual(ids.slice(-5).reverse());
    expect(j2.list().every((a) => a.status === 'ok')).toBe(true);
    await j2.close();
  });
});
