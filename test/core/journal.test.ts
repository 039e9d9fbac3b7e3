import { readdirSync, readFileSync, statSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

  it('writes the steps of one turn together at the end of the turn, in order, and always before the finish', async () => {
    const j = await ActionJournal.open(dir);
    const file = join(dir, JOURNAL_FILE);
    const a = j.start(req(['web-1']));
    // Read synchronously: an asynchronous read would let the turn end before it looks.
    const lines = (): { t: string; step?: { outlet: number } }[] =>
      readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { t: string; step?: { outlet: number } });
    // 1. Steps of one turn are not on disk yet (the start is: it was synced).
    for (let n = 1; n <= 5; n++) j.step(a.id, { server: 'web-1', device: 'pdu-b', outlet: n, op: 'switch', ok: true, detail: `outlet ${n} "quoted" \\ sent` });
    expect(lines().map((l) => l.t)).toEqual(['start']);
    // 2. After the turn, all of them, in order.
    await new Promise((r) => setImmediate(r));
    expect(lines().map((l) => l.step?.outlet ?? l.t)).toEqual(['start', 1, 2, 3, 4, 5]);
    // 3. A finish in the same turn as steps writes them first (the file keeps the order).
    j.step(a.id, { server: 'web-1', op: 'up', ok: true, detail: 'serves', ms: 20 });
    j.finish(a.id, 'ok');
    expect(lines().map((l) => l.t)).toEqual(['start', 'step', 'step', 'step', 'step', 'step', 'step', 'finish']);
    // Every line is exactly what JSON.stringify makes of it, and reads back as it was journaled.
    for (const raw of (await readFile(file, 'utf8')).trim().split('\n')) expect(raw).toBe(JSON.stringify(JSON.parse(raw)));
    const before = j.get(a.id);
    await j.close();
    const j2 = await ActionJournal.open(dir);
    expect(j2.get(a.id)).toEqual(before);
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

  it('cuts off a torn last record on open and says whose it was; the next record and restart are whole', async () => {
    const j = await ActionJournal.open(dir);
    const a = j.start(req(['vm-1']));
    j.finish(a.id, 'ok');
    const b = j.start(req(['vm-2']));
    await j.close();
    const torn = `{"t":"finish","id":"${b.id}","status":"o`;
    await appendFile(join(dir, JOURNAL_FILE), torn);
    const j2 = await ActionJournal.open(dir);
    expect(j2.repairs).toEqual([
      `the journal's last record was torn (a crash or power loss while it was written): ${Buffer.byteLength(torn)} bytes dropped, of action ${b.id}`,
    ]);
    expect(j2.corruptLines).toBe(0);
    expect(j2.get(a.id)!.status).toBe('ok');
    expect(j2.interruptedOnOpen.map((x) => x.id)).toEqual([b.id]);
    const c = j2.start(req(['vm-3']));
    j2.finish(c.id, 'ok');
    await j2.close();
    // Nothing was glued onto the fragment: the next open finds every record, b interrupted once.
    const j3 = await ActionJournal.open(dir);
    expect(j3.repairs).toEqual([]);
    expect(j3.corruptLines).toBe(0);
    expect(j3.interruptedOnOpen).toEqual([]);
    expect(j3.get(b.id)!.status).toBe('interrupted');
    expect(j3.get(c.id)!.status).toBe('ok');
    expect((await readFile(join(dir, JOURNAL_FILE), 'utf8')).endsWith('\n')).toBe(true);
    await j3.close();
  });

  it('a torn start record: the fragment is dropped, the action it began is named, the rest stays', async () => {
    const j = await ActionJournal.open(dir);
    const a = j.start(req(['vm-1']));
    j.finish(a.id, 'ok');
    await j.close();
    await appendFile(join(dir, JOURNAL_FILE), '{"t":"start","action":{"id":"a1b2c3d4e500","kind":"on","tar');
    const j2 = await ActionJournal.open(dir);
    expect(j2.repairs[0]).toMatch(/bytes dropped, of action a1b2c3d4e500$/);
    expect(j2.list().map((x) => x.id)).toEqual([a.id]);
    await j2.close();
  });

  it('ids keep growing when the clock steps back an hour, and after a journal with an id from the future', async () => {
    let t = Date.parse('2026-11-24T10:00:00Z');
    const j = await ActionJournal.open(dir, { now: () => new Date(t) });
    const first = j.start(req(['a']));
    t -= 3_600_000; // NTP steps the clock back
    const second = j.start(req(['b']));
    const third = j.start(req(['c']));
    expect([first.id, second.id, third.id]).toEqual([first.id, second.id, third.id].sort());
    expect(new Set([first.id, second.id, third.id]).size).toBe(3);
    await j.close();
    // A restart with the clock still behind the journal (an id "from the future"): same rule.
    const j2 = await ActionJournal.open(dir, { now: () => new Date(t - 86_400_000) });
    const fourth = j2.start(req(['d']));
    expect(fourth.id > third.id).toBe(true);
    expect(fourth.requestedAt).toBe(new Date(t - 86_400_000).toISOString()); // the wall clock is still what it says
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
      // A compaction runs in the background (the finish does not wait for it).
      await j.compacted();
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

  it('compacts in the background: the finish does not wait, what is journaled meanwhile lands in the new file, and a crash at any moment finds a whole journal', async () => {
    const file = join(dir, JOURNAL_FILE);
    const j = await ActionJournal.open(dir, { maxFileBytes: 40_000 });
    const sequence = (n: number): string => {
      const a = j.start(req([`s${n}`]));
      for (let i = 0; i < 20; i++) j.step(a.id, { server: `s${n}`, op: 'wait', ok: true, detail: `step ${i} of action ${n} `.padEnd(100, '.') });
      j.finish(a.id, 'ok');
      return a.id;
    };
    const ids: string[] = [];
    while (statSync(file).size <= 40_000) ids.push(sequence(ids.length));
    // That finish started a compaction; it has not replaced the file yet.
    const inode = statSync(file).ino;
    const crashCopies: string[] = [];
    // Journaled while it runs, turn after turn: each a whole action, as a crash would find the file.
    let turns = 0;
    for (;;) {
      ids.push(sequence(ids.length));
      crashCopies.push(readFileSync(file, 'utf8'));
      await new Promise((r) => setImmediate(r));
      turns++;
      if (statSync(file).ino !== inode) break;
      expect(turns).toBeLessThan(1000);
    }
    expect(turns).toBeGreaterThan(0);
    await j.compacted();
    // Replaced, smaller, and every action is there whole: the held ones, and those of the meantime.
    expect(statSync(file).size).toBeLessThan(40_000);
    await j.close();
    expect(readdirSync(dir)).toEqual([JOURNAL_FILE]);
    const j2 = await ActionJournal.open(dir, { maxFileBytes: 40_000 });
    expect(j2.corruptLines).toBe(0);
    const held = j2.list({ limit: 1000 });
    expect(held.map((a) => a.id)).toEqual(ids.slice(-held.length).reverse());
    expect(held.length).toBeGreaterThan(turns);
    // Old ones may have lost their steps to the size limit (and say so); the newest is whole.
    for (const a of held) expect([a.status, a.steps.length + (a.stepsDropped ?? 0)]).toEqual(['ok', 20]);
    expect(held[0]!.steps).toHaveLength(20);
    await j2.close();
    // The file as a crash mid-compaction left it (the old one, appended to): whole, with every action up to then.
    for (const [k, text] of crashCopies.entries()) {
      const crashDir = await mkdtemp(join(tmpdir(), 'ockle-journal-crash-'));
      try {
        await writeFile(join(crashDir, JOURNAL_FILE), text);
        const j3 = await ActionJournal.open(crashDir, { maxFileBytes: 40_000 });
        expect(j3.corruptLines).toBe(0);
        expect(j3.interruptedOnOpen).toEqual([]);
        expect(j3.list({ limit: 1 })[0]!.id).toBe(ids[ids.length - crashCopies.length + k]);
        await j3.close();
      } finally {
        await rm(crashDir, { recursive: true, force: true });
      }
    }
  });

  it('a daemon stopped during a compaction finishes it before it closes: a whole, compacted file and no copy left', async () => {
    const file = join(dir, JOURNAL_FILE);
    const j = await ActionJournal.open(dir, { maxFileBytes: 20_000 });
    const ids: string[] = [];
    while (statSync(file).size <= 20_000) {
      const a = j.start(req([`s${ids.length}`]));
      for (let i = 0; i < 10; i++) j.step(a.id, { op: 'wait', ok: true, detail: `step ${i} `.padEnd(100, '.') });
      j.finish(a.id, 'ok');
      ids.push(a.id);
    }
    const inode = statSync(file).ino;
    await j.close();
    expect(statSync(file).ino).not.toBe(inode);
    expect(statSync(file).size).toBeLessThan(20_000);
    expect(readdirSync(dir)).toEqual([JOURNAL_FILE]);
    const j2 = await ActionJournal.open(dir);
    expect(j2.corruptLines).toBe(0);
    expect(j2.list({ limit: 1 })[0]!.id).toBe(ids.at(-1));
    await j2.close();
  });

  it('holds the open power event of each source whatever else it drops (by count or size, and after a compaction), and lets it go once it ended', async () => {
    const j = await ActionJournal.open(dir, { maxInMemory: 5, maxFileBytes: 4000 });
    const note = (stage: string, id = 'e1', source = 'ups:ups-1') => {
      const a = j.start({ kind: 'ups', targets: ['web-1'], force: false, origin: source, reason: stage, event: { source, id, cut: 1, stage } });
      j.finish(a.id, 'ok');
      return a.id;
    };
    const busy = (n: number) => {
      for (let i = 0; i < n; i++) {
        const a = j.start(req([`s${i}`]));
        for (let k = 0; k < 5; k++) j.step(a.id, { server: `s${i}`, op: 'switch', ok: true, detail: 'x'.repeat(60) });
        j.finish(a.id, 'ok');
      }
    };
    const old = note('start', 'e0');
    note('end', 'e0');
    const begun = note('start');
    busy(40);
    const tier = note('tier-1');
    busy(40);
    // The open event's records are held; the ended one is gone, as are the old busy actions.
    expect(j.get(begun)).toBeDefined();
    expect(j.get(tier)).toBeDefined();
    expect(j.get(old)).toBeUndefined();
    expect(j.list({ source: 'ups:ups-1', limit: 10 }).map((a) => a.event?.stage)).toEqual(['tier-1', 'start']);
    await j.close();
    // Read back (the file was compacted on the way): still there.
    const j2 = await ActionJournal.open(dir, { maxInMemory: 5, maxFileBytes: 4000 });
    expect(j2.get(begun)?.event?.stage).toBe('start');
    expect(j2.list({ limit: 100 }).length).toBeLessThanOrEqual(5 + 2);
    await j2.close();
    const j3 = await ActionJournal.open(dir, { maxInMemory: 5, maxFileBytes: 4000 });
    const end = j3.start({ kind: 'ups', targets: [], force: false, origin: 'ups:ups-1', reason: 'end', event: { source: 'ups:ups-1', id: 'e1', cut: 1, stage: 'end' } });
    j3.finish(end.id, 'ok');
    for (let i = 0; i < 10; i++) j3.finish(j3.start(req([`t${i}`])).id, 'ok');
    expect(j3.get(begun)).toBeUndefined();
    await j3.close();
  });

  it("keeps each server's newest learned boot time through trims, compactions and restarts, whatever else it drops", async () => {
    const open = () => ActionJournal.open(dir, { maxInMemory: 5, maxFileBytes: 4000 });
    const j = await open();
    const boot = (server: string, ms: number) => {
      const a = j.start(req([server]));
      j.step(a.id, { server, op: 'up', ok: true, detail: `${server} serves`, ms });
      j.finish(a.id, 'ok');
    };
    boot('web-1', 30_000);
    boot('db-1', 90_000);
    boot('web-1', 28_000); // newer: wins
    for (let i = 0; i < 60; i++) j.finish(j.start(req([`s${i}`])).id, 'ok');
    // The records that taught them are long gone (count 5, and compacted past 4000 bytes).
    expect(j.list({ limit: 100, server: 'web-1' })).toEqual([]);
    expect(Object.fromEntries(j.learnedBoots())).toEqual({ 'web-1': 28_000, 'db-1': 90_000 });
    await j.close();
    const j2 = await open();
    expect(Object.fromEntries(j2.learnedBoots())).toEqual({ 'web-1': 28_000, 'db-1': 90_000 });
    // Learned again after the compaction wrote them: the step appended later wins on reopen.
    const a = j2.start(req(['db-1']));
    j2.step(a.id, { server: 'db-1', op: 'up', ok: true, detail: 'db-1 serves', ms: 85_000 });
    j2.finish(a.id, 'ok');
    await j2.close();
    const j3 = await open();
    expect(j3.learnedBoots().get('db-1')).toBe(85_000);
    await j3.close();
  });

  it("keeps each server's last finished action: the servers a sequence worked on, a forced action's targets, no notes", async () => {
    const open = () => ActionJournal.open(dir, { maxInMemory: 3, maxFileBytes: 3000 });
    const j = await open();
    const on = j.start({ kind: 'on', targets: ['app'], force: false, origin: 'api:alice', reason: 'test' });
    // The sequence brought base up for app, and gave up on db after max_attempts.
    j.finish(on.id, 'failed', { code: 'OCKLE_SEQUENCE_START_FAILED', message: 'db' }, { base: 'ok', app: 'ok', db: 'permanent' });
    j.finish(j.start({ kind: 'off', targets: ['web'], force: true, origin: 'api:alice', reason: 'test' }).id, 'ok');
    j.finish(j.start({ kind: 'ups', targets: ['base', 'app'], force: false, origin: 'ups:ups-1', reason: 'note' }).id, 'ok');
    j.finish(j.start({ kind: 'off', targets: ['base'], force: false, origin: 'api:alice', reason: 'queued' }).id, 'cancelled', undefined, {});
    // Named, but never reached (its dependency failed first): it has no last action, before or after a compaction.
    j.finish(j.start({ kind: 'on', targets: ['blocked'], force: false, origin: 'api:alice', reason: 'test' }).id, 'failed', undefined, { dep: 'permanent' });
    const want = {
      base: { kind: 'on', force: false, result: 'ok' },
      app: { kind: 'on', force: false, result: 'ok' },
      db: { kind: 'on', force: false, result: 'failed', permanent: true },
      web: { kind: 'off', force: true, result: 'ok' },
      dep: { kind: 'on', force: false, result: 'failed', permanent: true },
    };
    expect(Object.fromEntries(j.lastActions())).toEqual(want);
    for (let i = 0; i < 40; i++) j.finish(j.start(req([`s${i}`])).id, 'ok'); // compacted, the records gone
    await j.close();
    const j2 = await open();
    const back = Object.fromEntries(j2.lastActions());
    expect({ base: back.base, app: back.app, db: back.db, web: back.web, dep: back.dep }).toEqual(want);
    expect(back.blocked).toBeUndefined();
    expect(j2.list({ limit: 100, server: 'app' })).toEqual([]);
    await j2.close();
    // A hand-edited line gives no server a state nobody decided (a `last` line is the whole map
    // at a compaction: what it does not say well, nobody knows).
    await appendFile(join(dir, JOURNAL_FILE), JSON.stringify({ t: 'last', last: { base: null, web: { kind: 'on', force: false, result: 'maybe' }, db: want.db, x: { kind: 'on' } } }) + '\n');
    const j3 = await open();
    expect(Object.fromEntries(j3.lastActions())).toEqual({ db: want.db });
    await j3.close();
  });

  it('an action a crash interrupted: the servers its steps reached are interrupted, those an on proved up are up', async () => {
    const j = await ActionJournal.open(dir);
    const on = j.start({ kind: 'on', targets: ['web'], force: false, origin: 'api:alice', reason: 'test' });
    j.step(on.id, { server: 'db', op: 'up', ok: true, detail: 'db serves', ms: 900 });
    j.step(on.id, { server: 'web', device: 'pdu-1', outlet: 2, op: 'switch', ok: true, detail: 'on sent' });
    await new Promise((r) => setImmediate(r)); // the steps are written; then the process dies
    const j2 = await ActionJournal.open(dir);
    expect(j2.interruptedOnOpen.map((a) => a.id)).toEqual([on.id]);
    expect(Object.fromEntries(j2.lastActions())).toEqual({
      db: { kind: 'on', force: false, result: 'ok' },
      web: { kind: 'on', force: false, result: 'interrupted' },
    });
    await j2.close();
    await j.close();
  });

  it('holds and writes a bounded size: old actions keep their failures and learned boot times, running and just-ended ones stay whole, and compactions are not repeated at every finish', async () => {
    const maxFileBytes = 200_000;
    const j = await ActionJournal.open(dir, { maxFileBytes });
    const file = join(dir, JOURNAL_FILE);
    const servers = Array.from({ length: 40 }, (_, i) => `s${i}`);
    /** One sequenced on of 40 servers (~20 kB of lines): a switch, a confirm and an up each, and one failure. */
    const sequence = (id: string, run: number): void => {
      for (const [i, n] of servers.entries()) {
        j.step(id, { server: n, device: 'pdu-a', outlet: i + 1, op: 'switch', ok: true, detail: `on sent to pdu-a outlet ${i + 1}` });
        j.step(id, { server: n, device: 'pdu-a', outlet: i + 1, op: 'confirm', ok: true, detail: `outlet ${i + 1} reads on` });
        j.step(id, { server: n, op: 'up', ok: true, detail: `${n} serves after 20.0 s`, ms: 20_000 + run * 100 + i });
      }
      j.step(id, { server: 's0', op: 'failed', ok: false, detail: `attempt 1 of 3: run ${run}` });
    };
    // A long action under way the whole time (a UPS event's stage, a slow shutdown).
    const long = j.start(req(['slow']));
    let inode = statSync(file).ino;
    let compactions = 0;
    let largestFile = 0;
    const ids: string[] = [];
    for (let run = 0; run < 60; run++) {
      j.step(long.id, { server: 'slow', op: 'wait', ok: true, detail: `still waiting (${run})` });
      const a = j.start(req(servers));
      sequence(a.id, run);
      await new Promise((r) => setImmediate(r));
      j.finish(a.id, 'ok');
      await j.compacted();
      ids.push(a.id);
      if (statSync(file).ino !== inode) compactions++;
      inode = statSync(file).ino;
      largestFile = Math.max(largestFile, statSync(file).size);
    }
    // Held: about half of maxFileBytes, plus what is never trimmed (the running and newest actions).
    const held = JSON.stringify(j.list({ limit: 1000 })).length;
    expect(held).toBeLessThan(maxFileBytes);
    // The file: at most maxFileBytes and one action's lines; rewritten about once per half of it.
    expect(largestFile).toBeLessThan(maxFileBytes + 30_000);
    expect(compactions).toBeGreaterThan(3);
    expect(compactions).toBeLessThan(20);
    const newest = j.get(ids.at(-1)!)!;
    expect(newest.steps).toHaveLength(121);
    expect(newest.stepsDropped).toBeUndefined();
    expect(j.get(long.id)!.steps).toHaveLength(60);
    const old = j.list({ limit: 1000 }).filter((a) => a.stepsDropped !== undefined);
    expect(old.length).toBeGreaterThan(0);
    for (const a of old) {
      expect(a.stepsDropped).toBe(80);
      expect(a.steps.filter((st) => st.op === 'up' && st.ms !== undefined)).toHaveLength(40);
      expect(a.steps.filter((st) => !st.ok)).toHaveLength(1);
    }
    j.finish(long.id, 'ok');
    // The long action just ended: shown whole, though it is the oldest.
    expect(j.get(long.id)!.steps).toHaveLength(60);
    await j.close();
    // Reopened: the same records, the dropped counts and the learned boot times with them.
    const j2 = await ActionJournal.open(dir, { maxFileBytes });
    const back = j2.list({ limit: 1000 });
    // (Re-read from the file, which holds what was appended since its last compaction, the
    // oldest records kept may differ by one or two: the newest are the same.)
    const before = j.list({ limit: 1000 }).map((a) => a.id);
    expect(back.map((a) => a.id)).toEqual(expect.arrayContaining([long.id, ...before.slice(0, 5)]));
    expect(j2.get(long.id)!.steps).toHaveLength(60);
    expect(Math.abs(back.length - before.length)).toBeLessThanOrEqual(2);
    expect(JSON.stringify(back).length).toBeLessThan(maxFileBytes);
    const trimmed = back.filter((a) => a.stepsDropped !== undefined);
    expect(trimmed.length).toBeGreaterThan(0);
    for (const a of trimmed) {
      expect(a.stepsDropped).toBe(80);
      expect(a.steps.find((st) => st.op === 'up' && st.server === 's0')?.ms).toBeGreaterThanOrEqual(20_000);
      expect(a.steps.filter((st) => !st.ok)).toHaveLength(1);
    }
    await j2.close();
  });
});
