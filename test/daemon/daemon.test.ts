/**
 * The daemon on the real demo lab (sim hardware): adoption without switching, clean stops,
 * forced actions with read-back, reload rules, unreachable devices.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { Daemon } from '../../src/daemon.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';

const OUTLETS = { 'pdu-a': 8, 'pdu-b': 8, 'relay-1': 4 } as const;

/** The persisted sim hardware of one device: what a real PDU would hold, independent of the daemon. */
async function simFile(stateDir: string, device: string): Promise<{ writes: number; outlets: unknown }> {
  const raw = JSON.parse(await readFile(join(stateDir, 'sim', `${device}.json`), 'utf8')) as Record<string, unknown>;
  return { writes: Number(raw.writes ?? (raw.writeCount as number)), outlets: raw.outlets };
}

async function start(demo: DemoCopy): Promise<Daemon> {
  return Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false });
}

describe('daemon on the demo lab', () => {
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

  it('adopts the real outlet state on start without switching', async () => {
    // 1. First run: every outlet of the sim hardware starts on (initial = on); web-1 and
    //    backup are switched off, so the hardware now holds a state no default could guess.
    daemon = await start(demo);
    for (const target of ['web-1', 'backup'])
      await daemon.gateway.waitFor(
        daemon.gateway.request({ kind: 'off', targets: [target], force: true, origin: 'api:test', reason: 'setup' }).id,
      );
    await daemon.stop();
    const before = await Promise.all(Object.keys(OUTLETS).map((d) => simFile(demo.stateDir, d)));
    // 2. Second run: ockle reads and adopts what the hardware holds.
    daemon = await start(demo);
    const devices = daemon.gateway.devices();
    expect(devices.map((d) => d.id)).toEqual(['pdu-a', 'pdu-b', 'relay-1']);
    const off = devices.flatMap((d) => d.outlets.filter((o) => o.power === 'off').map((o) => `${d.id}:${o.outlet}`));
    expect(off).toEqual(['pdu-b:4', 'relay-1:2']);
    for (const d of devices) {
      expect(d.reachable).toBe(true);
      expect(d.outlets).toHaveLength(OUTLETS[d.id as keyof typeof OUTLETS]);
      expect(d.outlets.every((o) => o.power !== 'unknown')).toBe(true);
    }
    expect(daemon.gateway.server('web-1').state).toBe('FORCED_OFF');
    // 3. Not a single write reached any device during the second start.
    const after = await Promise.all(Object.keys(OUTLETS).map((d) => simFile(demo.stateDir, d)));
    expect(after).toEqual(before);
    expect(after.map((f) => f.writes)).toEqual([0, 1, 1]);
  });

  it('starts and stops ten times in a row without writing to any outlet', async () => {
    for (let i = 0; i < 10; i++) {
      const d = await start(demo);
      expect(d.gateway.servers()).toHaveLength(10);
      await d.stop();
    }
    for (const id of Object.keys(OUTLETS)) {
      const f = await simFile(demo.stateDir, id);
      expect(f.writes, `writes to ${id}`).toBe(0);
    }
  });

  it('switches a server off and on by force, confirming by read-back, and journals who, what, why', async () => {
    daemon = await start(demo);
    await daemon.gateway.waitFor(
      daemon.gateway.request({ kind: 'off', targets: ['web-1'], force: true, origin: 'api:test', reason: 'maintenance' }).id,
    );
    const world = daemon.shared<SimWorld>('sim-world')!;
    expect(world.outlet('pdu-b', 4)).toBe('off');
    expect(world.writes('pdu-b').count).toBe(1);
    const web1 = daemon.gateway.server('web-1');
    expect(web1.state).toBe('FORCED_OFF');
    expect(web1.outlets[0]!.power).toBe('off');
    const [a] = daemon.gateway.actions({ limit: 1 });
    expect(a).toMatchObject({ kind: 'off', targets: ['web-1'], origin: 'api:test', reason: 'maintenance', status: 'ok' });
    expect(a!.steps.map((s) => s.op)).toEqual(['switch', 'confirm']);
    // Its neighbours on the same PDU were not touched.
    expect(world.outlet('pdu-b', 5)).toBe('on');

    const on = await daemon.gateway.waitFor(
      daemon.gateway.request({ kind: 'on', targets: ['web-1'], force: true, origin: 'api:test', reason: 'back' }).id,
    );
    expect(on).toMatchObject({ kind: 'on', force: true, status: 'ok' });
    expect(on.steps.map((s) => s.op)).toEqual(['switch', 'confirm']);
    expect(world.outlet('pdu-b', 4)).toBe('on');
    expect(world.writes('pdu-b').log.map((w) => `${w.outlet}:${w.action}`)).toEqual(['4:off', '4:on']);
    expect(daemon.gateway.server('web-1').state).toBe('FORCED_ON');
    expect(daemon.gateway.server('web-1').outlets[0]!.power).toBe('on');
  });

  it('queues a forced action behind the one holding its server when asked to (--queue), instead of refusing it', async () => {
    daemon = await start(demo);
    const world = daemon.shared<SimWorld>('sim-world')!;
    const first = daemon.gateway.request({ kind: 'cycle', targets: ['web-1'], force: true, origin: 'api:a', reason: 'first' });
    const second = daemon.gateway.request({ kind: 'off', targets: ['web-1'], force: true, origin: 'api:b', reason: 'after it', queue: true });
    expect(second.status).toBe('running');
    const [a, b] = await Promise.all([daemon.gateway.waitFor(first.id), daemon.gateway.waitFor(second.id)]);
    expect(a.status).toBe('ok');
    expect(b.status).toBe('ok');
    expect(b.steps[0]).toMatchObject({ op: 'queued', detail: `waiting for ${first.id}` });
    expect(Date.parse(b.steps.find((x) => x.op === 'switch')!.at)).toBeGreaterThanOrEqual(Date.parse(a.finishedAt!));
    expect(world.writes('pdu-b').log.map((w) => `${w.outlet}:${w.action}`)).toEqual(['4:cycle', '4:off']);
    expect(daemon.gateway.server('web-1').state).toBe('FORCED_OFF');
  });

  it('refuses a second action on a busy server, naming the action that holds it', async () => {
    daemon = await start(demo);
    const first = daemon.gateway.request({ kind: 'off', targets: ['vm-1'], force: true, origin: 'api:a', reason: '' });
    expect(() =>
      daemon!.gateway.request({ kind: 'on', targets: ['vm-1'], force: true, origin: 'api:b', reason: '' }),
    ).toThrow(expect.objectContaining({ code: 'OCKLE_ACTION_BUSY', actionId: first.id }));
    await daemon.gateway.waitFor(first.id);
  });

  it('refuses a sequenced action while no sequencer runs, switching nothing', async () => {
    await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace('enabled = auto-control', 'enabled ='));
    // The demo's UPS needs auto-control (config check refuses it without): it goes too.
    await rm(join(demo.configDir, 'ups'), { recursive: true });
    daemon = await start(demo);
    expect(() => daemon!.gateway.request({ kind: 'off', targets: ['vm-1'], force: false, origin: 'api:a', reason: '' })).toThrow(
      expect.objectContaining({ code: 'OCKLE_ACTION_NO_SEQUENCER' }),
    );
    expect(daemon.shared<SimWorld>('sim-world')!.writes('pdu-a').count).toBe(0);
  });

  it('records a failed switch when the outlet does not follow, without a blind second write', async () => {
    await demo.write(
      'devices/relay-1.ini',
      (await demo.read('devices/relay-1.ini')) + 'fault = stuck\nconfirm_timeout = 1s\n',
    );
    daemon = await start(demo);
    const rec = await daemon.gateway.waitFor(
      daemon.gateway.request({ kind: 'off', targets: ['backup'], force: true, origin: 'api:t', reason: '' }).id,
    );
    expect(rec.status).toBe('failed');
    expect(rec.error?.code).toBe('OCKLE_DEVICE_REFUSED');
    expect(daemon.shared<SimWorld>('sim-world')!.writes('relay-1').count).toBe(1);
    // The outlet still reads on after a failed off: the server failed to stop.
    expect(daemon.gateway.server('backup').outlets[0]!.power).toBe('on');
    expect(daemon.gateway.server('backup').state).toBe('FAILED_TO_STOP');
  });

  it('starts with an unreachable device, showing its servers as UNKNOWN', async () => {
    await demo.write('devices/pdu-b.ini', (await demo.read('devices/pdu-b.ini')) + 'fault = unreachable\ntimeout = 200ms\nretries = 0\n');
    daemon = await start(demo);
    const pduB = daemon.gateway.devices().find((d) => d.id === 'pdu-b')!;
    expect(pduB.reachable).toBe(false);
    expect(pduB.error).toMatch(/pdu-b/);
    expect(daemon.gateway.server('vm-3').state).toBe('UNKNOWN');
    expect(daemon.gateway.server('vm-3').reason).toMatch(/pdu-b/);
    expect(daemon.gateway.health().status).toBe('degraded');
  });

  it('refuses to start on an invalid config, before touching any device', async () => {
    await demo.write('servers/vm-1.ini', (await demo.read('servers/vm-1.ini')).replace('dependencies = storage-1', 'dependencies = web-1, storage-1'));
    await expect(start(demo)).rejects.toBeInstanceOf(ConfigError);
    await expect(start(demo)).rejects.toThrow(/web-1 → .* → vm-1|vm-1 → web-1/);
  });

  it('keeps running on the old config when a reload does not validate', async () => {
    daemon = await start(demo);
    await demo.write('servers/vm-1.ini', (await demo.read('servers/vm-1.ini')).replace('outlet = 4', 'outlet = 42'));
    const events: string[] = [];
    daemon.events.on('config.reloaded', (e) => events.push(`${e.ok}`));
    expect(await daemon.reload()).toBe(false);
    expect(events).toEqual(['false']);
    expect(daemon.gateway.server('vm-1').outlets[0]!.outlet).toBe(4);
  });

  it('applies a valid reload by reading, not switching', async () => {
    daemon = await start(demo);
    await demo.write(
      'servers/lab-pi.ini',
      '[server]\ndescription = added on reload\noutlets = power\n\n[power]\ndevice = relay-1\noutlet = 3\n',
    );
    expect(await daemon.reload()).toBe(true);
    expect(daemon.gateway.server('lab-pi').outlets[0]!.power).toBe('on');
    for (const id of Object.keys(OUTLETS)) expect(daemon.shared<SimWorld>('sim-world')!.writes(id).count).toBe(0);
  });
});
