/** CLI commands that work without a daemon: config check, token new, usage errors. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Auth } from '../../src/api/auth.js';
import { main } from '../../src/cli/commands.js';
import { join } from 'node:path';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';
import { behaviour, onSetFor } from '../support/pdu-behaviour.js';
import { loadRecording, TestAgent } from '../support/snmp-agent.js';

describe('ockle CLI without a daemon', () => {
  let demo: DemoCopy;
  const cli = async (...argv: string[]) => {
    let out = '';
    let err = '';
    const code = await main(argv, {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env: {},
      cwd: demo.configDir,
    });
    return { code, out, err };
  };
  beforeEach(async () => {
    demo = await demoConfig();
  });
  afterEach(async () => {
    await demo.cleanup();
  });

  it('stops quietly when the reader of its output goes away (`ockle … | head`), no EPIPE trace', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [join(REPO, 'dist', 'src', 'cli', 'main.js'), 'config', 'check', demo.configDir, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout.destroy(); // the reader is gone before the first write
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(err).not.toMatch(/EPIPE|Unhandled 'error' event/);
    expect(code).toBe(0);
  });

  it('`config check` passes the demo config with exit 0', async () => {
    const r = await cli('config', 'check', demo.configDir);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`0 errors, 0 warnings in ${demo.configDir}\n`);
  });

  it('`config check` prints every problem with file:line and exits 2', async () => {
    await demo.write('servers/vm-1.ini', (await demo.read('servers/vm-1.ini')).replace('outlet = 4', 'outlet = 40').replace('description', 'descripton'));
    const r = await cli('config', 'check', demo.configDir);
    expect(r.code).toBe(2);
    expect(r.err).toContain('servers/vm-1.ini:3: unknown key "descripton" in [server] Did you mean "description"?');
    expect(r.err).toContain('servers/vm-1.ini:13: outlet 40 is beyond device "pdu-a", which has 8 outlets Use an outlet from 1 to 8.');
    expect(r.out).toContain('2 errors, 0 warnings');
  });

  it('`token new` prints a token once and the section whose hash authenticates it', async () => {
    const r = await cli('token', 'new', 'alice', '--role', 'operator', '--json');
    expect(r.code).toBe(0);
    const t = JSON.parse(r.out) as { token: string; sha256: string; role: string };
    const auth = new Auth({ tokens: [{ name: 'alice', role: 'operator', sha256: t.sha256 }], anonymousRole: 'none' });
    expect(auth.check(`Bearer ${t.token}`, 'operator')).toEqual({ name: 'alice', role: 'operator' });
    expect(() => auth.check(`Bearer ${t.token}x`, 'viewer')).toThrow(/not valid/);
    const human = await cli('token', 'new', 'bob', '--role', 'viewer');
    expect(human.out).toMatch(/\[token\.bob\]\nrole = viewer\nsha256 = [0-9a-f]{64}\n/);
  });

  it('refuses bad arguments with exit 2 and usage', async () => {
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli('off')).err).toContain('off needs at least one SERVER');
    expect((await cli('status', '--bogus')).code).toBe(2);
    expect((await cli('token', 'new', 'x', '--role', 'root')).err).toContain('--role must be viewer, operator or admin');
    expect((await cli('on', 'web-1', '--force', '--timeout', 'soon')).err).toContain('--timeout "soon" is not a duration');
  });

  it('never takes a token from argv', async () => {
    const r = await cli('status', '--token', 'ockle_secret');
    expect(r.code).toBe(2);
    expect(r.err).not.toContain('ockle_secret');
  });

  it('`devices probe` asks an SNMP PDU what it is, without the daemon and without switching', async () => {
    const agent = await new TestAgent({ data: loadRecording(join(REPO, 'test', 'fixtures', 'snmp', 'eaton-epdu.snmprec')), read: ['s3cret-community'], onSet: onSetFor(behaviour('eaton', [])) }).start();
    try {
      await demo.write('devices/rack-pdu.ini', `[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nport = ${agent.port}\ncommunity = s3cret-community\n`);
      const r = await cli('devices', 'probe', 'rack-pdu', '--config', demo.configDir);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^rack-pdu \(snmp-pdu\): 4 outlets, read in \d+ ms\n/);
      expect(r.out).toContain('  profile   eaton-epdu\n');
      expect(r.out).toContain('  sysObjectID 1.3.6.1.4.1.534.6.6.7\n');
      expect(r.out).toContain('       1  web-1      on         1.5 A, 230.1 V, 320 W, 98765 Wh\n');
      expect(r.out).toMatch(/ {6}4 {2}storage-1 {2}switching/);
      expect(r.out).not.toContain('s3cret-community');
      const j = await cli('devices', 'probe', 'rack-pdu', '--json', '--config', demo.configDir);
      expect(JSON.parse(j.out)).toMatchObject({ device: 'rack-pdu', outletCount: 4, details: { profile: 'eaton-epdu' }, outlets: [{ outlet: 1, name: 'web-1', power: 'on' }, {}, {}, {}] });
      expect(agent.sets).toHaveLength(0);
    } finally {
      await agent.stop();
    }
  });

  it('`devices probe` names a device it does not know, or the problems of its file, with exit 2', async () => {
    const missing = await cli('devices', 'probe', 'nope', '--config', demo.configDir);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('no device "nope"');
    await demo.write('devices/rack-pdu.ini', '[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nversion = 3\n');
    const bad = await cli('devices', 'probe', 'rack-pdu', '--config', demo.configDir);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('devices/rack-pdu.ini:4: SNMPv3 needs a user');
  });
});
