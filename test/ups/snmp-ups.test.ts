/**
 * The `snmp` UPS source (UPS-MIB, RFC 1628) against a real UPS's recording
 * (../shared/ups/eaton-93e-80.snmprec, an Eaton 93E on mains with a full battery) served by the
 * test SNMP agent on 127.0.0.1. The test changes the battery objects the way a cut would, and a
 * real daemon's policy acts on them; the agent going silent is never a cut.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { UPS_MIB, upsMibDriver } from '../../drivers/ups-mib/index.js';
import type { SpecOf } from '../../drivers/types.js';
import { Secret } from '../../src/config/types.js';
import type { SimWorld } from '../../drivers/sim/world.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { makeDriverContext } from '../support/driver-context.js';
import { makeLab, type Lab } from '../support/lab.js';
import { describeShared } from '../support/peers.js';
import { stageReached } from '../support/ups.js';
import { loadRecording, T, TestAgent, type Value } from '../support/snmp-agent.js';

const sig = (): AbortSignal => AbortSignal.timeout(5000);
const int = (v: number): Value => ({ type: T.Integer, value: v });
const text = (v: Value | undefined): string => (Buffer.isBuffer(v?.value) ? v.value.toString() : String(v?.value));

describeShared('UPS-MIB source on a real Eaton 93E recording', 'ups', (dir) => {
  let agent: TestAgent;
  let recorded: ReturnType<typeof loadRecording>;
  beforeAll(async () => {
    recorded = loadRecording(join(dir, 'eaton-93e-80.snmprec'));
    agent = await new TestAgent({ data: new Map(recorded), read: ['public'] }).start();
  });
  afterAll(async () => agent?.stop());
  afterEach(() => {
    // Back to the recording as it was: on mains, battery normal, no alarm.
    for (const [oid, v] of recorded) agent.set(oid, v);
    for (const oid of [...agent.data.keys()]) if (!recorded.has(oid)) agent.data.delete(oid);
    agent.silent = false;
  });
  const source = () =>
    upsMibDriver.create(
      { host: '127.0.0.1', port: agent.port, version: '2c', community: new Secret('public'), auth_protocol: 'sha', priv_protocol: 'aes', request_timeout: 300 } as SpecOf<typeof upsMibDriver>,
      makeDriverContext({ id: 'eaton' }),
    );

  it('reads the recording as it is: on mains, the charge, runtime, load and input voltage the UPS reports', async () => {
    const ups = source();
    await ups.open(sig());
    const r = await ups.read(sig());
    // Expected values come from the recording itself, in the MIB's units.
    const load = [1, 2, 3].map((n) => agent.int(`${UPS_MIB.outputLoad}.${n}`)!);
    expect(r).toEqual({
      power: 'mains',
      lowBattery: false,
      forcedShutdown: false,
      chargePct: agent.int(UPS_MIB.chargeRemaining),
      runtimeS: agent.int(UPS_MIB.minutesRemaining)! * 60,
      loadPct: Math.max(...load),
      inputVolts: agent.int(UPS_MIB.inputVoltage1),
      flags: ['OL'],
      alarms: [],
    });
    expect(ups.info!().model).toBe(`${text(agent.get(UPS_MIB.manufacturer))} ${text(agent.get(UPS_MIB.model))}`);
    await ups.close();
  });

  it('a cut: output on battery, seconds on battery, a low battery, and the alarms named', async () => {
    const ups = source();
    await ups.open(sig());
    agent.set(UPS_MIB.outputSource, int(5));
    agent.set(UPS_MIB.secondsOnBattery, int(45));
    agent.set(UPS_MIB.chargeRemaining, int(71));
    agent.set(UPS_MIB.minutesRemaining, int(12));
    agent.set(UPS_MIB.alarmsPresent, { type: T.Gauge32, value: 1 });
    agent.set(`${UPS_MIB.alarmDescr}.1`, { type: T.Oid, value: '1.3.6.1.2.1.33.1.6.3.2' });
    expect(await ups.read(sig())).toMatchObject({ power: 'battery', lowBattery: false, chargePct: 71, runtimeS: 720, onBatteryS: 45, flags: ['OB', 'DISCHRG'], alarms: ['on battery'] });
    agent.set(UPS_MIB.batteryStatus, int(3));
    agent.set(UPS_MIB.alarmsPresent, { type: T.Gauge32, value: 2 });
    agent.set(`${UPS_MIB.alarmDescr}.2`, { type: T.Oid, value: '1.3.6.1.2.1.33.1.6.3.3' });
    expect(await ups.read(sig())).toMatchObject({ power: 'battery', lowBattery: true, flags: ['OB', 'DISCHRG', 'LB'], alarms: ['on battery', 'low battery'] });
    agent.set(UPS_MIB.outputSource, int(4));
    expect((await ups.read(sig())).power).toBe('bypass');
    await ups.close();
  });

  it('a silent agent is unreachable, not a cut; an agent without the UPS-MIB is refused at open', async () => {
    const ups = source();
    await ups.open(sig());
    agent.silent = true;
    await expect(ups.read(sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE' });
    agent.silent = false;
    agent.data.delete(UPS_MIB.outputSource);
    await expect(source().open(sig())).rejects.toThrow(/serves no UPS-MIB/);
    await ups.close();
  });

  describe_daemon();

  function describe_daemon(): void {
    let lab: Lab | undefined;
    let daemon: Daemon | undefined;
    afterEach(async () => {
      await daemon?.stop();
      await lab?.cleanup();
      daemon = undefined;
      lab = undefined;
    });
    const stage = (d: Daemon, name: string) => stageReached(d, name);

    it('under a daemon: the cut on the card sheds tier 1; the card going silent starts nothing more; mains back restores', async () => {
      lab = await makeLab({ switch: { outlet: 'pdu-1:1', noControls: true }, web: { outlet: 'pdu-1:2', deps: ['switch'], extra: 'shed_priority = 1' } });
      const pdu = join(lab.configDir, 'devices', 'pdu-1.ini');
      await writeFile(pdu, (await readFile(pdu, 'utf8')).replace('initial = off', 'initial = on'));
      await mkdir(join(lab.configDir, 'ups'));
      await writeFile(
        join(lab.configDir, 'ups', 'eaton.ini'),
        `[ups]\ntype = snmp\nhost = 127.0.0.1\nport = ${agent.port}\ncommunity = public\nrequest_timeout = 300ms\npoll_interval = 200ms\ntimeout = 1s\nretries = 0\n\n[policy]\non_battery_delay = 500ms\nmin_runtime = 0s\nmin_charge = 0\nrestore_delay = 300ms\nrestore_min_charge = 0\n`,
      );
      daemon = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), monitor: true });
      const d = daemon;
      const writes = () => d.shared<SimWorld>('sim-world')!.writes('pdu-1').log.map((w) => `${w.action} ${w.outlet}`);
      // A real UPS takes no drill: ockle never pretends it said something it did not.
      await expect(d.ups.simulate('eaton', { power: 'battery' })).rejects.toThrow(/is a real UPS \(type snmp\)/);
      const t1 = stage(d, 'tier-1');
      agent.set(UPS_MIB.outputSource, int(5));
      agent.set(UPS_MIB.chargeRemaining, int(88));
      await t1;
      expect(writes()).toEqual(['off 2']);
      agent.silent = true;
      for (let i = 0; i < 50 && d.ups.status('eaton').power !== 'unknown'; i++) await new Promise((r) => setTimeout(r, 100));
      expect(d.ups.status('eaton')).toMatchObject({ power: 'unknown', stage: 'unknown' });
      agent.silent = false;
      const restore = stage(d, 'restore');
      agent.set(UPS_MIB.outputSource, int(3));
      await restore;
      expect(writes()).toEqual(['off 2', 'on 2']);
      const recs = d.gateway.actions({ limit: 50 }).filter((a) => a.origin === 'ups:eaton');
      expect(recs.find((r) => r.event?.stage === 'start')!.reason).toMatch(/88 % charge/);
    }, 30_000);
  }
});
