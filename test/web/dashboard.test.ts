/**
 * The dashboard in headless Chromium (Debian's chromium driven by playwright-core) against a
 * daemon on the demo config: the graph shows every server in its state's colour; switching
 * through the UI changes the simulated PDU and the colour follows; a sequence runs with visible
 * progress (shown again after leaving the tab and coming back; the graph marks the servers it
 * holds with an SVG hourglass, no emoji) and is cancelled; a viewer cannot switch; a chart draws
 * what the logger recorded, from 0, inside its card; on a phone every tab fits; the config view
 * masks secrets and checks an edited file. A PNG of each view is saved under
 * test-artifacts/dashboard/ (the README shows copies from docs/screenshots/).
 */
import { mkdirSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { generateToken } from '../../src/api/auth.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { STATE_STYLE } from '../../src/web/states.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';
import { describePeer, which } from '../support/peers.js';

// The few browser globals the page callbacks below use, declared here so the DOM library is not
// added to the whole (Node) program: these callbacks run in Chromium, not in Node.
declare const sessionStorage: { getItem(key: string): string | null };
interface Rect {
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
  readonly right: number;
  readonly width: number;
  readonly height: number;
}
interface El {
  getAttribute(name: string): string | null;
  getBoundingClientRect(): Rect;
  readonly textContent: string | null;
}
interface Canvas extends El {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
}
declare const document: { querySelector(selector: string): El | null; documentElement: { scrollWidth: number } };
declare function getComputedStyle(element: unknown): { stroke: string };

const SHOTS = join(REPO, 'test-artifacts', 'dashboard');
const viewer = generateToken();
const operator = generateToken();
const admin = generateToken();

describePeer('dashboard in Chromium', ['chromium'], () => {
  let demo: DemoCopy;
  let daemon: Daemon;
  let browser: Browser;
  const world = (): SimWorld => daemon.shared<SimWorld>('sim-world')!;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    demo = await demoConfig();
    const ini = (await demo.read('ockle.ini')).replace('log_resolution = 10s', 'log_resolution = 1s');
    await demo.write(
      'ockle.ini',
      ini +
        `\n[token.vera]\nrole = viewer\nsha256 = ${viewer.sha256}\n\n[token.otto]\nrole = operator\nsha256 = ${operator.sha256}\n\n[token.ada]\nrole = admin\nsha256 = ${admin.sha256}\n`,
    );
    // A device with a secret, to see it masked in the config view (nobody answers for it).
    await demo.write('devices/pdu-snmp.ini', '[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nport = 9\ncommunity = sup3r-s3cret\noutlets = 8\ntimeout = 200ms\nretries = 0\n');
    daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger() });
    browser = await chromium.launch({ executablePath: which('chromium')!, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    await demo?.cleanup();
  });

  async function signIn(token: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
    const page = await browser.newPage({ viewport });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    (page as Page & { errors: string[] }).errors = errors;
    await page.goto(daemon.url + '/');
    await page.fill('input[name=token]', token);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-live=live]');
    return page;
  }
  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const nodeState = (page: Page, server: string) => page.getAttribute(`a.node-link[data-server="${server}"]`, 'data-state');

  it('shows every server of the lab in the colour of its state, with a legend; the token is never in a URL', async () => {
    const page = await signIn(operator.token);
    await page.waitForSelector('a.node-link');
    const servers = daemon.gateway.servers();
    expect(await page.locator('a.node-link').count()).toBe(servers.length);
    for (const s of servers) {
      expect(await nodeState(page, s.name)).toBe(s.state);
      expect(await page.getAttribute(`a.node-link[data-server="${s.name}"] g`, 'class')).toContain(STATE_STYLE[s.state].cls);
    }
    // The colour comes from the state's class: OK is green, not the off grey.
    const fill = await page.$eval('a.node-link[data-server="web-1"] rect', (r) => getComputedStyle(r).stroke);
    expect(fill).toBe('rgb(46, 158, 91)');
    expect(await page.locator('.legend li').count()).toBeGreaterThanOrEqual(8);
    // Assumed-state relays are marked (the demo's relay-1 cannot report).
    expect(await page.getAttribute('a.node-link[data-server="backup"] g', 'class')).toContain('assumed');
    expect(page.url()).not.toContain(operator.token);
    expect(await page.evaluate(() => sessionStorage.getItem('ockle.token'))).toBe(operator.token);
    await shot(page, 'graph');
    const phone = await signIn(operator.token, { width: 390, height: 844 });
    await phone.waitForSelector('a.node-link');
    // On a phone the graph fits the width, and a list in dependency order is there to tap.
    expect(await phone.locator('.server-list li').count()).toBe(servers.length);
    expect(await phone.$eval('svg.graph', (svg) => svg.getBoundingClientRect().width)).toBeLessThanOrEqual(390);
    await shot(phone, 'graph-phone');
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
    await phone.close();
    await page.close();
  });

  it('shows every tab within a phone’s width, Config too, and nothing scrolls sideways', async () => {
    const phone = await signIn(admin.token, { width: 390, height: 844 });
    await phone.waitForSelector('a.node-link');
    const tabs = phone.locator('header nav a');
    expect(await tabs.allTextContents()).toEqual(['Lab', 'Sequence', 'Power', 'Actions', 'Devices', 'Plugins', 'Config']);
    for (let i = 0; i < (await tabs.count()); i++) {
      const box = (await tabs.nth(i).boundingBox())!;
      const name = (await tabs.nth(i).textContent()) ?? '';
      expect(box.x, name).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width, name).toBeLessThanOrEqual(390);
      expect(box.y + box.height, name).toBeLessThanOrEqual(844);
    }
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await phone.click('header nav a:has-text("Config")');
    await phone.waitForSelector('button[data-file="ockle.ini"]');
    expect(await phone.getAttribute('header nav a:has-text("Config")', 'class')).toBe('active');
    await phone.screenshot({ path: join(SHOTS, 'nav-phone.png') });
    // The Config view itself fits too: its file buttons wrap, a wide table scrolls in its section.
    await phone.waitForSelector('tr[data-key=log_level]');
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    for (const b of await phone.locator('.files button').all()) {
      const box = (await b.boundingBox())!;
      expect(box.x + box.width, (await b.textContent()) ?? '').toBeLessThanOrEqual(390);
    }
    await shot(phone, 'config-phone');
    await phone.close();
  });

  it('switches a server through the UI after naming what will be switched; the PDU and the colour follow', async () => {
    const page = await signIn(operator.token);
    await page.click('a.node-link[data-server="web-1"]');
    await page.waitForSelector('.server-view[data-server="web-1"]');
    const writes = world().writes('pdu-b').count;
    await page.click('button:has-text("Force off")');
    const dialog = page.locator('[role=dialog]');
    await expect(dialog.textContent()).resolves.toContain('exactly web-1’s outlets (pdu-b/4)');
    await dialog.locator('input[name=reason]').fill('browser test');
    await shot(page, 'confirm');
    await dialog.locator('button:has-text("Force off")').click();
    await page.waitForSelector('.action[data-status=ok]');
    expect(world().writes('pdu-b').count).toBe(writes + 1);
    expect(daemon.gateway.servers().find((s) => s.name === 'web-1')!.outlets[0]!.power).toBe('off');
    await page.waitForSelector('.server-view[data-state=FORCED_OFF]');
    await shot(page, 'server');
    await page.click('text=← the lab');
    await page.waitForSelector('a.node-link[data-server="web-1"][data-state=FORCED_OFF]');
    expect(await page.getAttribute('a.node-link[data-server="web-1"] g', 'class')).toContain('st-forced-off');
    const rec = daemon.gateway.actions({ limit: 1 })[0]!;
    expect(rec).toMatchObject({ kind: 'off', force: true, targets: ['web-1'], origin: 'web:otto', reason: 'browser test', status: 'ok' });
    // And back on, so the lab is whole again for the next test.
    await page.click('a.node-link[data-server="web-1"]');
    await page.click('button:has-text("Force on")');
    await page.locator('[role=dialog] button:has-text("Force on")').click();
    await page.waitForSelector('.action[data-status=ok]');
    await page.close();
  });

  it('switches one outlet from the Devices view after naming what it powers, and pauses a server for maintenance', async () => {
    const page = await signIn(operator.token);
    await page.goto(daemon.url + '/#/devices');
    const bound = daemon.gateway.devices().find((d) => d.id === 'pdu-b')!.outlets.find((o) => o.boundTo?.startsWith('web-2/'))!;
    const row = page.locator(`.device[data-device=pdu-b] tr[data-outlet="pdu-b/${bound.outlet}"]`);
    const writes = world().writes('pdu-b').count;
    await row.locator('button[data-switch=cycle]').click();
    const dialog = page.locator('[role=dialog]');
    await expect(dialog.textContent()).resolves.toContain(`It powers ${bound.boundTo}`);
    await dialog.locator('input[name=reason]').fill('outlet from the browser');
    await dialog.locator('button:has-text("Power-cycle")').click();
    await page.waitForFunction(() => !document.querySelector('[role=dialog]'));
    const rec = await daemon.gateway.waitFor(daemon.gateway.actions({ limit: 1 })[0]!.id);
    expect(rec).toMatchObject({ kind: 'cycle', force: true, outlets: [{ device: 'pdu-b', outlet: bound.outlet }], targets: ['web-2'], origin: 'web:otto', reason: 'outlet from the browser', status: 'ok' });
    expect(world().writes('pdu-b').count).toBeGreaterThan(writes);
    // Maintenance from the server view: shown there, and kept by the daemon.
    await page.goto(daemon.url + '/#/server/web-2');
    await page.click('button[data-maintenance]');
    await page.waitForSelector('[data-paused]');
    expect(await page.textContent('[data-paused]')).toContain('Paused for maintenance by web:otto');
    expect(daemon.gateway.server('web-2').paused).toMatchObject({ by: 'web:otto' });
    await page.click('button[data-maintenance]:has-text("Resume")');
    await page.waitForFunction(() => !document.querySelector('[data-paused]'));
    expect(daemon.gateway.server('web-2').paused).toBeNull();
    await page.close();
  });

  it('lets a viewer look but not switch', async () => {
    const page = await signIn(viewer.token);
    await page.goto(daemon.url + '/#/server/web-2');
    await page.waitForSelector('.server-view');
    expect(await page.locator('.switches button').count()).toBe(0);
    await expect(page.textContent('.server-view')).resolves.toContain('may look but not switch');
    expect(await page.locator('nav a[href="#/config"]').count()).toBe(0);
    // Even a hand-made request is refused by the daemon.
    const status = await page.evaluate(async () => {
      const token = sessionStorage.getItem('ockle.token');
      const res = await fetch('/api/servers/web-2/actions', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"action":"off","force":true}' });
      return res.status;
    });
    expect(status).toBe(403);
    await shot(page, 'viewer');
    await page.close();
  });

  it('draws the power the logger recorded, per device and per outlet', async () => {
    const page = await signIn(viewer.token);
    await page.goto(daemon.url + '/#/charts');
    await page.waitForFunction(() => Number(document.querySelector('.chart')?.getAttribute('data-points') ?? 0) >= 2, null, { timeout: 15_000 });
    expect(Number(await page.getAttribute('.chart', 'data-series'))).toBe(2); // pdu-a and pdu-b meter; relay-1 does not
    expect(await page.locator('.chart canvas').count()).toBe(1);
    // Watts and amps are drawn from 0 (the sim's outlets draw a steady load: an axis from the
    // data's minimum would show noise as a swing).
    expect(await page.getAttribute('.chart', 'data-y-min')).toBe('0');
    await page.selectOption('select[aria-label=Device]', 'pdu-a');
    await page.waitForFunction(() => Number(document.querySelector('.chart')?.getAttribute('data-series') ?? 0) === 8);
    expect(await page.getAttribute('.chart', 'data-y-min')).toBe('0');
    await expectChartInsideItsCard(page);
    await shot(page, 'charts');
    await page.selectOption('select[aria-label=What]', 'amps');
    await page.waitForFunction(() => document.querySelector('.chart')?.getAttribute('data-y-min') === '0');
    // On a phone too: the plot and its legend (8 outlets, wrapped) stay in the card.
    const phone = await signIn(viewer.token, { width: 390, height: 844 });
    await phone.goto(daemon.url + '/#/charts');
    await phone.waitForFunction(() => Number(document.querySelector('.chart')?.getAttribute('data-points') ?? 0) >= 2, null, { timeout: 15_000 });
    await phone.selectOption('select[aria-label=Device]', 'pdu-a');
    await phone.waitForFunction(() => Number(document.querySelector('.chart')?.getAttribute('data-series') ?? 0) === 8);
    await expectChartInsideItsCard(phone);
    await shot(phone, 'charts-phone');
    await phone.close();
    await page.close();
  });

  /**
   * uPlot's canvas and legend lie within the chart's card, and the last time label is drawn whole:
   * no ink in the canvas's last columns below the plot (a label cut by the canvas's edge leaves some).
   */
  async function expectChartInsideItsCard(page: Page): Promise<void> {
    const card = (await page.locator('.chart').boundingBox())!;
    for (const part of ['.chart canvas', '.chart .u-legend']) {
      const box = (await page.locator(part).boundingBox())!;
      expect(box.x, part).toBeGreaterThanOrEqual(card.x);
      expect(box.y, part).toBeGreaterThanOrEqual(card.y);
      expect(box.x + box.width, part).toBeLessThanOrEqual(card.x + card.width);
      expect(box.y + box.height, part).toBeLessThanOrEqual(card.y + card.height);
    }
    const ink = await page.$eval('.chart canvas', (canvas) => {
      const c = canvas as Canvas;
      const rect = c.getBoundingClientRect();
      const ratio = c.height / rect.height;
      // Below the plot area (uPlot's .u-over): the x axis, its ticks and labels.
      const top = Math.ceil((document.querySelector('.chart .u-over')!.getBoundingClientRect().bottom - rect.top) * ratio) + 1;
      const { data } = c.getContext('2d').getImageData(0, top, c.width, c.height - top);
      let right = -1;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) right = Math.max(right, ((i - 3) / 4) % c.width);
      // The rightmost inked column's distance from the canvas's right edge, in CSS pixels.
      return { margin: (c.width - 1 - right) / ratio, found: right >= 0 };
    });
    expect(ink.found).toBe(true);
    expect(ink.margin).toBeGreaterThanOrEqual(2);
  }

  it('lists actions and devices, and shows the config with secrets masked and a checker', async () => {
    const page = await signIn(admin.token);
    await page.goto(daemon.url + '/#/actions');
    await page.waitForSelector('table.journal tbody tr');
    await page.fill('input[aria-label=Filter]', 'browser test');
    expect(await page.locator('table.journal tbody tr').count()).toBe(1);
    await shot(page, 'actions');
    await page.goto(daemon.url + '/#/devices');
    await page.waitForSelector('.device[data-device="pdu-snmp"][data-reachable=false]');
    await shot(page, 'devices');
    // Plugins: their state; an admin restarts, disables and enables one (ockle.ini is edited
    // and reloaded for that plugin alone); its settings template with the values in effect; the
    // commands plugins registered, with their arguments.
    await page.goto(daemon.url + '/#/plugins');
    await page.waitForSelector('tr[data-plugin=logger][data-state=running]');
    await page.click('tr[data-plugin=timer-example] button:has-text("Restart")');
    await page.waitForSelector('tr[data-plugin=timer-example][data-state=running]');
    await page.click('tr[data-plugin=timer-example] button:has-text("Disable")');
    await page.waitForSelector('tr[data-plugin=timer-example][data-state=disabled]');
    expect(await demo.read('ockle.ini')).toMatch(/^enabled = (?!.*timer-example).*$/m);
    await page.click('tr[data-plugin=timer-example] button:has-text("Enable")');
    await page.waitForSelector('tr[data-plugin=timer-example][data-state=running]');
    await page.click('tr[data-plugin=logger] button:has-text("Settings")');
    await page.waitForSelector('[data-settings=logger] tr[data-key=log_resolution]');
    expect(await page.textContent('[data-settings=logger] tr[data-key=log_resolution]')).toContain('1s');
    await page.waitForSelector('table.commands tr[data-command="logger.query"]');
    await shot(page, 'plugins');
    await page.goto(daemon.url + '/#/config');
    await page.click('button[data-file="devices/pdu-snmp.ini"]');
    await page.waitForSelector('tr[data-key=community]');
    expect(await page.textContent('tr[data-key=community]')).toContain('[secret]');
    expect(await page.content()).not.toContain('sup3r-s3cret');
    await page.click('button[data-file="devices/pdu-a.ini"]');
    await page.waitForSelector('textarea[name=text][data-file="devices/pdu-a.ini"]');
    await page.fill('textarea[name=text]', '[device]\ntype = sim\noutlets = eight\n');
    await page.click('button:has-text("Check")');
    await page.waitForSelector('.check-result.bad');
    expect(await page.textContent('.check-result')).toMatch(/devices\/pdu-a\.ini:3.*eight/);
    await shot(page, 'config');
    expect(await demo.read('devices/pdu-a.ini')).toContain('outlets = 8');
    await page.close();
  });
  // Last: a cancelled off leaves servers halted with their power on, as it would in a real lab.
  it('runs a sequence from its plan with progress per server and wave, and cancels it', async () => {
    const page = await signIn(operator.token);
    await page.goto(daemon.url + '/#/sequence');
    await page.check('input[name=kind] >> nth=1'); // off
    await page.check('input[name=target][value="storage-1"]');
    await page.click('button:has-text("Show the plan")');
    await page.waitForSelector('.plan li[data-wave]');
    const planned = await page.locator('.plan .chip').count();
    expect(planned).toBeGreaterThan(3);
    await page.click('button:has-text("Run: off storage-1")');
    await page.locator('[role=dialog] input[name=reason]').fill('sequence test');
    await page.locator('[role=dialog] button:has-text("Switch off")').click();
    // Progress shows: some server has started; the bar moves.
    await page.waitForSelector('.chip[data-event=started]', { timeout: 15_000 }).catch(async (err: unknown) => {
      await shot(page, 'sequence-failed');
      throw err;
    });
    await page.waitForSelector('.action .progress');
    // Meanwhile the lab marks the servers the action holds with an hourglass drawn in SVG, not
    // the emoji (a missing-glyph box where no emoji font is installed).
    await page.click('header nav a:has-text("Lab")');
    await page.waitForSelector('a.node-link g svg[data-icon=hourglass]');
    const nodeText = await page.locator('svg.graph').textContent();
    expect(nodeText).not.toMatch(/\p{Emoji_Presentation}/u);
    expect(await page.locator('.server-list').textContent()).not.toMatch(/\p{Emoji_Presentation}/u);
    await shot(page, 'graph-action');
    // Back on Sequence, the running action, its plan and its progress are there again.
    await page.click('header nav a:has-text("Sequence")');
    await page.waitForSelector('.action[data-status=running] .progress');
    await page.waitForSelector('.plan .chip[data-event=started], .plan .chip[data-event=done]');
    expect(await page.isChecked('input[name=target][value="storage-1"]')).toBe(true);
    await shot(page, 'sequence');
    await page.click('button:has-text("Cancel action")');
    await page.waitForSelector('.action[data-status=cancelled]', { timeout: 20_000 });
    const rec = daemon.gateway.actions({ limit: 1 })[0]!;
    expect(rec).toMatchObject({ kind: 'off', targets: ['storage-1'], status: 'cancelled', origin: 'web:otto' });
    await page.close();
  }, 60_000);

  it('signs the user out with the reason when a config reload removes their token', async () => {
    const page = await signIn(viewer.token);
    await page.waitForSelector('a.node-link');
    const ini = await demo.read('ockle.ini');
    await demo.write('ockle.ini', ini.replace(/\[token\.vera\][^[]*/, ''));
    expect(await daemon.reload()).toBe(true);
    await page.waitForSelector('.login [role=alert]', { timeout: 15_000 });
    expect(await page.textContent('.login [role=alert]')).toContain('no longer accepts your token');
    expect(await page.evaluate(() => sessionStorage.getItem('ockle.token'))).toBeNull();
    await page.close();
  }, 30_000);

  it('says once, above every view, that the journal was repaired after a crash', async () => {
    await daemon.stop();
    await appendFile(join(demo.stateDir, 'journal.jsonl'), '{"t":"step","id":"a1","step":{"at":"');
    daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger() });
    const page = await signIn(operator.token);
    await page.waitForSelector('[data-journal-notice]');
    expect(await page.textContent('[data-journal-notice]')).toMatch(/the journal's last record was torn .*: 36 bytes dropped, of action a1/);
    await page.click('[data-journal-notice] button:has-text("dismiss")');
    expect(await page.locator('[data-journal-notice]').count()).toBe(0);
    await page.close();
  }, 30_000);
});
