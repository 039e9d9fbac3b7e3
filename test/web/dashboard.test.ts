/**
 * The dashboard in headless Chromium (Debian's chromium driven by playwright-core) against a
 * daemon on the demo config: the graph shows every server in its state's colour; switching
 * through the UI changes the simulated PDU and the colour follows; a sequence runs with visible
 * progress and is cancelled; a viewer cannot switch; a chart draws what the logger recorded;
 * the config view masks secrets and checks an edited file. A PNG of each view is saved under
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
declare const document: { querySelector(selector: string): { getAttribute(name: string): string | null } | null };
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
    await page.selectOption('select[aria-label=Device]', 'pdu-a');
    await page.waitForFunction(() => Number(document.querySelector('.chart')?.getAttribute('data-series') ?? 0) === 8);
    await shot(page, 'charts');
    await page.close();
  });

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
