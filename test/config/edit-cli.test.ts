/**
 * `ockle config set|unset|add|rm|undo|history` in-process against a daemon on the demo lab
 * (the CLI's local admin token): each prints file:line of what it changed, or the problems.
 */
import { describe, expect, it } from 'vitest';
import { demoDaemon } from '../support/cli.js';

describe('ockle config set|add|rm|undo|history', () => {
  const lab = demoDaemon();
  const { run, writes } = lab;

  it('sets SERVER.KEY in servers/SERVER.ini and FILE:SECTION.KEY anywhere, printing file:line', async () => {
    const w = writes();
    const before = await lab.demo.read('servers/web-1.ini');
    const r = await run('config', 'set', 'web-1.max_attempts', '5');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/servers\/web-1\.ini:\d+: \+ max_attempts = 5/);
    expect(r.out).toContain('reloaded');
    expect(await lab.demo.read('servers/web-1.ini')).toBe(before.replace('shed_priority = 2\n', 'shed_priority = 2\nmax_attempts = 5\n'));
    const t = await run('config', 'set', 'devices/pdu-a.ini:device.poll_interval', '3s');
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/devices\/pdu-a\.ini:\d+: - poll_interval = 2s\n.*devices\/pdu-a\.ini:\d+: \+ poll_interval = 3s/s);
    expect(await lab.demo.read('devices/pdu-a.ini')).toContain('poll_interval = 3s');
    expect(writes()).toBe(w);
  });

  it('refuses a bad value with the check’s problem at file:line, writing nothing', async () => {
    const before = await lab.demo.read('servers/web-1.ini');
    const r = await run('config', 'set', 'web-1.max_attempts', '99');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/servers\/web-1\.ini:\d+: max_attempts = 99/);
    expect(await lab.demo.read('servers/web-1.ini')).toBe(before);
    expect((await run('config', 'set', 'web-1')).code).toBe(2);
    expect((await run('config', 'set', 'nope.max_attempts', '3')).err).toMatch(/servers\/nope\.ini does not exist/);
  });

  it('adds a server and a device, refuses removing one another depends on, and removes it', async () => {
    const w = writes();
    const dev = await run('config', 'add', 'device', 'pdu-c', '--type', 'sim', 'outlets=4', 'description=Rack C; spare');
    expect(dev.code, dev.err).toBe(0);
    expect(await lab.demo.read('devices/pdu-c.ini')).toBe('[device]\ntype = sim\noutlets = 4\ndescription = "Rack C; spare"\n');
    const srv = await run('config', 'add', 'server', 'spare', '--outlet', 'pdu-c:2', '--depends', 'core-switch');
    expect(srv.code, srv.err).toBe(0);
    expect(srv.out).toContain('servers/spare.ini created');
    expect(lab.d.gateway.servers().map((s) => s.name)).toContain('spare');
    const other = await run('config', 'add', 'server', 'spare-2', '--depends', 'spare');
    expect(other.code, other.err).toBe(0);
    const refused = await run('config', 'rm', 'server', 'spare');
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/servers\/spare-2\.ini:\d+: dependency "spare" is not a configured server/);
    const dev2 = await run('config', 'rm', 'device', 'pdu-c');
    expect(dev2.code).toBe(2);
    expect(dev2.err).toMatch(/servers\/spare\.ini:\d+: outlet "power" names device "pdu-c"/);
    expect((await run('config', 'rm', 'server', 'spare-2')).code).toBe(0);
    const rm = await run('config', 'rm', 'server', 'spare');
    expect(rm.code, rm.err).toBe(0);
    expect(rm.out).toContain('servers/spare.ini deleted');
    expect(lab.d.gateway.servers().map((s) => s.name)).not.toContain('spare');
    expect(writes()).toBe(w);
  });

  it('undoes the last changes one by one, and lists the history', async () => {
    const before = await lab.demo.read('servers/db-1.ini');
    expect((await run('config', 'set', 'db-1.description', 'the database')).code).toBe(0);
    const u = await run('config', 'undo');
    expect(u.code, u.err).toBe(0);
    expect(u.out).toContain('servers/db-1.ini restored (undo)');
    expect(await lab.demo.read('servers/db-1.ini')).toBe(before);
    // The next undo goes one further back: the removal of spare is undone (the file is back).
    const u2 = await run('config', 'undo');
    expect(u2.code, u2.err).toBe(0);
    expect(u2.out).toContain('servers/spare.ini restored (undo)');
    const h = await run('config', 'history', '--limit', '3');
    expect(h.code).toBe(0);
    const lines = h.out.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/cli:local {2}undo of c\w+ {2}servers\/spare\.ini/);
    expect(lines[2]).toMatch(/cli:local {2}edit {2}servers\/db-1\.ini {2}\(-\d+ \+\d+\)/);
  });
});
