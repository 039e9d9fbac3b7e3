/**
 * Command argument schemas: a plugin declares what its command takes (`params`), the host checks
 * each call's JSON object against it before the worker sees it (unknown argument, wrong type,
 * missing required one → OCKLE_REQUEST_INVALID naming the argument), and lists them with the
 * command. A command without `params` takes any object, as before. The in-process test context
 * checks the same way.
 */
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PluginHost } from '../../src/plugin-host/host.js';
import { paramSchemaProblem, paramsProblem, parseWorkerMessage, type CommandParams } from '../../src/plugin-host/protocol.js';
import { testContext } from '../../src/plugin-host/testing.js';
import { REPO } from '../support/demo.js';

const FIX = join(REPO, 'test', 'fixtures', 'plugins');
const hosts: PluginHost[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.stop('test end');
});

function host(fixture: string) {
  const logs: { msg: string; command?: string; err?: string; why?: string }[] = [];
  const h = new PluginHost({
    name: 'p',
    module: join(FIX, `${fixture}.mjs`),
    config: {},
    dataDir: '/nonexistent/plugin-data',
    log: pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as { msg: string }) }),
    handle: () => Promise.reject(new Error('no methods')),
    subscribe: () => () => undefined,
    startTimeoutMs: 2000,
    heartbeatMs: 50,
    missedBeats: 20,
    commandTimeoutMs: 2000,
  });
  hosts.push(h);
  return { h, logs };
}
const until = async (cond: () => boolean, what: string, ms = 5000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const QUERY: CommandParams = {
  last: { type: 'string', help: 'How far back, e.g. 1h.', required: true },
  limit: { type: 'number', help: 'At most this many.' },
  verbose: { type: 'boolean' },
};

describe('command argument schemas in a worker', () => {
  it('lists each command with its arguments; a command without params has none listed', async () => {
    const { h, logs } = host('command-params');
    h.start();
    await until(() => h.state === 'running' && h.commands().length === 4, 'running with its commands');
    expect(h.commands()).toEqual([
      { name: 'p.query', plugin: 'p', description: 'Looks something up.', role: 'viewer', params: QUERY },
      { name: 'p.none', plugin: 'p', description: 'Takes no arguments.', role: 'viewer', params: {} },
      { name: 'p.free', plugin: 'p', description: 'Takes any object.', role: 'viewer' },
      { name: 'p.calls', plugin: 'p', description: 'How often a handler ran.', role: 'viewer', params: {} },
    ]);
    // Malformed schemas are refused in the plugin, at ctx.command, with why.
    const refused = logs.filter((l) => l.msg === 'schema refused').map((l) => [l.command, l.err]);
    expect(refused).toEqual([
      ['bad-type', expect.stringMatching(/argument "x": type must be "string", "number" or "boolean", not "date"/)],
      ['bad-name', expect.stringMatching(/argument "no spaces": a name is a letter/)],
      ['bad-field', expect.stringMatching(/argument "x": unknown field "default"/)],
      ['bad-shape', expect.stringMatching(/params must be an object of arguments/)],
    ]);
  });

  it('passes a valid call through, and refuses a bad one with OCKLE_REQUEST_INVALID naming the argument, before the handler runs', async () => {
    const { h } = host('command-params');
    h.start();
    await until(() => h.state === 'running' && h.commands().length === 4, 'running with its commands');
    expect(await h.invoke('p.query', { last: '1h', limit: 5, verbose: true })).toEqual({ got: { last: '1h', limit: 5, verbose: true } });
    expect(await h.invoke('p.query', { last: '1h' })).toEqual({ got: { last: '1h' } });
    const refused = async (name: string, params: unknown, message: RegExp): Promise<void> =>
      expect(h.invoke(name, params)).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID', status: 400, message: expect.stringMatching(message) as string });
    await refused('p.query', { last: '1h', since: 'x' }, /^command p\.query has no argument "since"; it takes: last \(string, required\), limit \(number\), verbose \(boolean\)$/);
    await refused('p.query', { last: 60 }, /^command p\.query: argument "last" must be a string, not number$/);
    await refused('p.query', { last: '1h', limit: '5' }, /^command p\.query: argument "limit" must be a number, not the string "5"$/);
    await refused('p.query', { last: '1h', verbose: null }, /argument "verbose" must be a boolean, not null/);
    await refused('p.query', { last: ['1h'] }, /argument "last" must be a string, not array/);
    await refused('p.query', {}, /^command p\.query needs argument "last" \(string: How far back, e\.g\. 1h\.\)$/);
    await refused('p.query', [], /^command p\.query takes a JSON object of arguments/);
    await refused('p.none', { x: 1 }, /^command p\.none has no argument "x"; it takes no arguments$/);
    // An argument named like an object's own property is still unknown.
    await refused('p.none', JSON.parse('{"toString": "x"}'), /has no argument "toString"/);
    // None of those reached the plugin: its handlers ran twice (the two valid queries).
    expect(await h.invoke('p.calls', {})).toBe(2);
    // Without params: any object, as before.
    expect(await h.invoke('p.free', { anything: [1, { deep: true }] })).toEqual({ got: { anything: [1, { deep: true }] } });
    expect(await h.invoke('p.none', {})).toBe('ok');
  });
});

describe('the wire and the test context check the same way', () => {
  it('a command message with a malformed schema is the plugin’s bug (refused, not registered)', () => {
    const msg = (params: unknown) => parseWorkerMessage({ v: 1, type: 'command', command: 'x', description: 'd', role: 'viewer', params });
    expect(msg(QUERY)).toMatchObject({ ok: true });
    expect(msg(undefined)).toMatchObject({ ok: true });
    expect(msg({ a: { type: 'object' } })).toEqual({ ok: false, why: expect.stringMatching(/^command x: argument "a": type must be/) as string });
    expect(msg({ a: { type: 'string', required: 'yes' } })).toMatchObject({ ok: false, why: expect.stringMatching(/required must be true or false/) as string });
    expect(msg({ a: { type: 'string', help: 'x'.repeat(501) } })).toMatchObject({ ok: false, why: expect.stringMatching(/help must be text of at most 500/) as string });
    expect(msg(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`a${i}`, { type: 'string' }])))).toMatchObject({ ok: false, why: expect.stringMatching(/33 arguments \(at most 32\)/) as string });
    expect(paramSchemaProblem(null)).toMatch(/must be an object/);
    expect(paramsProblem('x.y', QUERY, { last: 'x', limit: 3 })).toBeNull();
  });

  it('testContext refuses what the daemon refuses, and lists the arguments', async () => {
    const t = testContext({ name: 'p' });
    let ran = 0;
    t.ctx.command('query', { description: 'Looks something up.', role: 'viewer', params: QUERY }, (p) => (ran++, p));
    expect(t.commands.get('query')).toMatchObject({ params: QUERY });
    expect(await t.invoke('query', { last: '2h' })).toEqual({ last: '2h' });
    await expect(t.invoke('query', { last: 2 })).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID', message: 'command p.query: argument "last" must be a string, not number' });
    await expect(t.invoke('query')).rejects.toMatchObject({ code: 'OCKLE_REQUEST_INVALID', message: expect.stringMatching(/needs argument "last"/) as string });
    expect(ran).toBe(1);
    expect(() => t.ctx.command('bad', { description: 'x', params: { a: { type: 'int' as never } } }, () => 0)).toThrow(/argument "a": type must be/);
  });
});
