/**
 * An old action whose steps the journal dropped to stay within its size (src/core/journal.ts):
 * the journal as it is written on disk, read by a real daemon, shown by `ockle action ID`.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionJournal } from '../../src/core/journal.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { LOCAL_TOKEN_FILE } from '../../src/config/paths.js';
import { cliRunner } from '../support/cli.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';
import { describePeer, which } from '../support/peers.js';

describe('ockle action of an action whose steps were not kept', () => {
  let demo: DemoCopy;
  let daemon: Daemon;
  let old = '';
  let newest = '';
  const cli = cliRunner(() => demo.configDir);
  beforeAll(async () => {
    demo = await demoConfig();
    await mkdir(demo.stateDir, { recursive: true });
    // Sequences of 40 servers (~11 kB each) in a journal of 60 kB: the older ones lose their steps.
    const j = await ActionJournal.open(demo.stateDir, { maxFileBytes: 60_000 });
    for (let run = 0; run < 10; run++) {
      const a = j.start({ kind: 'on', targets: ['web-1'], force: false, origin: 'api:alice', reason: `run ${run}` });
      for (let i = 0; i < 40; i++) {
        j.step(a.id, { server: `s${i}`, device: 'pdu-a', outlet: i + 1, op: 'switch', ok: true, detail: `on sent to pdu-a outlet ${i + 1}` });
        j.step(a.id, { server: `s${i}`, op: 'up', ok: true, detail: `s${i} serves after 20.0 s`, ms: 20_000 });
      }
      j.step(a.id, { server: 's0', op: 'failed', ok: false, detail: 'attempt 1 of 3: tests did not pass within boot_timeout 60.0 s' });
      await new Promise((r) => setImmediate(r));
      j.finish(a.id, 'ok');
      newest = a.id;
    }
    await j.close();
    daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), monitor: false });
    // An old action that lost its steps before the file was last compacted (so the file holds it
    // so); the newest kept them all.
    old = daemon.gateway.actions({ limit: 100 }).find((a) => a.stepsDropped !== undefined)?.id ?? 'none trimmed';
  });
  afterAll(async () => {
    await daemon?.stop();
    await demo?.cleanup();
  });

  it('shows what was kept (the failure and the boot times) and says how many other steps were not', async () => {
    const r = await cli('action', old);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('attempt 1 of 3: tests did not pass within boot_timeout 60.0 s');
    expect(r.out.match(/ up: s\d+ serves after 20\.0 s/g)).toHaveLength(40);
    expect(r.out).not.toContain(' switch: ');
    expect(r.out).toContain('(40 more steps not kept: for an old action the journal keeps only its failures and learned boot times)');
    const last = await cli('action', newest);
    expect(last.out.match(/ switch: /g)).toHaveLength(40);
    expect(last.out).not.toContain('not kept');
    const json = JSON.parse((await cli('action', old, '--json')).out) as { stepsDropped?: number };
    expect(json.stepsDropped).toBe(40);
  });

  describePeer('and in the dashboard', ['chromium'], () => {
    it('the dashboard says so under the steps it shows', async () => {
      const browser = await chromium.launch({ executablePath: which('chromium')!, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
      try {
        const page = await browser.newPage();
        await page.goto(daemon.url + '/');
        await page.fill('input[name=token]', (await readFile(join(demo.stateDir, LOCAL_TOKEN_FILE), 'utf8')).trim());
        await page.click('button[type=submit]');
        await page.goto(daemon.url + '/#/actions');
        await page.click(`tr[data-action="${old}"]`);
        const note = page.locator('[data-steps-dropped]');
        await note.waitFor();
        expect(await note.getAttribute('data-steps-dropped')).toBe('40');
        expect(await note.textContent()).toContain('40 more steps not kept');
      } finally {
        await browser.close();
      }
    }, 60_000);
  });
});
