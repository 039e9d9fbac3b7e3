/**
 * A power cut through Debian's NUT: upsd with dummy-ups on 127.0.0.1 feeds a real daemon's UPS
 * policy. The test rewrites the dummy UPS's .dev file (OL → OB → OB LB → OL) and asserts the
 * order of writes at the sim PDU and the journal; a 5 s flicker does nothing; upsd stopped
 * mid-cut starts nothing until it answers again; a wrong password is refused and shown nowhere;
 * and a primary upsmon waits for ockle to shut the lab down and log out before its shutdown.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import type { ActionRecord } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { makeLab, type Lab } from '../support/lab.js';
import { NUT_USERS, startNut, type NutPeer } from '../support/nut.js';
import { describePeer } from '../support/peers.js';
import { stageReached } from '../support/ups.js';

let lab: Lab | undefined;
let daemon: Daemon | undefined;
let nut: NutPeer | undefined;
afterEach(async () => {
  await daemon?.stop();
  await nut?.stop();
  await lab?.cleanup();
  daemon = undefined;
  nut = undefined;
  lab = undefined;
});

/** switch ← storage ← vm ← web; all on. Tiers: web 1, vm 2; storage at low battery; switch kept. */
async function nutLab(peer: NutPeer, policy: Record<string, string> = {}, password: string = NUT_USERS.secondary.password): Promise<Lab> {
  lab = await makeLab({
    switch: { outlet: 'pdu-1:1', noControls: true },
    storage: { outlet: 'pdu-1:2', deps: ['switch'] },
    vm: { outlet: 'pdu-1:3', deps: ['storage'], extra: 'shed_priority = 2' },
    web: { outlet: 'pdu-1:4', deps: ['vm'], extra: 'shed_priority = 1' },
  });
  const pdu = join(lab.configDir, 'devices', 'pdu-1.ini');
  await writeFile(pdu, (await readFile(pdu, 'utf8')).replace('initial = off', 'initial = on'));
  await mkdir(join(lab.configDir, 'ups'));
  const keys = { on_battery_delay: '2s', tier_interval: '0s', min_runtime: '0s', min_charge: '0', keep_on: 'switch', restore_delay: '1s', restore_min_charge: '0', ...policy };
  const quoted = `"${password.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  await writeFile(
    join(lab.configDir, 'ups', 'nut-1.ini'),
    [
      '[ups]',
      'type = nut',
      `host = ${peer.host}`,
      `port = ${peer.port}`,
      `ups = ${peer.ups}`,
      `username = ${NUT_USERS.secondary.user}`,
      `password = ${quoted}`,
      'poll_interval = 250ms',
      'timeout = 2s',
      'retries = 0',
      '',
      '[policy]',
      ...Object.entries(keys).map(([k, v]) => `${k} = ${v}`),
      '',
    ].join('\n'),
  );
  return lab;
}

const world = (d: Daemon): SimWorld => d.shared<SimWorld>('sim-world')!;
const writes = (d: Daemon) => world(d).writes('pdu-1').log.map((w) => `${w.action} ${w.outlet}`);
const upsRecords = (d: Daemon): ActionRecord[] => d.gateway.actions({ limit: 200 }).filter((a) => a.origin === 'ups:nut-1').reverse();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const stage = stageReached;

/** Waits until the daemon's view of the UPS satisfies `ok`. */
async function until(d: Daemon, ok: (s: ReturnType<Daemon['ups']['status']>) => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok(d.ups.status('nut-1'))) {
    if (Date.now() > deadline) throw new Error(`UPS never reached the expected state: ${JSON.stringify(d.ups.status('nut-1'))}`);
    await sleep(100);
  }
}

describePeer('UPS policy on Debian upsd + dummy-ups', ['upsd', 'upsc', 'upsmon'], () => {
  it('reads what upsc reads, and a 5 s flicker does nothing', async () => {
    nut = await startNut();
    daemon = await Daemon.start({ configDir: (await nutLab(nut, { on_battery_delay: '8s' })).configDir, log: silentLogger(), monitor: true });
    const d = daemon;
    await until(d, (s) => s.power === 'mains');
    const upsc = await nut.upsc();
    expect(d.ups.status('nut-1')).toMatchObject({
      chargePct: Number(upsc.get('battery.charge')),
      runtimeS: Number(upsc.get('battery.runtime')),
      loadPct: Number(upsc.get('ups.load')),
      inputVolts: Number(upsc.get('input.voltage')),
      flags: upsc.get('ups.status')!.split(' '),
    });
    // ockle is logged in as a secondary: upsd counts it (upsmon primary would wait for it).
    expect(await nut.clients()).toHaveLength(1);
    await nut.set({ 'ups.status': 'OB DISCHRG', 'battery.charge': '97' });
    await until(d, (s) => s.power === 'battery');
    await sleep(5000);
    await nut.set({ 'ups.status': 'OL CHRG' });
    await until(d, (s) => s.power === 'mains');
    await sleep(4000); // past when the 8 s delay would have ended
    expect(writes(d)).toEqual([]);
    expect(upsRecords(d)).toEqual([]);
  }, 60_000);

  it('OL → OB → OB LB → OL: tiers in dependency order, low battery keeps the switch, the restore brings back what was on', async () => {
    nut = await startNut();
    daemon = await Daemon.start({ configDir: (await nutLab(nut)).configDir, log: silentLogger(), monitor: true });
    const d = daemon;
    await until(d, (s) => s.power === 'mains');
    const t2 = stage(d, 'tier-2');
    await nut.set({ 'ups.status': 'OB DISCHRG', 'battery.charge': '80', 'battery.runtime': '1500' });
    await t2;
    expect(writes(d)).toEqual(['off 4', 'off 3']);
    const low = stage(d, 'low-battery');
    await nut.set({ 'ups.status': 'OB DISCHRG LB', 'battery.charge': '12', 'battery.runtime': '200' });
    await low;
    expect(writes(d)).toEqual(['off 4', 'off 3', 'off 2']);
    expect(d.gateway.server('switch').state).toBe('OK');
    const restore = stage(d, 'restore');
    const end = stage(d, 'end', ['info']);
    await nut.set({ 'ups.status': 'OL CHRG', 'battery.charge': '40', 'battery.runtime': '900' });
    expect((await restore).status).toBe('ok');
    await end;
    expect(writes(d)).toEqual(['off 4', 'off 3', 'off 2', 'on 2', 'on 3', 'on 4']);
    const recs = upsRecords(d);
    expect(recs.map((r) => `${r.kind} ${r.event!.stage} ${r.status}`)).toEqual([
      'ups start ok',
      'off tier-1 ok',
      'off tier-2 ok',
      'off low-battery ok',
      'ups mains-back ok',
      'on restore ok',
      'ups end ok',
    ]);
    expect(recs.find((r) => r.event?.stage === 'low-battery')!.reason).toMatch(/the UPS says its battery is low \(LB\)/);
  }, 90_000);

  it('upsd stopped mid-cut: the UPS is unknown and no stage starts; once upsd answers again the policy goes on', async () => {
    nut = await startNut();
    daemon = await Daemon.start({ configDir: (await nutLab(nut, { on_battery_delay: '3s' })).configDir, log: silentLogger(), monitor: true });
    const d = daemon;
    await until(d, (s) => s.power === 'mains');
    await nut.set({ 'ups.status': 'OB DISCHRG', 'battery.charge': '90' });
    await until(d, (s) => s.power === 'battery');
    await nut.stopUpsd('kill');
    await until(d, (s) => s.power === 'unknown');
    expect(d.ups.status('nut-1').alarms.join(' ')).toMatch(/source silent/);
    await sleep(4000); // past the on-battery delay, silent all along
    expect(writes(d)).toEqual([]);
    expect(upsRecords(d)).toEqual([]);
    const t1 = stage(d, 'tier-1');
    await nut.startUpsd(); // still on battery: the cut is real, and now it is seen
    await t1;
    expect(writes(d)).toEqual(['off 4']);
  }, 90_000);

  it('a wrong password: the UPS is unknown with upsd’s refusal, nothing happens, and the password is nowhere', async () => {
    nut = await startNut();
    const wrong = 'not-the-Password-9x';
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    daemon = await Daemon.start({ configDir: (await nutLab(nut, {}, wrong)).configDir, log: createLogger({ level: 'trace', destination: sink }), monitor: true });
    const d = daemon;
    await until(d, (s) => s.error !== null && s.error !== 'not read yet');
    const s = d.ups.status('nut-1');
    expect(s).toMatchObject({ power: 'unknown', stage: 'unknown' });
    expect(s.error).toMatch(/ACCESS-DENIED|denied/i);
    await nut.set({ 'ups.status': 'OB DISCHRG LB', 'battery.charge': '5' });
    await sleep(3000);
    expect(writes(d)).toEqual([]);
    expect(await nut.clients()).toHaveLength(0);
    const everything = lines.join('') + JSON.stringify(d.ups.list()) + JSON.stringify(d.config.view);
    expect(everything).not.toContain(wrong);
  }, 60_000);

  it('FSD from the primary upsmon: ockle shuts the lab down, then logs out, and only then does upsmon run its shutdown', async () => {
    nut = await startNut();
    daemon = await Daemon.start({ configDir: (await nutLab(nut, { on_battery_delay: '30s' })).configDir, log: silentLogger(), monitor: true });
    const d = daemon;
    await until(d, (s) => s.power === 'mains');
    const upsmon = await nut.startUpsmon({ hostsyncS: 40 });
    try {
      expect(await nut.clients()).toHaveLength(2);
      const low = stage(d, 'low-battery');
      const released = stage(d, 'release', ['info']);
      // The battery is low at once: upsmon primary raises FSD; ockle does not wait 30 s for it.
      await nut.set({ 'ups.status': 'OB DISCHRG LB', 'battery.charge': '6', 'battery.runtime': '60' });
      await low;
      await released;
      const shutdownAt = await upsmon.waitShutdown();
      const last = world(d).writes('pdu-1').log.at(-1)!;
      expect(writes(d).slice().sort()).toEqual(['off 2', 'off 3', 'off 4']);
      // Every write landed before upsmon's shutdown command ran, and upsmon did not give up waiting.
      expect(Date.parse(last.at)).toBeLessThan(shutdownAt);
      expect(upsmon.output()).not.toMatch(/Host sync timer expired/);
      expect(d.ups.status('nut-1').forcedShutdown || d.ups.status('nut-1').power === 'unknown').toBe(true);
      expect(upsRecords(d).find((r) => r.event?.stage === 'low-battery')!.reason).toMatch(/FSD|LB/);
    } finally {
      await upsmon.stop();
    }
  }, 90_000);
});
