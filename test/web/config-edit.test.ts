/**
 * Editing the lab from the dashboard (issue 17), in headless Chromium against a daemon on a copy
 * of the demo config: a server is created from the schema's form (an outlet, a dependency),
 * known to the daemon after the reload, then deleted; a device key is edited on its line with
 * the comments kept; a file changed behind the page's back is a 409 shown as "changed
 * elsewhere" with nothing written; an outlet out of range is refused at file:line with the file
 * byte for byte as it was; viewers and operators see no editing controls. PNGs go to
 * test-artifacts/config-edit/ (docs/screenshots/config-edit.png is a copy of config-edit.png).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { generateToken } from '../../src/api/auth.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';
import { describePeer, which } from '../support/peers.js';

const SHOTS = join(REPO, 'test-artifacts', 'config-edit');
const viewer = generateToken();
const operator = generateToken();
const admin = generateToken();

describePeer('config editing in the dashboard (Chromium)', ['chromium'], () => {
  let demo: DemoCopy;
  let daemon: Daemon;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    demo = await demoConfig();
    const ini = await demo.read('ockle.ini');
    await demo.write(
      'ockle.ini',
      ini +
        `\n[token.vera]\nrole = viewer\nsha256 = ${viewer.sha256}\n\n[token.otto]\nrole = operator\nsha256 = ${operator.sha256}\n\n[token.ada]\nrole = admin\nsha256 = ${admin.sha256}\n`,
    );
    daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger() });
    browser = await chromium.launch({ executablePath: which('chromium')!, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    await demo?.cleanup();
  });

  async function signIn(token: string): Promise<Page & { errors: string[] }> {
    const page = (await browser.newPage({ viewport: { width: 1280, height: 900 } })) as Page & { errors: string[] };
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(e.message));
    await page.goto(daemon.url + '/');
    await page.fill('input[name=token]', token);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-live=live]');
    return page;
  }
  async function configTab(page: Page): Promise<void> {
    await page.click('header nav a:has-text("Config")');
    await page.waitForSelector('[data-new=server]');
  }
  // The sticky header would be drawn across the middle of a full-page or element shot (set
  // through the element's style: the page's CSP refuses an added style sheet).
  const shot = async (page: Page, name: string): Promise<void> => {
    await page.locator('header').evaluate((h: { style: { position: string } }) => void (h.style.position = 'static'));
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };
  const get = (path: string, token = admin.token) => fetch(daemon.url + path, { headers: { authorization: `Bearer ${token}` } });

  it('serves the forms’ schema to admins only: each key with its kind, range, choices and help', async () => {
    expect((await get('/api/config/schema', operator.token)).status).toBe(403);
    const res = await get('/api/config/schema');
    expect(res.status).toBe(200);
    const s = (await res.json()) as {
      main: Record<string, { key: string }[]>;
      server: { server: { key: string; kind: string; min?: number; max?: number }[]; outlet: { key: string; required: boolean }[] };
      devices: { common: { key: string }[]; types: { type: string; keys: { key: string; secret: boolean }[] }[] };
      tests: { types: { type: string }[] };
    };
    expect(Object.keys(s.main)).toEqual(expect.arrayContaining(['daemon', 'api', 'servers', 'plugins', 'plugins.logger']));
    expect(s.server.server.find((k) => k.key === 'max_attempts')).toMatchObject({ kind: 'int', min: 1, max: 20 });
    expect(s.server.outlet.map((k) => [k.key, k.required])).toEqual([
      ['device', true],
      ['outlet', true],
    ]);
    expect(s.devices.types.find((t) => t.type === 'snmp-pdu')?.keys.find((k) => k.key === 'community')?.secret).toBe(true);
    expect(s.tests.types.map((t) => t.type)).toContain('sim');
  });

  it('creates a server with an outlet and a dependency from the form; the daemon knows it after the reload; then deletes it', async () => {
    const page = await signIn(admin.token);
    await configTab(page);
    await page.click('[data-new=server]');
    await page.fill('input[name=name]', 'nas');
    await page.fill('[data-form=server] [data-key=description] input', 'Network storage');
    await page.fill('[data-form=server] [data-key=host] input', 'nas.lab.example');
    // The form is the schema's: a range on max_attempts, a select of on_shutdown_timeout, help text.
    expect(await page.getAttribute('[data-key=max_attempts] input', 'max')).toBe('20');
    expect(await page.locator('[data-key=on_shutdown_timeout] select option').allTextContents()).toEqual(['default (fail)', 'cut', 'fail']);
    expect(await page.textContent('[data-key=boot_timeout] .help')).toMatch(/Overrides \[servers\] boot_timeout\. \(duration .*; default 5m\)/);
    await page.click('[data-add=outlet]');
    await page.selectOption('tr[data-outlet-row=power] select[name=device]', 'pdu-a');
    await page.fill('tr[data-outlet-row=power] input[name=outlet]', '6');
    await page.check('input[name="dep:core-switch"]');
    await page.waitForSelector('[data-dry-run=ok]');
    expect(await page.textContent('[data-preview-outlets]')).toBe('pdu-a/6');
    await shot(page, 'create-server');
    await page.locator('.lab-editor').screenshot({ path: join(SHOTS, 'config-edit.png') });
    await page.click('[data-save]');
    await page.waitForSelector('[data-saved]');
    expect(await page.textContent('[data-saved]')).toMatch(/servers\/nas\.ini saved .*reloaded/);
    const text = await demo.read('servers/nas.ini');
    expect(text).toMatch(/^\[server\]$/m);
    expect(text).toMatch(/^outlets = power$/m);
    expect(text).toMatch(/^dependencies = core-switch$/m);
    expect(text).toMatch(/^\[power\]\ndevice = pdu-a\noutlet = 6$/m);
    const res = await get('/api/servers/nas');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'nas' });
    expect(daemon.gateway.tree().edges).toContainEqual({ from: 'nas', to: 'core-switch' });

    // Editing core-switch: the servers that depend on it cannot be chosen (a cycle).
    await page.click('[data-edit="server:core-switch"]');
    await page.waitForSelector('[data-form=server][data-file="servers/core-switch.ini"]');
    expect(await page.isDisabled('input[name="dep:nas"]')).toBe(true);
    expect(await page.isDisabled('input[name="dep:web-1"]')).toBe(true);
    expect(await page.textContent('[data-preview-dependents]')).toContain('nas');
    await page.click('button:has-text("Cancel")');

    // Delete it.
    await page.click('[data-edit="server:nas"]');
    await page.waitForSelector('[data-form=server][data-file="servers/nas.ini"]');
    await page.click('[data-delete]');
    await page.click('[data-delete-confirm]');
    await page.waitForSelector('[data-saved]:has-text("deleted")');
    await expect(demo.read('servers/nas.ini')).rejects.toThrow(/ENOENT/);
    expect((await get('/api/servers/nas')).status).toBe(404);
    // The list is read again after the message shows: wait for it rather than race it.
    await page.waitForSelector('[data-edit="server:nas"]', { state: 'detached' });
    expect(page.errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('creates a device from the form (its type’s keys), the daemon reads it after the reload, then deletes it; no outlet is written', async () => {
    const page = await signIn(admin.token);
    await configTab(page);
    const writes = (): number => ['pdu-a', 'pdu-b', 'relay-1'].reduce((n, id) => n + daemon.shared<SimWorld>('sim-world')!.writes(id).count, 0);
    const before = writes();
    await page.click('[data-new=device]');
    await page.fill('input[name=name]', 'spare-pdu');
    expect(await page.inputValue('[data-form=device] [data-key=type] select')).toBe('sim');
    await page.fill('[data-form=device] [data-key=outlets] input', '4');
    await page.waitForSelector('[data-dry-run=ok]');
    await page.click('[data-save]');
    await page.waitForSelector('[data-saved]');
    expect(await demo.read('devices/spare-pdu.ini')).toMatch(/^type = sim$/m);
    for (let i = 0; i < 100 && !daemon.gateway.devices().some((d) => d.id === 'spare-pdu'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(daemon.gateway.devices().find((d) => d.id === 'spare-pdu')).toMatchObject({ outletCount: 4 });
    await page.waitForSelector('[data-edit="device:spare-pdu"]');
    await page.click('[data-edit="device:spare-pdu"]');
    await page.waitForSelector('[data-form=device][data-file="devices/spare-pdu.ini"]');
    await page.click('[data-delete]');
    await page.click('[data-delete-confirm]');
    await page.waitForSelector('[data-saved]:has-text("deleted")');
    await expect(demo.read('devices/spare-pdu.ini')).rejects.toThrow(/ENOENT/);
    for (let i = 0; i < 100 && daemon.gateway.devices().some((d) => d.id === 'spare-pdu'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(daemon.gateway.devices().some((d) => d.id === 'spare-pdu')).toBe(false);
    expect(writes()).toBe(before);
    await page.close();
  }, 60_000);

  it('edits a device key on its own line, keeping the comments', async () => {
    const before = await demo.read('devices/pdu-b.ini');
    const page = await signIn(admin.token);
    await configTab(page);
    await page.click('[data-edit="device:pdu-b"]');
    await page.waitForSelector('[data-form=device] [data-key=description] input');
    // The type is a select of the outlet drivers; the sim driver's keys follow it.
    expect(await page.locator('[data-key=type] select option').allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(/^snmp-pdu/), expect.stringMatching(/^sim/)]));
    expect(await page.locator('[data-form=device] [data-key=load_watts]').count()).toBe(1);
    expect(await page.textContent('[data-preview-bound]')).toContain('web-2 (pdu-b/5)');
    await page.fill('[data-form=device] [data-key=description] input', 'Rack A PDU feed B, edited');
    await page.waitForSelector('[data-dry-run=ok]');
    await shot(page, 'edit-device');
    await page.click('[data-save]');
    await page.waitForSelector('[data-saved]');
    expect(await demo.read('devices/pdu-b.ini')).toBe(before.replace(/^description = .*$/m, 'description = Rack A PDU feed B, edited'));
    expect(daemon.gateway.devices().find((d) => d.id === 'pdu-b')).toMatchObject({ description: 'Rack A PDU feed B, edited' });
    await page.close();
  }, 60_000);

  it('shows a save against a stale version as changed elsewhere, writes nothing, and reloads on request', async () => {
    const page = await signIn(admin.token);
    await configTab(page);
    await page.click('[data-edit="server:web-2"]');
    await page.waitForSelector('[data-form=server] [data-key=description] input');
    await page.fill('[data-form=server] [data-key=description] input', 'mine');
    const byHand = (await demo.read('servers/web-2.ini')).replace(/^host = .*$/m, 'host = web-2b.lab.example');
    await demo.write('servers/web-2.ini', byHand);
    await page.click('[data-save]');
    await page.waitForSelector('[data-outcome=conflict]');
    expect(await page.textContent('[data-outcome=conflict]')).toContain('Changed elsewhere');
    await shot(page, 'conflict');
    expect(await demo.read('servers/web-2.ini')).toBe(byHand);
    await page.click('[data-reload]');
    await page.waitForSelector('[data-outcome=conflict]', { state: 'detached' });
    expect(await page.inputValue('[data-form=server] [data-key=host] input')).toBe('web-2b.lab.example');
    await page.close();
  }, 60_000);

  it('two browsers editing one server at once: the first save lands, the second is shown as changed elsewhere and writes nothing', async () => {
    const a = await signIn(admin.token);
    const b = await signIn(admin.token);
    for (const page of [a, b]) {
      await configTab(page);
      await page.click('[data-edit="server:web-2"]');
      await page.waitForSelector('[data-form=server] [data-key=description] input');
    }
    await a.fill('[data-form=server] [data-key=description] input', 'from browser A');
    await b.fill('[data-form=server] [data-key=description] input', 'from browser B');
    await a.click('[data-save]');
    await a.waitForSelector('[data-saved]');
    const afterA = await demo.read('servers/web-2.ini');
    expect(afterA).toContain('description = from browser A');
    await b.click('[data-save]');
    await b.waitForSelector('[data-outcome=conflict]');
    expect(await b.textContent('[data-outcome=conflict]')).toContain('Changed elsewhere');
    expect(await demo.read('servers/web-2.ini')).toBe(afterA); // B wrote nothing
    await a.close();
    await b.close();
  }, 60_000);

  it('refuses an outlet out of range at file:line, changing nothing', async () => {
    const before = await demo.read('servers/web-2.ini');
    const line = before.split('\n').findIndex((l) => l.startsWith('outlet =')) + 1;
    const page = await signIn(admin.token);
    await configTab(page);
    await page.click('[data-edit="server:web-2"]');
    await page.waitForSelector('tr[data-outlet-row=power] input[name=outlet]');
    await page.fill('tr[data-outlet-row=power] input[name=outlet]', '99');
    // The dry run says so before saving; the save is refused all the same.
    await page.waitForSelector('[data-dry-run=bad]');
    await page.click('[data-save]');
    await page.waitForSelector('[data-outcome=invalid]');
    expect(await page.locator(`[data-outcome=invalid] [data-problem="servers/web-2.ini:${line}"]`).count()).toBe(1);
    await shot(page, 'refused');
    expect(await demo.read('servers/web-2.ini')).toBe(before);
    await page.close();
  }, 60_000);

  it('shows no editing controls to viewers and operators', async () => {
    for (const t of [viewer.token, operator.token]) {
      const page = await signIn(t);
      expect(await page.locator('header nav a:has-text("Config")').count()).toBe(0);
      await page.goto(daemon.url + '/#/config');
      await page.waitForSelector('main p:has-text("shown to admins")');
      expect(await page.locator('[data-new], [data-edit], [data-save], .file-form').count()).toBe(0);
      await page.close();
    }
  }, 60_000);
});
