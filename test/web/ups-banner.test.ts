/**
 * The UPS banner and view in headless Chromium (Debian's chromium driven by playwright-core)
 * against a daemon on a copy of the demo config, whose simulated UPS feeds two servers of tier 1
 * with short delays. A drill through the API (POST /api/ups/NAME/simulate with the admin token)
 * cuts the mains: the banner appears with the power, the charge and the stage as the monitor
 * words them, live from the event stream; the UPS view shows the stages done, what the restore
 * brings back, the plan and the charge/load history the logger recorded. Mains back: the banner
 * stays through the restore and is gone once the event ends. The sim PDUs' write logs say the
 * banner told what really happened. PNGs under test-artifacts/ups/.
 */
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';
import { describePeer, which } from '../support/peers.js';

// The browser globals the page callbacks below use, declared here so the DOM library is not
// added to the whole (Node) program: these callbacks run in Chromium, not in Node.
interface El {
  getAttribute(name: string): string | null;
}
declare const document: { querySelector(selector: string): El | null; documentElement: { scrollWidth: number } };

const SHOTS = join(REPO, 'test-artifacts', 'ups');
/** The two servers the UPS feeds: tier 1 of the demo (web-2 needs vm-3). */
const FED = ['web-2', 'vm-3'];

describePeer('UPS banner and view in Chromium', ['chromium'], () => {
  let demo: DemoCopy;
  let daemon: Daemon;
  let browser: Browser;
  let token: string;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    demo = await demoConfig();
    await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace('log_resolution = 10s', 'log_resolution = 1s'));
    // The demo's UPS with short delays, feeding only tier 1 (so the drill takes seconds).
    await demo.write(
      'ups/rack-ups.ini',
      [
        '[ups]',
        'type = sim',
        'description = Rack UPS (simulated)',
        'poll_interval = 100ms',
        'battery_runtime = 20m',
        'recharge_time = 1h',
        '',
        '[policy]',
        `servers = ${FED.join(', ')}`,
        'on_battery_delay = 1s',
        'tier_interval = 0s',
        'min_runtime = 0s',
        'min_charge = 10',
        'restore_delay = 1s',
        'restore_min_charge = 0',
        '',
      ].join('\n'),
    );
    daemon = await Daemon.start({ configDir: demo.configDir, log: silentLogger() });
    token = (await readFile(join(demo.stateDir, 'api-token'), 'utf8')).trim();
    browser = await chromium.launch({ executablePath: which('chromium')!, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    await demo?.cleanup();
  });

  async function signIn(viewport = { width: 1280, height: 900 }): Promise<Page & { errors: string[] }> {
    const page = (await browser.newPage({ viewport })) as Page & { errors: string[] };
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && page.errors.push(m.text()));
    await page.goto(daemon.url + '/');
    await page.fill('input[name=token]', token);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-live=live]');
    return page;
  }
  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  /** A drill, as `ockle ups simulate` sends it: the admin token, JSON. */
  const simulate = async (body: Record<string, unknown>): Promise<void> => {
    const res = await fetch(`${daemon.url}/api/ups/rack-ups/simulate`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status, await res.clone().text()).toBe(200);
  };
  /** Every write the sim devices saw for the fed servers' outlets, in order. */
  const writes = (): string[] => {
    const world = daemon.shared<SimWorld>('sim-world')!;
    const outlets = new Map(FED.flatMap((s) => daemon.gateway.server(s).outlets.map((o) => [`${o.device}/${o.outlet}`, s] as const)));
    return [...new Set([...outlets.keys()].map((k) => k.split('/')[0]!))]
      .flatMap((d) => world.writes(d).log.filter((w) => outlets.has(`${d}/${w.outlet}`)).map((w) => ({ at: w.at, text: `${w.action} ${outlets.get(`${d}/${w.outlet}`)}` })))
      .sort((a, b) => a.at.localeCompare(b.at))
      .map((w) => w.text);
  };

  it('shows the banner on battery, with charge and stage, and takes it away once mains is back and the event ends', async () => {
    // 1. The fed servers serve before the cut (the demo's sim boots them at start).
    await expect.poll(() => FED.map((s) => daemon.gateway.server(s).state), { timeout: 60_000 }).toEqual(['OK', 'OK']);
    const page = await signIn();
    await page.goto(daemon.url + '/#/charts');
    await page.waitForSelector('.ups-card[data-ups="rack-ups"]');
    expect(await page.locator('.ups-banner').count()).toBe(0);
    expect(await page.textContent('.ups-card[data-ups="rack-ups"]')).toContain('on mains');

    // 2. The mains fails: the banner comes with the event stream, before any stage.
    await simulate({ power: 'battery', chargePct: 80 });
    const banner = page.locator('.ups-banner[data-ups="rack-ups"]');
    await banner.waitFor();
    expect(await banner.getAttribute('data-power')).toBe('battery');
    const text = (await banner.textContent()) ?? '';
    expect(text).toContain('UPS rack-ups on battery');
    // 80 % as the drill set it (79 % once the simulated battery has drained 1 %, 12 s later).
    expect(text).toMatch(/charge (80|79) %/);
    // 3. After on_battery_delay tier 1 sheds both servers; then the banner says every tier is shed.
    await page.waitForSelector('.ups-banner[data-stage="shedding"] [data-detail]:text-matches("every tier is shed")', { timeout: 60_000 });
    expect(await banner.locator('[data-stage-label]').textContent()).toBe('shedding load');
    expect(writes()).toEqual(['off web-2', 'off vm-3']);
    await shot(page, 'banner-on-battery');

    // 4. The UPS view, from the banner's link: the stage done, what the restore brings back, the plan, the history.
    await banner.locator('a.ups-open').click();
    await page.waitForSelector('.ups-view[data-ups="rack-ups"] [data-done="tier-1"]');
    expect(page.url()).toContain('#/ups/rack-ups');
    expect(await page.getAttribute('header nav a:has-text("Power")', 'class')).toBe('active');
    expect(await page.textContent('[data-restore-brings]')).toMatch(/web-2/);
    expect(await page.textContent('[data-restore-brings]')).toMatch(/vm-3/);
    await page.waitForSelector('table.ups-plan tr[data-stage="restore"]');
    expect(await page.textContent('table.ups-plan tr[data-stage="restore"]')).toMatch(/vm-3 → web-2/);
    // charge, load and on-battery (the logger samples every second here).
    await page.waitForFunction(() => Number(document.querySelector('.ups-history .chart')?.getAttribute('data-series') ?? 0) === 3, null, { timeout: 20_000 });
    expect(await page.getAttribute('.ups-history .chart', 'data-y-min')).toBe('0');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
    await shot(page, 'ups-view');

    // 5. Mains back: the banner stays through the restore (the event is open), then goes.
    await simulate({ power: 'mains' });
    await page.waitForSelector('.ups-banner[data-power="mains"]', { timeout: 60_000 });
    await banner.waitFor({ state: 'detached', timeout: 90_000 });
    expect(await page.locator('.ups-view [data-policy]').textContent()).toMatch(/^normal/);
    expect(await page.textContent('.ups-view')).toContain('No power event is open.');
    // Exactly the two servers off, then back on, dependencies first: what the banner reported.
    expect(writes()).toEqual(['off web-2', 'off vm-3', 'on vm-3', 'on web-2']);
    await shot(page, 'banner-gone');
    expect(page.errors).toEqual([]);
    await page.close();
  }, 240_000);

  it('shows a silent UPS as unknown in the banner, with its alarm, and starts nothing', async () => {
    const before = writes().length;
    const page = await signIn({ width: 390, height: 844 });
    await simulate({ power: 'silent' });
    const banner = page.locator('.ups-banner[data-ups="rack-ups"][data-power="unknown"]');
    await banner.waitFor();
    const text = (await banner.textContent()) ?? '';
    expect(text).toContain('silent (state unknown)');
    expect(text).toMatch(/source silent/);
    expect(text).not.toContain('charge');
    // On a phone the banner wraps within the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(page, 'banner-silent-phone');
    // The UPS view fits a phone too (its tables wrap), the source's error said in it.
    await page.locator('.ups-banner a.ups-open').click();
    await page.waitForSelector('.ups-view[data-power="unknown"] table.ups-plan');
    expect(await page.textContent('.ups-view .error')).toMatch(/does not answer/);
    expect(await page.textContent('.ups-view tr[data-reading="Charge"] td')).toMatch(/^\d+ % \(last known\)$/);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(page, 'ups-view-silent-phone');
    await simulate({ power: 'mains' });
    await banner.waitFor({ state: 'detached' });
    expect(writes().length).toBe(before);
    expect(page.errors).toEqual([]);
    await page.close();
  }, 60_000);
});
