/**
 * The dashboard and the API from a browser on the lab network, in headless Chromium (Debian's
 * chromium driven by playwright-core):
 *
 * - a page on another origin (127.0.0.2, with `anonymous_role = viewer` on the daemon) can
 *   neither run a plugin command (no-cors fetch, an auto-submitted form), nor read anything;
 * - a name rebound to the gateway's address (Chromium's host resolver maps rebind.test to
 *   127.0.0.1, as DNS rebinding would) gets 421 for the page and the API;
 * - layout: a 3000-character unbroken description wraps inside the page on a desktop and a
 *   phone; a right-to-left override in an action's reason leaves the time after it; a malformed
 *   percent-encoded hash shows the app, not a blank page;
 * - the dashboard over `tls = auto`, the browser trusting the certificate by its public key.
 *
 * Screenshots go to test-artifacts/hardening/. Nothing refused is run: plugin commands are
 * counted in the daemon's log, outlet writes at the simulated PDUs.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { generateToken } from '../../src/api/auth.js';
import { AUTO_CERT_FILE } from '../../src/api/tls.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { demoConfig, REPO, type DemoCopy } from '../support/demo.js';
import { makeLab, type Lab } from '../support/lab.js';
import { describePeer, which } from '../support/peers.js';

// Browser globals of the page callbacks (they run in Chromium, not in Node).
interface Rect {
  readonly left: number;
  readonly right: number;
  readonly top: number;
}
declare const document: {
  querySelector(selector: string): { getBoundingClientRect(): Rect; textContent: string | null } | null;
  documentElement: { scrollWidth: number; clientWidth: number };
  body: { appendChild(e: unknown): void };
  createElement(tag: string): Record<string, unknown> & { submit(): void; appendChild(e: unknown): void };
};

const SHOTS = join(REPO, 'test-artifacts', 'hardening');
const operator = generateToken();
const LONG = 'x'.repeat(3000);
const RLO = '\u202E';

describePeer('dashboard hardening in Chromium', ['chromium'], () => {
  let demo: DemoCopy;
  let daemon: Daemon;
  let browser: Browser;
  let attacker: Server;
  let attackerUrl = '';
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const commandsRun = (): number => lines.filter((l) => l.includes('"msg":"plugin command ran"')).length;
  const writes = (): number => {
    const w = daemon.shared<SimWorld>('sim-world')!;
    return ['pdu-a', 'pdu-b', 'relay-1'].reduce((n, d) => n + w.writes(d).count, 0);
  };

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    demo = await demoConfig();
    await demo.write(
      'ockle.ini',
      (await demo.read('ockle.ini')).replace(/^\[api\]\n/m, '[api]\nanonymous_role = viewer\n').replace(/^log_level = .*$/m, 'log_level = info') +
        `\n[token.otto]\nrole = operator\nsha256 = ${operator.sha256}\n`,
    );
    await demo.write('servers/web-1.ini', (await demo.read('servers/web-1.ini')).replace(/^description = .*$/m, `description = ${LONG}`));
    await demo.write('devices/pdu-a.ini', (await demo.read('devices/pdu-a.ini')).replace(/^description = .*$/m, `description = ${LONG}`));
    daemon = await Daemon.start({ configDir: demo.configDir, log: createLogger({ level: 'info', destination: sink }) });
    browser = await chromium.launch({
      executablePath: which('chromium')!,
      // rebind.test resolves to the gateway's address, as a rebinding DNS server would make it.
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--host-resolver-rules=MAP rebind.test 127.0.0.1'],
    });
    // The other site: a page of its own on another loopback address.
    attacker = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title><p>another site</p>'));
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.2', r));
    attackerUrl = `http://127.0.0.2:${(attacker.address() as AddressInfo).port}/`;
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => attacker?.close(r));
    await daemon?.stop();
    await demo?.cleanup();
  });

  async function page(viewport = { width: 1280, height: 900 }): Promise<Page & { errors: string[] }> {
    const p = (await browser.newPage({ viewport })) as Page & { errors: string[] };
    p.errors = [];
    p.on('pageerror', (e) => p.errors.push(e.message));
    return p;
  }
  async function signIn(viewport?: { width: number; height: number }): Promise<Page & { errors: string[] }> {
    const p = await page(viewport);
    await p.goto(daemon.url + '/');
    await p.fill('input[name=token]', operator.token);
    await p.click('button[type=submit]');
    await p.waitForSelector('[data-live=live]');
    return p;
  }
  const shot = (p: Page, name: string) => p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  it('a page on another site cannot run a plugin command or read the API, even with anonymous_role = viewer', async () => {
    // The control: the same command, asked for as the dashboard asks (anonymous viewer), runs.
    await expect.poll(async () => (await fetch(`${daemon.url}/api/commands`)).json(), { timeout: 20_000 }).toMatchObject({ commands: expect.arrayContaining([expect.objectContaining({ name: 'metrics.endpoint' })]) as unknown });
    const direct = await fetch(`${daemon.url}/api/commands/metrics.endpoint`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(direct.status).toBe(200);
    expect(commandsRun()).toBe(1);

    const p = await page();
    await p.goto(attackerUrl);
    const target = `${daemon.url}/api/commands/metrics.endpoint`;
    const outcome = await p.evaluate(async (url: string) => {
      const noCors = await fetch(url, { method: 'POST', mode: 'no-cors', body: '{}' }).then((r) => r.type, (e: Error) => e.message);
      const noCorsBodyless = await fetch(url, { method: 'POST', mode: 'no-cors' }).then((r) => r.type, (e: Error) => e.message);
      // A JSON POST needs a preflight, which the API does not grant: the browser never sends it.
      const json = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then((r) => String(r.status), (e: Error) => e.name);
      // Reading as the anonymous viewer: no CORS header, so nothing comes back to the page.
      const read = await fetch(url.replace(/\/api\/.*/, '/api/servers')).then((r) => String(r.status), (e: Error) => e.name);
      return { noCors, noCorsBodyless, json, read };
    }, target);
    expect(outcome).toEqual({ noCors: 'opaque', noCorsBodyless: 'opaque', json: 'TypeError', read: 'TypeError' });
    // A form posted across sites (text/plain, the one body type a form can send that looks like JSON).
    const navigated = p.waitForURL(target);
    await p.evaluate((url: string) => {
      const f = document.createElement('form');
      Object.assign(f, { method: 'POST', action: url, enctype: 'text/plain' });
      const i = document.createElement('input');
      Object.assign(i, { type: 'hidden', name: '{"a":"', value: '"}' });
      f.appendChild(i);
      document.body.appendChild(f);
      f.submit();
    }, target);
    await navigated;
    expect(await p.textContent('body')).toContain('OCKLE_API_CROSS_SITE');
    await shot(p, 'cross-site-form');
    expect(commandsRun()).toBe(1);
    await p.close();
  });

  it('a rebound name gets 421 for the page and the API (DNS rebinding)', async () => {
    const before = writes();
    const p = await page();
    const port = new URL(daemon.url).port;
    const res = await p.goto(`http://rebind.test:${port}/`);
    expect(res?.status()).toBe(421);
    expect(await p.textContent('body')).toContain('OCKLE_API_HOST');
    const api = await p.evaluate(async () => {
      const r = await fetch('/api/servers');
      const s = await fetch('/api/servers/web-1/actions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"action":"off","force":true}' });
      return [r.status, s.status];
    });
    expect(api).toEqual([421, 421]);
    await shot(p, 'rebinding');
    expect(writes()).toBe(before);
    await p.close();
  });

  it('wraps a 3000-character description inside the page, on a desktop and on a phone', async () => {
    for (const viewport of [
      { width: 1280, height: 900 },
      { width: 390, height: 844 },
    ]) {
      const p = await signIn(viewport);
      for (const [view, ready] of [
        ['#/server/web-1', '[data-description]'],
        ['#/devices', '[data-device="pdu-a"]'],
        ['#/graph', 'a.node-link'],
      ] as const) {
        await p.evaluate((h: string) => void (location.hash = h), view);
        await p.waitForSelector(ready);
        const widths = await p.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
        expect(widths[0], `${view} at ${viewport.width} px`).toBeLessThanOrEqual(widths[1]!);
      }
      await p.evaluate(() => void (location.hash = '#/server/web-1'));
      await p.waitForSelector('[data-description]');
      expect(await p.textContent('[data-description]')).toBe(LONG);
      await shot(p, `long-description-${viewport.width}`);
      expect(p.errors).toEqual([]);
      await p.close();
    }
  });

  it('keeps the time after a reason holding a right-to-left override', async () => {
    const reason = `${RLO}disk swap`;
    const res = await fetch(`${daemon.url}/api/servers/backup/actions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${operator.token}` },
      body: JSON.stringify({ action: 'off', force: true, reason }),
    });
    expect(res.status).toBe(202);
    const { action } = (await res.json()) as { action: { id: string } };
    await daemon.gateway.waitFor(action.id);
    const p = await signIn();
    await p.evaluate(() => void (location.hash = '#/actions'));
    await p.click(`tr[data-action="${action.id}"]`);
    await p.waitForSelector(`section[data-action="${action.id}"] [data-reason]`);
    const box = await p.evaluate((id: string) => {
      const r = document.querySelector(`section[data-action="${id}"] [data-reason]`)!.getBoundingClientRect();
      const t = document.querySelector(`section[data-action="${id}"] .meta time`)!.getBoundingClientRect();
      return { reasonRight: r.right, timeLeft: t.left, sameLine: Math.abs(r.top - t.top) < 2 };
    }, action.id);
    // In a left-to-right line the time stays to the right of the reason, on the same line.
    expect(box.sameLine).toBe(true);
    expect(box.timeLeft).toBeGreaterThan(box.reasonRight);
    expect(await p.textContent(`section[data-action="${action.id}"] [data-reason]`)).toBe(reason);
    await shot(p, 'rtl-override-reason');
    expect(p.errors).toEqual([]);
    await p.close();
  });

  it('shows the app for a malformed percent-encoded hash instead of a blank page', async () => {
    const p = await signIn();
    for (const hash of ['#/server/%E0%A4%A', '#/%', '#/server/%']) {
      await p.goto(`${daemon.url}/${hash}`);
      await p.waitForSelector('header nav a');
      expect(await p.locator('header nav a').count(), hash).toBeGreaterThanOrEqual(6);
    }
    await shot(p, 'malformed-hash');
    expect(p.errors).toEqual([]);
    await p.close();
  });
});

describePeer('dashboard over tls = auto in Chromium', ['chromium'], () => {
  let lab: Lab;
  let daemon: Daemon;
  let browser: Browser;
  beforeAll(async () => {
    lab = await makeLab({ a: {}, b: { deps: ['a'] } });
    const ini = join(lab.configDir, 'ockle.ini');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(ini, (await readFile(ini, 'utf8')).replace('[api]\nport = 0\n', '[api]\nport = 0\ntls = auto\n'));
    daemon = await Daemon.start({ configDir: lab.configDir, log: silentLogger() });
    // The browser trusts exactly this certificate's public key, as a user who checked the
    // fingerprint once would: not every certificate.
    const spki = new X509Certificate(await readFile(join(lab.stateDir, AUTO_CERT_FILE))).publicKey.export({ type: 'spki', format: 'der' });
    browser = await chromium.launch({
      executablePath: which('chromium')!,
      args: ['--headless', '--no-sandbox', '--disable-gpu', `--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    await lab?.cleanup();
  });

  it('signs in, follows live events and switches over HTTPS', async () => {
    expect(daemon.url).toMatch(/^https:/);
    const p = await browser.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    await p.goto(`${daemon.url}/`);
    await p.fill('input[name=token]', (await readFile(join(lab.stateDir, 'api-token'), 'utf8')).trim());
    await p.click('button[type=submit]');
    await p.waitForSelector('[data-live=live]');
    await p.waitForSelector('a.node-link[data-server="a"]');
    const world = daemon.shared<SimWorld>('sim-world')!;
    const before = world.writes('pdu-1').count;
    // The dashboard's own request (JSON, X-Ockle-Client) passes the guards.
    const status = await p.evaluate(async () => {
      const token = sessionStorage.getItem('ockle.token');
      const r = await fetch('/api/servers/a/actions', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-ockle-client': 'web' }, body: '{"action":"on","force":true,"reason":"tls test"}' });
      return r.status;
    });
    expect(status).toBe(202);
    await expect.poll(() => world.writes('pdu-1').count, { timeout: 10_000 }).toBe(before + 1);
    await p.screenshot({ path: join(SHOTS, 'https.png'), fullPage: true });
    expect(errors).toEqual([]);
    await p.close();
  });
});

declare const sessionStorage: { getItem(key: string): string | null };
declare const location: { hash: string };
