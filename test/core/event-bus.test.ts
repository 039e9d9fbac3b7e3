import { describe, expect, it, vi } from 'vitest';
import { EventBus } from '../../src/core/event-bus.js';

interface E {
  ping: { n: number };
  pong: { s: string };
}

describe('EventBus', () => {
  it('delivers typed payloads to listeners of that event and to any-listeners', () => {
    const bus = new EventBus<E>();
    const got: string[] = [];
    bus.on('ping', (p) => got.push(`ping ${p.n}`));
    bus.onAny((name, p) => got.push(`any ${String(name)} ${JSON.stringify(p)}`));
    bus.emit('ping', { n: 1 });
    bus.emit('pong', { s: 'x' });
    expect(got).toEqual(['ping 1', 'any ping {"n":1}', 'any pong {"s":"x"}']);
  });
  it('unsubscribes', () => {
    const bus = new EventBus<E>();
    const fn = vi.fn();
    const off = bus.on('ping', fn);
    off();
    bus.emit('ping', { n: 1 });
    expect(fn).not.toHaveBeenCalled();
    expect(bus.listenerCount()).toBe(0);
  });
  it('keeps delivering when a listener throws, and reports it', () => {
    const errors: string[] = [];
    const bus = new EventBus<E>((err, name) => errors.push(`${String(name)}: ${(err as Error).message}`));
    const after = vi.fn();
    bus.on('ping', () => {
      throw new Error('boom');
    });
    bus.on('ping', after);
    bus.emit('ping', { n: 2 });
    expect(after).toHaveBeenCalledWith({ n: 2 });
    expect(errors).toEqual(['ping: boom']);
  });
  it('once() resolves with the first matching payload and rejects on abort', async () => {
    const bus = new EventBus<E>();
    const p = bus.once('ping', (x) => x.n > 1);
    bus.emit('ping', { n: 1 });
    bus.emit('ping', { n: 5 });
    await expect(p).resolves.toEqual({ n: 5 });
    const ac = new AbortController();
    const q = bus.once('pong', () => true, ac.signal);
    ac.abort(new Error('stop'));
    await expect(q).rejects.toThrow('stop');
    expect(bus.listenerCount('pong')).toBe(0);
  });
});
