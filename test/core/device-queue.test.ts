import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeviceQueue } from '../../src/core/device-queue.js';
import { DeviceUnreachableError, OperationAbortedError } from '../../src/errors.js';

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new OperationAbortedError());
    });
  });

describe('DeviceQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a poll read (withinTimeout) gives up within one timeout, retries included; a plain read takes every try', async () => {
    const q = new DeviceQueue({ device: 'snmp-pdu "pdu-b"', concurrency: 1, timeoutMs: 1000, retries: 2, backoffMs: 200 });
    let tries = 0;
    const silent = (s: AbortSignal): Promise<never> => {
      tries++;
      return new Promise((_, reject) => s.addEventListener('abort', () => reject(new OperationAbortedError())));
    };
    const t0 = Date.now();
    let failedAt = 0;
    const poll = q.read('read outlets 1-8', silent, undefined, { withinTimeout: true }).catch((e: Error) => ((failedAt = Date.now() - t0), e));
    await vi.advanceTimersByTimeAsync(5000);
    expect(((await poll) as Error).message).toMatch(/got no reply within \d+ ms/);
    expect(failedAt).toBeLessThanOrEqual(1000);
    expect(tries).toBeGreaterThanOrEqual(1);

    tries = 0;
    const t1 = Date.now();
    const plain = q.read('read outlet 3', silent).catch((e: Error) => ((failedAt = Date.now() - t1), e));
    await vi.advanceTimersByTimeAsync(5000);
    expect(((await plain) as Error).message).toMatch(/\(3 tries\)$/);
    expect(tries).toBe(3);
    expect(failedAt).toBe(3000 + 200 + 400);
  });

  it('never runs more than `concurrency` operations at once, first in first out', async () => {
    const q = new DeviceQueue({ device: 'sim "bus"', concurrency: 1, timeoutMs: 1000, retries: 0 });
    const order: string[] = [];
    let running = 0;
    let peak = 0;
    const op = (name: string) => async (s: AbortSignal) => {
      running++;
      peak = Math.max(peak, running);
      order.push(name);
      await sleep(100, s);
      running--;
      return name;
    };
    const all = Promise.all(['a', 'b', 'c'].map((n) => q.read(n, op(n))));
    expect(q.active).toBe(1);
    expect(q.waiting).toBe(2);
    await vi.advanceTimersByTimeAsync(300);
    await expect(all).resolves.toEqual(['a', 'b', 'c']);
    expect(peak).toBe(1);
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('times an operation out with a message naming device, operation and limit', async () => {
    expect.assertions(2);
    const q = new DeviceQueue({ device: 'sim "pdu-1"', concurrency: 2, timeoutMs: 2000, retries: 0 });
    const p = q.read('read outlets 1-8', (s) => sleep(10_000, s));
    const check = expect(p).rejects.toMatchObject({ code: 'OCKLE_DEVICE_TIMEOUT', message: 'sim "pdu-1": read outlets 1-8 got no reply within 2000 ms' });
    await vi.advanceTimersByTimeAsync(2000);
    await check;
    expect(q.active).toBe(0);
  });

  it('operations started together time out each on its own: the one that answered keeps its answer, the hung one fails', async () => {
    const q = new DeviceQueue({ device: 'sim "pdu-1"', concurrency: 4, timeoutMs: 2000, retries: 0 });
    const seen: AbortSignal[] = [];
    const quick = q.read('read outlet 1', async (s) => (seen.push(s), sleep(100, s).then(() => 'on')));
    const hung = q.read('read outlet 2', (s) => (seen.push(s), sleep(60_000, s)));
    const failed = expect(hung).rejects.toMatchObject({ code: 'OCKLE_DEVICE_TIMEOUT', message: 'sim "pdu-1": read outlet 2 got no reply within 2000 ms' });
    await vi.advanceTimersByTimeAsync(100);
    await expect(quick).resolves.toBe('on');
    expect(seen[0]!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1900);
    await failed;
    // The hung driver call was aborted through its signal, and its slot is free again.
    expect(seen[1]!.aborted).toBe(true);
    expect(q.active).toBe(0);
  });

  it('retries a failed read with backoff, then reports the number of tries', async () => {
    const q = new DeviceQueue({ device: 'sim "pdu-1"', concurrency: 1, timeoutMs: 1000, retries: 2, backoffMs: 100 });
    const fn = vi.fn(async () => {
      throw new DeviceUnreachableError('pdu-1', 'sim "pdu-1": no answer');
    });
    const p = q.read('read', fn);
    const check = expect(p).rejects.toThrow('sim "pdu-1": no answer (3 tries)');
    await vi.advanceTimersByTimeAsync(99);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(200);
    await check;
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('succeeds when a retry of a read succeeds', async () => {
    const q = new DeviceQueue({ device: 'sim "pdu-1"', concurrency: 1, timeoutMs: 1000, retries: 1, backoffMs: 50 });
    let n = 0;
    const p = q.read('read', async () => {
      if (n++ === 0) throw new DeviceUnreachableError('pdu-1', 'flap');
      return 'ok';
    });
    await vi.advanceTimersByTimeAsync(50);
    await expect(p).resolves.toBe('ok');
  });

  it('never repeats a failed write; a read decides whether it landed', async () => {
    const q = new DeviceQueue({ device: 'sim "pdu-1"', concurrency: 1, timeoutMs: 1000, retries: 3 });
    const write = vi.fn(async () => {
      throw new DeviceUnreachableError('pdu-1', 'connection reset after sending');
    });
    // 1. The outlet shows the wanted state: the write landed.
    await expect(q.write('switch 4 on', write, { verify: async () => true })).resolves.toBeUndefined();
    expect(write).toHaveBeenCalledTimes(1);
    // 2. It does not: the original error stands, and still only one write per call.
    await expect(q.write('switch 4 on', write, { verify: async () => false })).rejects.toThrow('connection reset after sending');
    expect(write).toHaveBeenCalledTimes(2);
    // 3. Without a way to verify, the error is reported as is.
    await expect(q.write('switch 4 cycle', write)).rejects.toThrow('connection reset');
    expect(write).toHaveBeenCalledTimes(3);
  });

  it('aborts a waiting operation when its caller aborts, without running it', async () => {
    const q = new DeviceQueue({ device: 'sim "bus"', concurrency: 1, timeoutMs: 1000, retries: 0 });
    const first = q.read('first', (s) => sleep(100, s));
    const ac = new AbortController();
    const fn = vi.fn(async () => 'never');
    const second = q.read('second', fn, ac.signal);
    ac.abort();
    await expect(second).rejects.toMatchObject({ code: 'OCKLE_OPERATION_ABORTED' });
    await vi.advanceTimersByTimeAsync(100);
    await first;
    expect(fn).not.toHaveBeenCalled();
  });

  it('close() rejects waiting operations and aborts running ones', async () => {
    const q = new DeviceQueue({ device: 'sim "bus"', concurrency: 1, timeoutMs: 1000, retries: 0 });
    const running = q.read('running', (s) => sleep(500, s));
    const waiting = q.read('waiting', async () => 'x');
    q.close();
    await expect(waiting).rejects.toMatchObject({ code: 'OCKLE_OPERATION_ABORTED' });
    await expect(running).rejects.toMatchObject({ code: 'OCKLE_OPERATION_ABORTED' });
  });
});
