/**
 * The wol device against a sleeping machine on loopback: a UDP listener on 127.0.0.1 that
 * records every datagram and wakes when one is a valid magic packet for its MAC. No packet in
 * these tests goes to any broadcast address.
 */
import { createSocket, type Socket } from 'node:dgram';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { magicPacket, wolDriver, type WakeOnLan } from '../../drivers/wol/index.js';
import type { SpecOf } from '../../drivers/types.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { makeDriverContext } from '../support/driver-context.js';
import { describeOutletDevice } from './outlet-contract.js';

type Spec = SpecOf<typeof wolDriver>;
const sig = (): AbortSignal => new AbortController().signal;
const MAC = '52:54:00:12:34:56';
const MARK = Buffer.from('ockle-test-sync');

interface SleepingMachine {
  readonly port: number;
  /** Datagrams received (the sync marks excluded), once every datagram sent before this call arrived. */
  packets(): Promise<Buffer[]>;
  power(): Promise<'on' | 'off'>;
  close(): Promise<void>;
}

/** A machine asleep behind 127.0.0.1:PORT; it wakes on a magic packet carrying `mac`. */
async function sleepingMachine(mac: string): Promise<SleepingMachine> {
  const sock: Socket = createSocket('udp4');
  const got: Buffer[] = [];
  const waiting: (() => void)[] = [];
  let awake = false;
  const want = magicPacket(mac);
  sock.on('message', (msg) => {
    if (msg.equals(MARK)) return waiting.shift()?.();
    got.push(msg);
    if (msg.equals(want)) awake = true;
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = sock.address().port;
  // Datagrams on loopback to one socket arrive in order: once a mark sent now is in, so is
  // everything the driver sent before it.
  const sync = async (): Promise<void> => {
    const s = createSocket('udp4');
    const arrived = new Promise<void>((r) => waiting.push(r));
    await new Promise<void>((r, j) => s.send(MARK, port, '127.0.0.1', (e) => (e ? j(e) : r())));
    s.close();
    await arrived;
  };
  return {
    port,
    packets: async () => {
      await sync();
      return [...got];
    },
    power: async () => {
      await sync();
      return awake ? 'on' : 'off';
    },
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

const make = (m: SleepingMachine, over: Partial<Spec> = {}): WakeOnLan =>
  wolDriver.create({ mac: MAC, broadcast: '127.0.0.1', port: m.port, packets: 3, ...over } as Spec, makeDriverContext({ id: 'wake-1' })) as WakeOnLan;

describe('wol against a sleeping machine on 127.0.0.1', () => {
  const machines: SleepingMachine[] = [];
  afterEach(async () => {
    for (const m of machines.splice(0)) await m.close();
  });
  const machine = async (mac = MAC): Promise<SleepingMachine> => {
    const m = await sleepingMachine(mac);
    machines.push(m);
    return m;
  };

  it('"on" sends the magic packet: 6 × 0xFF then the MAC 16 times, `packets` copies, and the machine wakes', async () => {
    const m = await machine();
    const d = make(m);
    await d.open(sig());
    expect(await m.packets()).toEqual([]);
    await d.switch(1, 'on', sig());
    const got = await m.packets();
    expect(got).toHaveLength(3);
    const p = got[0]!;
    expect(p).toHaveLength(102);
    expect(p.subarray(0, 6).toString('hex')).toBe('ffffffffffff');
    for (let i = 0; i < 16; i++) expect(p.subarray(6 + i * 6, 12 + i * 6).toString('hex')).toBe('525400123456');
    expect(await m.power()).toBe('on');
  });

  it('reads unknown until it has sent a packet, then on (assumed: nothing answers a magic packet)', async () => {
    const m = await machine();
    const d = make(m, { mac: '52-54-00-12-34-56', packets: 1 });
    expect(d.caps.readBack).toBe('assumed');
    expect((await d.read([1], sig())).get(1)).toBe('unknown');
    await d.switch(1, 'on', sig());
    expect((await d.read([1], sig())).get(1)).toBe('on');
    expect(d.info().details).toMatchObject({ mac: '52-54-00-12-34-56', target: `127.0.0.1:${m.port}` });
    expect(await m.packets()).toHaveLength(1);
  });

  it('off, cycle and reset are refused with a clear error, and nothing is sent', async () => {
    const m = await machine();
    const d = make(m);
    for (const action of ['off', 'cycle', 'reset'] as const)
      await expect(d.switch(1, action, sig())).rejects.toMatchObject({
        code: 'OCKLE_DEVICE_REFUSED',
        message: `wake-1: Wake-on-LAN can only switch a machine on; "${action}" is refused and nothing was sent`,
        hint: expect.stringMatching(/controls/),
      });
    expect(await m.packets()).toEqual([]);
    expect(await m.power()).toBe('off');
  });

  it('a packet for another MAC does not wake the machine (the listener checks what was sent)', async () => {
    const m = await machine('52:54:00:ab:cd:ef');
    await make(m).switch(1, 'on', sig());
    expect(await m.packets()).toHaveLength(3);
    expect(await m.power()).toBe('off');
  });

  it('the template refuses a MAC or broadcast address that is not one', () => {
    const mac = wolDriver.template.mac.parse('00:11:22:33:44');
    const addr = wolDriver.template.broadcast.parse('127.0.0.256');
    expect(mac).toMatchObject({ ok: false, message: expect.stringMatching(/not a MAC address/) });
    expect(addr).toMatchObject({ ok: false, message: expect.stringMatching(/not an IPv4 address/) });
  });

  describe('contract', () => {
    describeOutletDevice(
      'wol (sleeping machine on loopback)',
      async () => {
        const m = await sleepingMachine(MAC);
        const d = make(m, { packets: 1 });
        return { device: d, peer: { power: () => m.power(), writes: async () => (await m.packets()).length }, close: () => m.close() };
      },
      { onOnly: true },
    );
  });
});

describe('wol under the daemon', () => {
  let root: string | undefined;
  let daemon: Daemon | undefined;
  let m: SleepingMachine | undefined;
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await m?.close();
    m = undefined;
    if (root) await rm(root, { recursive: true, force: true });
    root = undefined;
  });

  it('start and restart send nothing; "on" is a journaled action that wakes the machine; "off" fails with the reason, sending nothing', async () => {
    m = await sleepingMachine(MAC);
    root = await mkdtemp(join(tmpdir(), 'ockle-wol-lab-'));
    const dir = join(root, 'config');
    await mkdir(join(dir, 'devices'), { recursive: true });
    await mkdir(join(dir, 'servers'), { recursive: true });
    await writeFile(join(dir, 'ockle.ini'), '[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n');
    await writeFile(join(dir, 'devices', 'wake.ini'), `[device]\ntype = wol\nmac = ${MAC}\nbroadcast = 127.0.0.1\nport = ${m.port}\nconfirm_timeout = 1s\n`);
    await writeFile(join(dir, 'servers', 'desk.ini'), '[server]\noutlets = power\n[power]\ndevice = wake\noutlet = 1\n');

    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    const gw = daemon.gateway;
    expect(await m.packets()).toEqual([]);
    expect(gw.server('desk').outlets[0]).toMatchObject({ power: 'unknown', readBack: 'assumed' });

    const on = await gw.waitFor(gw.request({ kind: 'on', targets: ['desk'], force: true, origin: 'api:test', reason: 'wake the desk machine' }).id);
    expect(on).toMatchObject({ status: 'ok', origin: 'api:test', reason: 'wake the desk machine' });
    expect(on.steps.map((x) => x.op)).toEqual(expect.arrayContaining(['switch', 'confirm']));
    expect(await m.packets()).toHaveLength(3);
    expect(await m.power()).toBe('on');
    expect(gw.server('desk').outlets[0]).toMatchObject({ power: 'on', readBack: 'assumed' });

    const off = await gw.waitFor(gw.request({ kind: 'off', targets: ['desk'], force: true, origin: 'api:test', reason: 'try off' }).id);
    expect(off.status).toBe('failed');
    expect(off.error).toEqual({ code: 'OCKLE_DEVICE_REFUSED', message: 'wake: Wake-on-LAN can only switch a machine on; "off" is refused and nothing was sent' });
    expect(await m.packets()).toHaveLength(3);

    await daemon.stop();
    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    expect(await m.packets()).toHaveLength(3);
    expect(daemon.gateway.server('desk').outlets[0]).toMatchObject({ power: 'unknown', readBack: 'assumed' });
  });

  it('a sequenced on wakes the machine and waits for its tests; a sequenced off is its OS shutdown, proved by the tests, with nothing to cut', async () => {
    m = await sleepingMachine(MAC);
    // The machine's service: listening while it is awake; the shutdown command closes it.
    const service = createServer((c) => c.destroy());
    let listening = false;
    const poll = setInterval(() => {
      void m!.power().then((p) => {
        if (p === 'on' && !listening) {
          listening = true;
          service.listen(servicePort, '127.0.0.1');
        }
      });
    }, 20);
    const servicePort = await new Promise<number>((r) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => r(port));
      });
    });
    root = await mkdtemp(join(tmpdir(), 'ockle-wol-lab-'));
    const dir = join(root, 'config');
    const halt = join(root, 'halt');
    await mkdir(join(dir, 'devices'), { recursive: true });
    await mkdir(join(dir, 'servers'), { recursive: true });
    await writeFile(join(dir, 'ockle.ini'), '[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n[servers]\ntest_interval = 100ms\nboot_timeout = 10s\nshutdown_timeout = 10s\n[plugins]\nenabled = auto-control\n');
    await writeFile(join(dir, 'devices', 'wake.ini'), `[device]\ntype = wol\nmac = ${MAC}\nbroadcast = 127.0.0.1\nport = ${m.port}\nconfirm_timeout = 1s\n`);
    await writeFile(
      join(dir, 'servers', 'desk.ini'),
      `[server]\nhost = 127.0.0.1\noutlets = power\ncontrols = os\ntests = svc\n[power]\ndevice = wake\noutlet = 1\n[os]\ntype = command\ncommand = touch ${halt}\n[svc]\ntype = tcp\nport = ${servicePort}\ntimeout = 500ms\n`,
    );
    try {
      daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: true });
      const gw = daemon.gateway;
      const on = await gw.waitFor(gw.request({ kind: 'on', targets: ['desk'], force: false, origin: 'api:test', reason: 'wake' }).id);
      expect(on.status).toBe('ok');
      expect(on.steps.map((x) => x.op)).toEqual(expect.arrayContaining(['switch', 'up']));
      expect(gw.server('desk').state).toBe('OK');
      const sent = (await m.packets()).length;
      // The OS shuts down when asked (the command leaves a file): the service goes away.
      const halted = setInterval(() => {
        void stat(halt).then(
          () => service.close(),
          () => undefined,
        );
      }, 20);
      try {
        const off = await gw.waitFor(gw.request({ kind: 'off', targets: ['desk'], force: false, origin: 'api:test', reason: 'night' }).id);
        expect(off.status, JSON.stringify(off.steps)).toBe('ok');
        expect(off.steps.find((x) => x.op === 'skip')?.detail).toBe('wake can only wake the machine: off is its OS shutdown, nothing to cut');
      } finally {
        clearInterval(halted);
      }
      expect(await m.packets()).toHaveLength(sent);
      expect(gw.server('desk').state).toBe('OFF');
    } finally {
      clearInterval(poll);
      service.close();
    }
  });
});
