/**
 * The example plugin shipped in examples/plugins/state-watch (an Ockle-style plugin: settings in
 * Ockle's INI template format, reacts to server state changes, registers a command), installed
 * as a user would: copied into <config>/plugins/ and enabled in ockle.ini.
 */
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../drivers/registry.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { checkConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';

describe('example plugin: state-watch', () => {
  let demo: DemoCopy;
  beforeAll(async () => {
    demo = await demoConfig();
    await cp(join(REPO, 'examples', 'plugins', 'state-watch'), join(demo.configDir, 'plugins', 'state-watch'), { recursive: true });
    const ini = await demo.read('ockle.ini');
    await demo.write('ockle.ini', ini.replace(/^enabled = (.*)$/m, 'enabled = $1, state-watch') + '\n[plugins.state-watch]\nKEEP = 2000\n');
  });
  afterAll(() => demo.cleanup());

  it('checks its Ockle-template settings at ockle.ini:line', async () => {
    const r = await checkConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    const line = (await demo.read('ockle.ini')).split('\n').indexOf('KEEP = 2000') + 1;
    expect(r.problems).toContainEqual(expect.objectContaining({ file: 'ockle.ini', line, message: expect.stringMatching(/2000 is out of range/) as string, severity: 'error' }));
    await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace('KEEP = 2000', 'KEEP = 5'));
  });

  it('records the state changes an action causes and answers its command', async () => {
    const d = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), port: 0, monitor: false });
    try {
      for (let i = 0; i < 200 && d.plugins().find((p) => p.name === 'state-watch')?.state !== 'running'; i++) await new Promise((r) => setTimeout(r, 25));
      const server = d.gateway.servers().find((s) => s.state === 'OK')!.name;
      const rec = d.gateway.request({ kind: 'off', targets: [server], force: true, origin: 'test', reason: 'example plugin test' });
      expect((await d.gateway.waitFor(rec.id)).status).toBe('ok');
      const token = (await demo.read('../state/api-token')).trim();
      const ask = async () => {
        const res = await fetch(`${d.url}/api/commands/state-watch.recent`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ server }) });
        return ((await res.json()) as { result: { server: string; state: string }[] }).result;
      };
      let got = await ask();
      for (let i = 0; i < 100 && !got.some((c) => c.state === 'FORCED_OFF'); i++) got = (await new Promise((r) => setTimeout(r, 25)), await ask());
      expect(got[0]).toMatchObject({ server, state: 'FORCED_OFF' });
      expect(got.every((c) => c.server === server)).toBe(true);
      expect(got.length).toBeLessThanOrEqual(5);
    } finally {
      await d.stop();
    }
  });
});
