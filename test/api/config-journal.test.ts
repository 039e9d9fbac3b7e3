/**
 * A configuration change is journaled with the power actions (issue 17): kind `config`, who,
 * which file and why, one step per changed line, secrets masked; it switches nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken } from '../../src/api/auth.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';

describe('config changes in the action journal', () => {
  let demo: DemoCopy;
  let d: Daemon;
  const ada = generateToken();
  const SECRET = 'n0t-in-the-journal';
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${d.url}${path}`, { method, headers: { authorization: `Bearer ${ada.token}`, ...(body !== undefined && { 'content-type': 'application/json' }) }, ...(body !== undefined && { body: JSON.stringify(body) }) });
  beforeAll(async () => {
    demo = await demoConfig();
    await demo.write('ockle.ini', (await demo.read('ockle.ini')) + `\n[token.ada]\nrole = admin\nsha256 = ${ada.sha256}\n`);
    await demo.write('devices/pdu-snmp.ini', `[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nport = 9\ncommunity = old-community\noutlets = 8\ntimeout = 200ms\nretries = 0\n`);
    d = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), port: 0, monitor: false });
  });
  afterAll(async () => {
    await d.stop();
    await demo.cleanup();
  });

  it('journals who changed which file and which lines, secrets masked', async () => {
    const file = (await (await call('GET', '/api/config/files/devices/pdu-snmp.ini')).json()) as { version: string };
    const res = await call('POST', '/api/config/edit', { file: 'devices/pdu-snmp.ini', version: file.version, edits: [{ op: 'set', section: 'device', key: 'community', value: SECRET }, { op: 'set', section: 'device', key: 'timeout', value: '300ms' }] });
    expect(res.status).toBe(200);
    const rec = d.gateway.actions({ limit: 5 }).find((a) => a.kind === 'config')!;
    expect(rec).toMatchObject({ kind: 'config', targets: [], origin: 'api:ada', status: 'ok', reason: expect.stringMatching(/^edit devices\/pdu-snmp\.ini: 2 line\(s\) removed, 2 added \(history c/) as string });
    const details = rec.steps.map((s) => s.detail);
    expect(details).toEqual(['devices/pdu-snmp.ini:5: - community = [secret]', 'devices/pdu-snmp.ini:5: + community = [secret]', 'devices/pdu-snmp.ini:7: - timeout = 200ms', 'devices/pdu-snmp.ini:7: + timeout = 300ms']);
    expect(details.some((x) => /community = \[secret\]/.test(x))).toBe(true);
    expect(JSON.stringify(d.gateway.actions({ limit: 50 }))).not.toContain(SECRET);
    expect(JSON.stringify(d.gateway.actions({ limit: 50 }))).not.toContain('old-community');
  });
});
