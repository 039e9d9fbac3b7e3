/**
 * Issue 17, done when "an operator can build the demo lab from an empty config in the dashboard
 * alone": a daemon on a config directory holding only a minimal ockle.ini (no devices, no
 * servers) and, in headless Chromium, nothing but the dashboard — two sim devices, three servers
 * with outlets, tests and a dependency chain (storage → vm-host → web), [servers] defaults and a
 * plugin setting in the ockle.ini form, auto-control enabled in the Plugins view. Then the
 * directory passes `config check`, the daemon knows the three servers with their dependencies,
 * the Lab graph shows them, and a sequenced `on` of web brings all three up, in order.
 * PNGs go to test-artifacts/empty-lab/ (docs/screenshots/ockle-ini-form.png is a copy of ockle-ini-form.png).
 */
import { mkdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultRegistry } from '../../drivers/registry.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { generateToken } from '../../src/api/auth.js';
import { checkConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { REPO } from '../support/demo.js';
import { describePeer, which } from '../support/peers.js';

const SHOTS = join(REPO, 'test-artifacts', 'empty-lab');
const admin = generateToken();

describePeer('building a lab from an empty config in the dashboard alone (Chromium)', ['chromium'], () => {
  let root: string;
  let configDir: string;
  let daemon: Daemon;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    root = await mkdtemp(join(tmpdir(), 'ockle-empty-'));
    configDir = join(root, 'config');
    // ockle.ini alone: no devices/ nor servers/ yet (the first device and server saved from the
    // dashboard make them).
    await mkdir(configDir, { recursive: true });
    await writeFile(
      join(configDir, 'ockle.ini'),
      `[daemon]\nstate_dir = ../state\nlog_level = warn\n\n[api]\nport = 0\n\n[token.ada]\nrole = admin\nsha256 = ${admin.sha256}\n`,
    );
    daemon = await Daemon.start({ configDir, log: silentLogger() });
    browser = await chromium.launch({ executablePath: which('chromium')!, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(daemon.url + '/');
    await page.fill('input[name=token]', admin.token);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-live=live]');
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const shot = async (name: string): Promise<void> => {
    await page.locator('header').evaluate((h: { style: { position: string } }) => void (h.style.position = 'static'));
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };
  const tab = async (name: string): Promise<void> => {
    await page.click(`header nav a:has-text("${name}")`);
  };
  const saved = async (pattern: RegExp): Promise<void> => {
    await page.click('[data-save]');
    await page.waitForSelector('[data-saved]');
    expect(await page.textContent('[data-saved]')).toMatch(pattern);
  };

  it('starts with no devices and no servers', () => {
    expect(daemon.gateway.devices()).toEqual([]);
    expect(daemon.gateway.servers()).toEqual([]);
  });

  it('creates two sim devices of 8 outlets', async () => {
    await tab('Config');
    await page.waitForSelector('[data-new=device]');
    for (const name of ['pdu-a', 'pdu-b']) {
      await page.click('[data-new=device]');
      await page.fill('input[name=name]', name);
      expect(await page.inputValue('[data-form=device] [data-key=type] select')).toBe('sim');
      await page.fill('[data-form=device] [data-key=outlets] input', '8');
      await page.fill('[data-form=device] [data-key=switch_latency] input', '50ms');
      await page.waitForSelector('[data-dry-run=ok]');
      await saved(new RegExp(`devices/${name}\\.ini saved .*reloaded`));
      await page.waitForSelector(`[data-edit="device:${name}"]`);
    }
    expect(daemon.gateway.devices().map((d) => d.id).sort()).toEqual(['pdu-a', 'pdu-b']);
  }, 60_000);

  it('creates storage, vm-host and web, each on an outlet, with a test, depending in a chain', async () => {
    const servers = [
      { name: 'storage', device: 'pdu-a', outlet: '1', dep: null },
      { name: 'vm-host', device: 'pdu-a', outlet: '2', dep: 'storage' },
      { name: 'web', device: 'pdu-b', outlet: '1', dep: 'vm-host' },
    ];
    for (const s of servers) {
      await page.click('[data-new=server]');
      await page.fill('input[name=name]', s.name);
      await page.fill('[data-form=server] [data-key=description] input', `The ${s.name} server`);
      await page.click('[data-add=outlet]');
      await page.selectOption('tr[data-outlet-row=power] select[name=device]', s.device);
      await page.fill('tr[data-outlet-row=power] input[name=outlet]', s.outlet);
      await page.click('[data-add=test]');
      await page.selectOption('[data-section=test] [data-key=type] select', 'sim');
      await page.fill('[data-section=test] [data-key=boot_time] input', '1s');
      if (s.dep) await page.check(`input[name="dep:${s.dep}"]`);
      await page.waitForSelector('[data-dry-run=ok]');
      if (s.name === 'web') await shot('create-web');
      await saved(new RegExp(`servers/${s.name}\\.ini saved .*reloaded`));
      await page.waitForSelector(`[data-edit="server:${s.name}"]`);
    }
  }, 90_000);

  it('enables auto-control in the Plugins view, then sets its max_parallel and the [servers] defaults in the ockle.ini form', async () => {
    await tab('Plugins');
    await page.click('tr[data-plugin=auto-control] button:has-text("Enable")');
    await page.waitForSelector('tr[data-plugin=auto-control]:not([data-state=disabled])');

    await tab('Config');
    await page.click('[data-edit=main]');
    await page.waitForSelector('[data-form=main]');
    // The enable made in the Plugins view is in the form; restart-only keys say so.
    expect(await page.isChecked('[data-main-section=plugins] input[name="enabled:auto-control"]')).toBe(true);
    expect(await page.textContent('[data-main-section=api] [data-key=port] label')).toContain('applies at the next restart');
    await page.click('[data-main-section="plugins.auto-control"] summary');
    await page.fill('[data-main-section="plugins.auto-control"] [data-key=max_parallel] input', '4');
    await page.click('[data-main-section=servers] summary');
    await page.fill('[data-main-section=servers] [data-key=test_interval] input', '200ms');
    expect(await page.textContent('[data-form=main] [data-preview]')).toContain(
      'add-section [servers]; set [servers] test_interval; add-section [plugins.auto-control]; set [plugins.auto-control] max_parallel',
    );
    await shot('ockle-ini');
    await page.locator('[data-form=main]').screenshot({ path: join(SHOTS, 'ockle-ini-form.png') });
    await saved(/ockle\.ini saved .*reloaded/);
    const ini = await readFile(join(configDir, 'ockle.ini'), 'utf8');
    expect(ini).toMatch(/^\[plugins\.auto-control\]\nmax_parallel = 4$/m);
    expect(ini).toMatch(/^\[servers\]\ntest_interval = 200ms$/m);
    expect(ini).toMatch(/^\[token\.ada\]$/m);
    expect(ini).toMatch(/^enabled = auto-control$/m);
  }, 60_000);

  it('leaves a lab that passes config check, that the daemon runs, that the graph shows and that a sequenced on brings up in order', async () => {
    const { problems } = await checkConfig(configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
    const servers = daemon.gateway.servers();
    expect(servers.map((s) => [s.name, s.dependencies]).sort()).toEqual([
      ['storage', []],
      ['vm-host', ['storage']],
      ['web', ['vm-host']],
    ]);

    await tab('Lab');
    await page.waitForSelector('svg.graph');
    const graph = (await page.locator('svg.graph').textContent()) ?? '';
    for (const n of ['storage', 'vm-host', 'web']) expect(graph).toContain(n);

    const action = await daemon.gateway.waitFor(daemon.gateway.request({ kind: 'on', targets: ['web'], force: false, origin: 'api:test', reason: 'empty lab' }).id);
    expect(action.status).toBe('ok');
    const up = (name: string): number => action.steps.findIndex((s) => s.server === name && s.op === 'switch');
    expect(up('storage')).toBeGreaterThanOrEqual(0);
    expect(up('storage')).toBeLessThan(up('vm-host'));
    expect(up('vm-host')).toBeLessThan(up('web'));
    for (const s of daemon.gateway.servers()) expect(s.state).toBe('OK');
    await page.waitForTimeout(500);
    await shot('lab');
    expect(errors).toEqual([]);
  }, 90_000);
});
