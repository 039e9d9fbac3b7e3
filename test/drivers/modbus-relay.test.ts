/**
 * modbus-relay against modbus-serial's own servers: TCP on 127.0.0.1 and RTU over a real pty
 * pair (socat), coils and command registers, exceptions and timeouts, two modules sharing one
 * RS-485 line, and a cross-check with Debian's mbpoll client.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { modbusRelayDriver } from '../../drivers/modbus-relay/index.js';
import type { OutletDevice, SpecOf } from '../../drivers/types.js';
import { makeDriverContext } from '../support/driver-context.js';
import { modbusModule, type ModbusModule } from '../support/modbus-module.js';
import { describePeer } from '../support/peers.js';
import { ptyPair, type PtyPair } from '../support/pty.js';
import { describeOutletDevice } from './outlet-contract.js';

type Spec = SpecOf<typeof modbusRelayDriver>;
const spec = (over: Partial<Record<keyof Spec, unknown>>): Spec => {
  const d: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(modbusRelayDriver.template)) if (v.default !== undefined) d[k] = v.default;
  return { ...d, outlets: 8, host: '127.0.0.1', request_timeout: 300, ...over } as Spec;
};
const sig = (): AbortSignal => new AbortController().signal;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function tcpRig(over: Partial<Record<keyof Spec, unknown>> = {}, mod: Partial<Parameters<typeof modbusModule>[0]> = {}): Promise<{ m: ModbusModule; d: OutletDevice }> {
  const m = await modbusModule({ relays: 8, initial: [true, false, true], ...mod });
  const d = modbusRelayDriver.create(spec({ port: m.port, ...over }), makeDriverContext({ id: 'relay-m' }));
  cleanup.push(() => m.close(), () => d.close());
  return { m, d };
}

describeOutletDevice('modbus-relay (TCP, coils)', async () => {
  const m = await modbusModule({ relays: 8, initial: Array(8).fill(true) });
  const d = modbusRelayDriver.create(spec({ port: m.port }), makeDriverContext({ id: 'relay-c' }));
  return { device: d, peer: { power: (n) => (m.coils[n - 1] ? 'on' : 'off'), writes: () => m.writes.length }, close: () => m.close() };
});

describe('modbus-relay over TCP', () => {
  it('reads every relay in one FC1 request', async () => {
    const { m, d } = await tcpRig();
    await d.open(sig());
    const before = m.frames.length;
    const got = await d.read([1, 2, 3, 4, 5, 6, 7, 8], sig());
    expect([...got.values()]).toEqual(['on', 'off', 'on', 'off', 'off', 'off', 'off', 'off']);
    expect(m.frames.slice(before)).toEqual([1]); // one FC1 (read coils) frame for all eight
    await d.switch(2, 'on', sig());
    expect(m.frames.at(-1)).toBe(5); // FC5, write single coil
    expect(m.writes).toEqual([{ addr: 1, value: true }]);
  });

  it('honours first_address and invert (normally-closed wiring)', async () => {
    const { m, d } = await tcpRig({ first_address: 4, outlets: 4, invert: true });
    await d.open(sig());
    expect([...(await d.read([1, 2, 3, 4], sig())).values()]).toEqual(['on', 'on', 'on', 'on']); // coils 4–7 released
    await d.switch(2, 'off', sig());
    expect(m.writes).toEqual([{ addr: 5, value: true }]); // off = energise the NC relay
  });

  it('drives register-based modules (FC3 read, FC6 write of a command value)', async () => {
    const { m, d } = await tcpRig({ mode: 'registers', register_on: 256, register_off: 512 }, { mode: 'registers', registerOn: 256, registerOff: 512 });
    await d.open(sig());
    expect((await d.read([1, 2], sig())).get(1)).toBe('on');
    await d.switch(2, 'on', sig());
    expect(m.writes).toEqual([{ addr: 1, value: 256 }]);
    expect((await d.read([2], sig())).get(2)).toBe('on');
  });

  it('turns exceptions into typed refusals with hints', async () => {
    const { m, d } = await tcpRig();
    await d.open(sig());
    const { d: beyond } = await tcpRig({ outlets: 12 });
    await expect(beyond.read([12], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', hint: expect.stringMatching(/first_address \(0-based\)/) });
    const { d: wrongMode } = await tcpRig({}, { mode: 'registers' });
    await expect(wrongMode.read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/exception 1 \(illegal function\)/), hint: expect.stringMatching(/mode = registers/) });
    m.exception = 4;
    await expect(d.switch(1, 'off', sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REPLY', message: expect.stringMatching(/server device failure/) });
  });

  it('a module that does not answer is unreachable after request_timeout, and the bus recovers', async () => {
    const { m, d } = await tcpRig();
    await d.open(sig());
    m.silent = true;
    await expect(d.read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', message: expect.stringMatching(/no Modbus reply within 300 ms/) });
    m.silent = false;
    expect((await d.read([1], sig())).get(1)).toBe('on');
  });

  it('a closed port is unreachable with a hint', async () => {
    const { m, d } = await tcpRig();
    await m.close();
    await expect(d.open(sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', hint: expect.stringMatching(/host and port/) });
  });
});

describePeer('modbus-relay over RTU (pty pair)', ['socat'], () => {
  let pty: PtyPair;
  afterEach(async () => {
    await pty?.stop();
  });

  it('reads and switches a module on a serial line, and two modules share it in turns', async () => {
    pty = await ptyPair();
    // Unit 1 answers on the board end; unit 2 is not there (its requests time out).
    const m = await modbusModule({ relays: 8, transport: { path: pty.boardPath }, unitId: 1, initial: [false, true] });
    cleanup.push(() => m.close());
    const shared = new Map<string, unknown>();
    const one = modbusRelayDriver.create(spec({ transport: 'rtu', path: pty.driverPath, unit_id: 1 }), makeDriverContext({ id: 'rtu-1', shared }));
    const two = modbusRelayDriver.create(spec({ transport: 'rtu', path: pty.driverPath, unit_id: 2, request_timeout: 200 }), makeDriverContext({ id: 'rtu-2', shared }));
    cleanup.push(() => one.close(), () => two.close());
    await one.open(sig());
    const [a, b] = await Promise.allSettled([one.read([1, 2], sig()), two.read([1], sig())]);
    expect(a).toMatchObject({ status: 'fulfilled' });
    expect([...(a as PromiseFulfilledResult<ReadonlyMap<number, string>>).value.values()]).toEqual(['off', 'on']);
    expect(b).toMatchObject({ status: 'rejected', reason: { code: 'OCKLE_DEVICE_UNREACHABLE', hint: expect.stringMatching(/A\/B swapped/) } });
    await one.switch(1, 'on', sig());
    expect(m.coils[0]).toBe(true);
  });
});

describePeer('modbus-relay cross-checked with mbpoll', ['mbpoll'], () => {
  it('reads the same coils as Debian’s mbpoll client', async () => {
    const { m, d } = await tcpRig();
    await d.open(sig());
    await d.switch(5, 'on', sig());
    const ours = [...(await d.read([1, 2, 3, 4, 5, 6, 7, 8], sig())).values()].map((p) => (p === 'on' ? 1 : 0));
    const { stdout } = await promisify(execFile)('mbpoll', ['-m', 'tcp', '-p', String(m.port), '-a', '1', '-t', '0', '-r', '1', '-c', '8', '-1', '127.0.0.1']);
    const theirs = [...stdout.matchAll(/^\[(\d+)\]:\s+(\d)/gm)].map((x) => Number(x[2]));
    expect(theirs).toEqual(ours);
  });
});
