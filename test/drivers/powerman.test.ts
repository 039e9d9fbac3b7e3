/**
 * The powerman device against Debian's powermand driving its vpcd virtual power controller
 * (test/support/powerman.ts), cross-checked with `pm`, powerman's own client. The writes are
 * counted where they land: the commands vpcd received.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { powermanDriver, type PowermanOutlets } from '../../drivers/powerman/index.js';
import type { SpecOf } from '../../drivers/types.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { makeDriverContext } from '../support/driver-context.js';
import { describePeer } from '../support/peers.js';
import { startPowermand, type Powermand } from '../support/powerman.js';
import { describeOutletDevice } from './outlet-contract.js';

type Spec = SpecOf<typeof powermanDriver>;
const sig = (): AbortSignal => new AbortController().signal;
const spec = (p: Powermand, over: Partial<Spec> = {}): Spec => ({ host: p.host, port: p.port, nodes: undefined, reset: false, request_timeout: 10_000, ...over });
const make = (p: Powermand, over: Partial<Spec> = {}): PowermanOutlets => powermanDriver.create(spec(p, over), makeDriverContext({ id: 'pm-1' })) as PowermanOutlets;

describePeer('powerman against Debian powermand + vpcd', ['powermand', 'vpcd', 'pm'], () => {
  let p: Powermand;
  const open: PowermanOutlets[] = [];
  beforeAll(async () => {
    p = await startPowermand();
  }, 20_000);
  afterAll(async () => {
    await p?.close();
  });
  afterEach(async () => {
    for (const d of open.splice(0)) await d.close();
  });
  const device = (over: Partial<Spec> = {}): PowermanOutlets => {
    const d = make(p, over);
    open.push(d);
    return d;
  };

  it('discovers the nodes as named outlets and reads all of them in one query, as pm -q does', async () => {
    const d = device();
    await d.open(sig());
    expect(d.outletCount).toBe(16);
    expect([...d.info().outletNames!.values()]).toEqual(p.nodes);
    expect(d.info()).toMatchObject({ model: expect.stringMatching(/^powerman \d/), details: { devices: 'vpc0 (vpc, connected)' } });
    const before = d.commands;
    const all = Array.from({ length: 16 }, (_, i) => i + 1);
    const got = await d.read(all, sig());
    expect(d.commands - before).toBe(1);
    for (const n of all) expect(got.get(n)).toBe(await p.pmQuery(p.nodes[n - 1]!));
    expect(await p.writes()).toEqual([]);
  });

  it('switches one plug on and off; pm -q agrees and vpcd saw exactly those commands; a cycle is left to the gateway', async () => {
    const d = device({ nodes: ['t5', 't6', 't7'] });
    await d.open(sig());
    expect(d.outletCount).toBe(3);
    const w0 = (await p.writes()).length;
    await d.switch(2, 'on', sig()); // t6
    expect(await p.pmQuery('t6')).toBe('on');
    expect((await d.read([1, 2, 3], sig())).get(2)).toBe('on');
    expect(await p.pmQuery('t5')).toBe('off');
    expect(d.caps.cycle).toBe(false);
    await expect(d.switch(2, 'cycle', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED' });
    await d.switch(2, 'off', sig());
    expect(await p.pmQuery('t6')).toBe('off');
    expect((await d.read([2], sig())).get(2)).toBe('off');
    expect((await p.writes()).slice(w0)).toEqual(['on 6', 'off 6']);
  });

  it('a switch made with pm is what ockle reads next', async () => {
    const d = device({ nodes: ['t9'] });
    await d.open(sig());
    expect((await d.read([1], sig())).get(1)).toBe('off');
    expect((await p.pm(['-1', 't9'])).code).toBe(0);
    expect((await d.read([1], sig())).get(1)).toBe('on');
    expect((await p.pm(['-0', 't9'])).code).toBe(0);
    expect((await d.read([1], sig())).get(1)).toBe('off');
  });

  it('a node powermand does not have is refused at open with the names it has, and nothing is sent', async () => {
    const w0 = (await p.writes()).length;
    const d = device({ nodes: ['t1', 'nope-3'] });
    const err = await d.open(sig()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/no node "nope-3" \(it has t0, t1/), hint: expect.stringMatching(/pm -l/) });
    await expect(d.switch(2, 'on', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/no such node.*nope-3/) });
    expect((await p.writes()).length).toBe(w0);
  });

  it('reset is refused before anything is sent unless enabled', async () => {
    const d = device({ nodes: ['t2'] });
    await d.open(sig());
    const w0 = (await p.writes()).length;
    expect(d.caps.reset).toBe(false);
    await expect(d.switch(1, 'reset', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/reset is not enabled/) });
    expect((await p.writes()).length).toBe(w0);
  });

  it('powermand stopped: reads fail as unreachable, nothing is switched; it reconnects once powermand is back', async () => {
    const d = device({ nodes: ['t3'] });
    await d.open(sig());
    expect((await d.read([1], sig())).get(1)).toBe('off');
    await p.stop();
    await expect(d.read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', message: expect.stringMatching(/connection (closed|refused)/), hint: expect.stringMatching(/powermand runs/) });
    await expect(d.switch(1, 'on', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE' });
    await p.start();
    expect((await d.read([1], sig())).get(1)).toBe('off');
    expect(await p.pmQuery('t3')).toBe('off');
    expect(await p.writes()).toEqual([]);
  });

  it('powermand frozen: no answer within request_timeout is a timeout; thawed, ockle reads what powermand did', async () => {
    const d = device({ nodes: ['t4'], request_timeout: 400 });
    await d.open(sig());
    const w0 = (await p.writes()).length;
    p.pause();
    try {
      await expect(d.switch(1, 'on', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_TIMEOUT', message: expect.stringMatching(/no answer to "on t4" within 400 ms/) });
      await expect(d.read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_TIMEOUT' });
    } finally {
      p.resume();
    }
    // The "on" was written to the socket before powermand froze: it may run once powermand
    // thaws, which is why the gateway re-reads after a failed write instead of repeating it.
    const after = (await d.read([1], sig())).get(1);
    expect(after).toBe(await p.pmQuery('t4'));
    expect((await p.writes()).slice(w0).length).toBeLessThanOrEqual(1);
  });

  it('a power controller behind powermand that is down: its plugs read unknown, the others true; a switch on it fails with powermand\'s reason', async () => {
    const pd = await startPowermand({ deadDevice: true });
    const d = make(pd, { nodes: ['t1', 'd0', 'd1'] });
    try {
      await d.open(sig());
      expect(d.info().details).toMatchObject({ devices: expect.stringMatching(/dead0 \(vpc, disconnected\)/) });
      const got = await d.read([1, 2, 3], sig());
      expect([...got.values()]).toEqual([await pd.pmQuery('t1'), 'unknown', 'unknown']);
      await expect(d.switch(3, 'on', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REPLY', message: expect.stringMatching(/"on d1" answered 210 .*dead0/) });
      expect(await pd.writes()).toEqual([]);
    } finally {
      await d.close();
      await pd.close();
    }
  }, 30_000);

  describe('contract', () => {
    describeOutletDevice('powerman (powermand + vpcd)', async () => {
      const pd = await startPowermand();
      // Outlet 1 starts on, as the contract's off-then-on expects to change something.
      await pd.pm(['-1', 't0']);
      const w0 = (await pd.writes()).length;
      const d = make(pd, { nodes: ['t0', 't1'] });
      return {
        device: d,
        peer: { power: (n) => pd.pmQuery(`t${n - 1}`), writes: async () => (await pd.writes()).length - w0 },
        close: () => pd.close(),
      };
    });
  });
});

describePeer('powerman under the daemon', ['powermand', 'vpcd', 'pm'], () => {
  let root: string | undefined;
  let daemon: Daemon | undefined;
  let pd: Powermand | undefined;
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await pd?.close();
    pd = undefined;
    if (root) await rm(root, { recursive: true, force: true });
    root = undefined;
  });

  it('start and restart write nothing; a cycle is one journaled action, off and on each confirmed, that vpcd sees; pm -q agrees', async () => {
    pd = await startPowermand();
    await pd.pm(['-1', 't1']);
    root = await mkdtemp(join(tmpdir(), 'ockle-powerman-lab-'));
    const dir = join(root, 'config');
    await mkdir(join(dir, 'devices'), { recursive: true });
    await mkdir(join(dir, 'servers'), { recursive: true });
    await writeFile(join(dir, 'ockle.ini'), '[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n');
    await writeFile(join(dir, 'devices', 'pm.ini'), `[device]\ntype = powerman\nhost = 127.0.0.1\nport = ${pd.port}\nnodes = t0, t1, t2\ncycle_delay = 200ms\n`);
    await writeFile(join(dir, 'servers', 'node1.ini'), '[server]\noutlets = power\n[power]\ndevice = pm\noutlet = 2\n');
    await writeFile(join(dir, 'servers', 'node2.ini'), '[server]\noutlets = power\n[power]\ndevice = pm\noutlet = 3\n');
    const w0 = (await pd.writes()).length;

    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    const gw = daemon.gateway;
    expect(gw.server('node1').outlets[0]).toMatchObject({ power: 'on', readBack: 'real' });
    expect(gw.server('node2').outlets[0]).toMatchObject({ power: 'off', readBack: 'real' });
    expect(gw.devices().find((d) => d.id === 'pm')).toMatchObject({ reachable: true });
    expect((await pd.writes()).length).toBe(w0);

    const rec = await gw.waitFor(gw.request({ kind: 'cycle', targets: ['node1'], force: true, origin: 'api:test', reason: 'powerman cycle' }).id);
    expect(rec).toMatchObject({ status: 'ok', origin: 'api:test', reason: 'powerman cycle' });
    expect((await pd.writes()).slice(w0)).toEqual(['off 1', 'on 1']);
    expect(await pd.pmQuery('t1')).toBe('on');

    await daemon.stop();
    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    expect(daemon.gateway.server('node1').outlets[0]).toMatchObject({ power: 'on' });
    expect((await pd.writes()).slice(w0)).toEqual(['off 1', 'on 1']);
  }, 30_000);
});
