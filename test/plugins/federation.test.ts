/**
 * Federation (docs/mqtt.md): three gateways on Debian's mosquitto, password listener with the
 * documented ACL, a dependency chain across them:
 *
 *   gw-a: storage-1  ←  gw-b: vm-1 (depends = gw-a:storage-1)  ←  gw-c: web-1 (depends = gw-b:vm-1)
 *
 * Gateway A runs in a process of its own (it is SIGKILLed), B and C in this one. Writes are
 * counted at each lab's simulated PDU (its state file, which carries the hardware's write log),
 * and the order across gateways is the order of those writes.
 * - `on` on C starts A's storage first, then B's VM host, then C's web server, each journaled on
 *   its gateway as asked by the gateway below it (`mqtt:USER`);
 * - `off` on A stops C first, then B, then A;
 * - the broker stopped mid-sequence: B and C wait (UNKNOWN, with why; nothing switched on a
 *   guess) and go on when it is back;
 * - A SIGKILLed: its will says offline; B blocks its VM host and C its web server, writing
 *   nothing; A restarted, the sequence finishes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfig } from '../../src/config/load.js';
import type { ActionRecord, Plan, TreeView } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { defaultRegistry } from '../../drivers/registry.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { silentLogger } from '../../src/log.js';
import { cliRunner } from '../support/cli.js';
import { REPO } from '../support/demo.js';
import { makeLab, type Lab, type LabServer } from '../support/lab.js';
import { MQTT_USERS, startMosquitto, type Mosquitto } from '../support/mosquitto.js';
import { describePeer, which } from '../support/peers.js';
import { chromium } from 'playwright-core';

const until = async (cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> => {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

type User = 'gw' | 'gw-b' | 'gw-c';

/**
 * docs/mqtt.md's ACL for federated gateways, as written there: each gateway owns its own tree,
 * reads the others' availability, needs and server states, and writes requests (and reads their
 * replies) only under its own user name.
 */
const FEDERATION_ACL = [
  ...(
    [
      ['gw', 'gw-a'],
      ['gw-b', 'gw-b'],
      ['gw-c', 'gw-c'],
    ] as const
  ).flatMap(([user, gateway]) => [
    `user ${user}`,
    `topic readwrite ockle/${gateway}/#`,
    'topic read ockle/+/availability',
    'topic read ockle/+/needs',
    'topic read ockle/+/server/+/state',
    '',
  ]),
  'user alice',
  'topic read ockle/#',
  '',
  'pattern readwrite ockle/+/user/%u/#',
  '',
].join('\n');
/** A one-server lab of gateway `gateway`, logged in to the broker as `user`, that takes requests from `peers`. */
async function gatewayLab(broker: Mosquitto, gateway: string, user: User, server: string, s: LabServer, peers: readonly string[]): Promise<Lab> {
  const lab = await makeLab({ [server]: s });
  const ini = join(lab.configDir, 'ockle.ini');
  const text = (await readFile(ini, 'utf8')).replace('enabled = auto-control', 'enabled = auto-control, mqtt');
  await writeFile(
    ini,
    `${text}\n[plugins.mqtt]\nbroker = mqtt://127.0.0.1:${broker.ports.auth}\ngateway = ${gateway}\nusername = ${user}\npassword = ${MQTT_USERS[user]}\n` +
      `roles = ${peers.map((p) => `${p}=operator`).join(', ')}\nhomeassistant = false\nreconnect_min = 100ms\nreconnect_max = 1s\nkeepalive = 5s\n`,
  );
  return lab;
}

interface SimFile {
  writes: number;
  log: { outlet: number; action: string; at: string }[];
}
/** What the lab's simulated PDU did, from its hardware file (written within 50 ms of a switch). */
const pdu = async (lab: Lab): Promise<SimFile> => {
  try {
    return JSON.parse(await readFile(join(lab.stateDir, 'sim', 'pdu-1.json'), 'utf8')) as SimFile;
  } catch {
    return { writes: 0, log: [] };
  }
};
const writes = async (lab: Lab): Promise<number> => (await pdu(lab)).writes;
const lastWrite = async (lab: Lab, action: 'on' | 'off'): Promise<number> => Date.parse([...(await pdu(lab)).log].reverse().find((l) => l.action === action)?.at ?? 'x');

// The browser globals the page callback below uses (it runs in Chromium, not in Node).
declare const document: { querySelector(selector: string): { textContent: string | null } | null };

describePeer('federation: three gateways, one dependency chain across them, on Debian mosquitto', ['mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', 'openssl', 'chromium'], () => {
  let broker: Mosquitto;
  let labA: Lab;
  let labB: Lab;
  let labC: Lab;
  let a: ChildProcess | null = null;
  let b: Daemon;
  let c: Daemon;
  const startA = (): void => {
    a = spawn(process.execPath, [join(REPO, 'dist', 'src', 'cli', 'main.js'), 'daemon', '--config', labA.configDir], { stdio: 'ignore' });
  };
  const cliA = cliRunner(() => labA.configDir);
  const cliC = cliRunner(() => labC.configDir);

  beforeAll(async () => {
    broker = await startMosquitto({ acl: FEDERATION_ACL });
    // A's broker user is `gw` (not its gateway name): B's roles name the user, as an ACL would.
    labA = await gatewayLab(broker, 'gw-a', 'gw', 'storage-1', { bootMs: 600 }, ['gw-b']);
    labB = await gatewayLab(broker, 'gw-b', 'gw-b', 'vm-1', { bootMs: 300, extra: 'dependencies = gw-a:storage-1' }, ['gw', 'gw-c']);
    labC = await gatewayLab(broker, 'gw-c', 'gw-c', 'web-1', { bootMs: 200, extra: 'dependencies = gw-b:vm-1' }, ['gw-b']);
    startA();
    b = await Daemon.start({ configDir: labB.configDir, log: silentLogger() });
    c = await Daemon.start({ configDir: labC.configDir, log: silentLogger() });
    // Every gateway knows the others it depends on, or that depend on it.
    await until(() => c.gateway.tree().remote.some((r) => r.ref === 'gw-b:vm-1' && r.state === 'OFF'), 'C sees gw-b:vm-1 OFF');
    await until(() => b.gateway.tree().remote.some((r) => r.ref === 'gw-a:storage-1' && r.state === 'OFF'), 'B sees gw-a:storage-1 OFF');
    await until(() => b.gateway.tree().remote.some((r) => r.ref === 'gw-c:web-1' && r.state === 'OFF'), 'B sees gw-c:web-1, which depends on it');
  }, 60_000);
  afterAll(async () => {
    if (a && a.exitCode === null) a.kill('SIGKILL');
    await b?.stop();
    await c?.stop();
    for (const l of [labA, labB, labC]) await l?.cleanup();
    await broker?.close();
  });

  const journal = (d: Daemon, id: string): ActionRecord => d.gateway.action(id);
  const finished = async (d: Daemon, id: string, ms = 30_000): Promise<ActionRecord> => {
    await until(() => journal(d, id).status !== 'running', `action ${id} finished`, ms);
    return journal(d, id);
  };

  it('shows the remote servers in the tree and the plan: C would ask gw-b to start vm-1', async () => {
    const tree: TreeView = c.gateway.tree();
    expect(tree.remote).toEqual([expect.objectContaining({ ref: 'gw-b:vm-1', gateway: 'gw-b', server: 'vm-1', state: 'OFF', neededBy: ['web-1'] })]);
    const plan: Plan = c.gateway.plan('on', ['web-1']);
    expect(plan.remote).toEqual([{ ref: 'gw-b:vm-1', state: 'OFF', reason: expect.any(String) as string, for: ['web-1'], ask: true }]);
    expect(c.gateway.server('web-1').remoteDependencies).toEqual(['gw-b:vm-1']);
    // B knows web-1 of C depends on its vm-1 (from C's retained state): an off of vm-1 stops it first.
    expect(b.gateway.server('vm-1').remoteDependents).toEqual(['gw-c:web-1']);
    const r = await cliC('plan', 'on', 'web-1');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/gw-b:vm-1/);
  });

  it('on --all at C starts A’s storage, then B’s VM host, then C’s web server, each asked through the broker', async () => {
    const r0 = await cliC('on', '--all', '--reason', 'federation on');
    expect(r0.code, r0.out + r0.err).toBe(0);
    const rec = c.gateway.actions({ limit: 5 }).find((x) => x.kind === 'on' && x.reason === 'federation on')!;
    const done = await finished(c, rec.id);
    expect(done.status, JSON.stringify(done.error)).toBe('ok');
    expect(await writes(labA)).toBe(1);
    expect(await writes(labB)).toBe(1);
    expect(await writes(labC)).toBe(1);
    const [ta, tb, tc] = [await lastWrite(labA, 'on'), await lastWrite(labB, 'on'), await lastWrite(labC, 'on')];
    expect(ta).toBeLessThan(tb);
    expect(tb).toBeLessThan(tc);
    // C asked B; B, for that request, asked A. Each is journaled on its gateway with who asked.
    expect(done.steps.some((s) => s.op === 'remote' && /asked gateway gw-b to switch vm-1 on/.test(s.detail))).toBe(true);
    const onB = b.gateway.actions({ limit: 20 }).find((x) => x.origin === 'mqtt:gw-c' && x.kind === 'on');
    expect(onB?.status).toBe('ok');
    expect(onB?.reason).toMatch(/web-1 depends on it/);
    expect(onB?.steps.some((s) => s.op === 'remote' && /asked gateway gw-a to switch storage-1 on/.test(s.detail))).toBe(true);
    const r = await cliA('actions', '--json');
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as { actions: ActionRecord[] }).actions.find((x) => x.kind === 'on')).toMatchObject({ origin: 'mqtt:gw-b', status: 'ok' });
  }, 60_000);

  it('the broker’s ACL keeps each gateway to its own tree: B can neither fake A’s storage nor ask A as C', async () => {
    const seen = await broker.sub({ topics: ['ockle/gw-a/#'], user: 'alice', retained: false });
    const w = await writes(labA);
    await broker.pub({ topic: 'ockle/gw-a/server/storage-1/state', message: '{"state":"OK","serving":true,"fake":1}', user: 'gw-b', retain: true });
    await broker.pub({ topic: 'ockle/gw-a/user/gw-c/server/storage-1/set', message: 'on', user: 'gw-b' });
    // A message alice may write, sent after both: once it arrives, they would have too.
    await broker.pub({ topic: 'ockle/gw-a/user/alice/marker', message: 'after', user: 'alice' });
    await seen.next((m) => m.topic === 'ockle/gw-a/user/alice/marker', { what: 'the marker' });
    expect(seen.messages.filter((m) => m.payload.includes('"fake"') || m.topic.endsWith('/gw-c/server/storage-1/set'))).toEqual([]);
    // B's view is still A's own state (the fake one has no power and no reason).
    expect(b.gateway.tree().remote.find((r) => r.ref === 'gw-a:storage-1')).toMatchObject({ state: 'OK', power: 'on', reason: expect.stringMatching(/.+/) as string });
    expect(await writes(labA)).toBe(w);
    await seen.close();
  });

  it('C’s dashboard draws gw-b:vm-1 dotted with its gateway, in the state the broker tells, and the edge to web-1', async () => {
    const browser = await chromium.launch({ executablePath: which('chromium')!, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(c.url + '/');
      await page.fill('input[name=token]', (await readFile(join(labC.stateDir, 'api-token'), 'utf8')).trim());
      await page.click('button[type=submit]');
      await page.waitForSelector('[data-live=live]');
      await page.waitForSelector('g.node.remote[data-remote="gw-b:vm-1"][data-state="OK"]');
      expect(await page.$eval('g.node.remote[data-remote="gw-b:vm-1"]', () => document.querySelector('g.node.remote')?.textContent ?? '')).toMatch(/vm-1.*OK.*gateway gw-b/);
      expect(await page.$$('polyline.edge.remote-edge')).toHaveLength(1);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('off at A stops C’s web server first, then B’s VM host, then the storage', async () => {
    const w = [await writes(labA), await writes(labB), await writes(labC)];
    const plan = await cliA('plan', 'off', 'storage-1');
    expect(plan.out).toContain('stopped first, on another gateway: gw-b:vm-1 (OK) for storage-1: its gateway is asked to switch it off');
    const r = await cliA('off', 'storage-1', '--reason', 'federation off');
    expect(r.code, r.out + r.err).toBe(0);
    await until(async () => (await writes(labA)) === w[0]! + 1, 'A switched storage-1 off');
    expect(await writes(labB)).toBe(w[1]! + 1);
    expect(await writes(labC)).toBe(w[2]! + 1);
    const [ta, tb, tc] = [await lastWrite(labA, 'off'), await lastWrite(labB, 'off'), await lastWrite(labC, 'off')];
    expect(tc).toBeLessThan(tb);
    expect(tb).toBeLessThan(ta);
    expect(c.gateway.actions({ limit: 5 }).find((x) => x.kind === 'off')).toMatchObject({ origin: 'mqtt:gw-b', status: 'ok' });
    expect(b.gateway.actions({ limit: 5 }).find((x) => x.kind === 'off')).toMatchObject({ origin: 'mqtt:gw', status: 'ok' });
  }, 60_000);

  it('the broker stopped mid-sequence: B and C wait on UNKNOWN, switch nothing, and finish once it is back', async () => {
    const w = [await writes(labA), await writes(labB), await writes(labC)];
    const rec = c.gateway.request({ kind: 'on', targets: ['web-1'], force: false, origin: 'api:test', reason: 'through a broker outage' });
    // A's storage is switching on (its boot takes 600 ms): the broker goes now.
    await until(async () => (await writes(labA)) === w[0]! + 1, 'A switched storage-1 on');
    await broker.stop();
    await until(() => journal(c, rec.id).steps.some((s) => s.op === 'remote' && !s.ok && /broker is unreachable/.test(s.detail)), 'C journals that it waits on the broker');
    // Long past every boot time: with the broker gone nothing more is switched on a guess.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await writes(labB)).toBe(w[1]);
    expect(await writes(labC)).toBe(w[2]);
    expect(journal(c, rec.id).status).toBe('running');
    expect(c.gateway.tree().remote[0]).toMatchObject({ ref: 'gw-b:vm-1', state: 'UNKNOWN' });
    // What a person looks at: the server says what it waits on, and why.
    const st = await cliC('status');
    expect(st.out).toMatch(/web-1.*waiting on gw-b:vm-1: the MQTT broker is unreachable/);
    await broker.start();
    const done = await finished(c, rec.id);
    expect(done.status, JSON.stringify(done.error)).toBe('ok');
    expect(await writes(labA)).toBe(w[0]! + 1);
    expect(await writes(labB)).toBe(w[1]! + 1);
    expect(await writes(labC)).toBe(w[2]! + 1);
  }, 90_000);

  it('A SIGKILLed: its will says offline, B and C block and write nothing; A back, the sequence finishes', async () => {
    // Everything off again, from A (which stops C and B first).
    const off = await cliA('off', 'storage-1');
    expect(off.code, off.out + off.err).toBe(0);
    await until(async () => (await pdu(labA)).log.at(-1)?.action === 'off', 'A off');
    const w = [await writes(labA), await writes(labB), await writes(labC)];
    a!.kill('SIGKILL');
    await until(() => b.gateway.tree().remote.some((r) => r.ref === 'gw-a:storage-1' && r.state === 'UNKNOWN' && r.reason === 'gateway gw-a is offline'), 'B sees A offline');
    const rec = c.gateway.request({ kind: 'on', targets: ['web-1'], force: false, origin: 'api:test', reason: 'with A down' });
    await until(() => b.gateway.actions({ limit: 5 }).some((x) => x.origin === 'mqtt:gw-c' && x.status === 'running' && x.steps.some((s) => s.op === 'remote' && /gateway gw-a is offline/.test(s.detail))), 'B waits on A, and says why');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await writes(labB)).toBe(w[1]);
    expect(await writes(labC)).toBe(w[2]);
    expect(b.gateway.server('vm-1')).toMatchObject({ state: 'OFF', reason: expect.stringContaining('waiting on gw-a:storage-1: gateway gw-a is offline') as string });
    startA();
    const done = await finished(c, rec.id, 60_000);
    expect(done.status, JSON.stringify(done.error)).toBe('ok');
    expect(await writes(labA)).toBe(w[0]! + 1);
    expect(await writes(labB)).toBe(w[1]! + 1);
    expect(await writes(labC)).toBe(w[2]! + 1);
  }, 120_000);

  it('C’s mqtt plugin restarted: what it said of B is dropped (UNKNOWN, why), learned again, and nothing is switched', async () => {
    const w = [await writes(labA), await writes(labB), await writes(labC)];
    const seen: string[] = [];
    const off = c.events.on('remote.changed', (e) => seen.push(`${e.server.state}: ${e.server.reason}`));
    const r = await cliC('plugins', 'restart', 'mqtt');
    expect(r.code, r.out + r.err).toBe(0);
    await until(() => c.gateway.tree().remote[0]?.state === 'OK' && seen.length >= 2, 'C knows gw-b:vm-1 again');
    off();
    expect(seen[0]).toMatch(/^UNKNOWN: the mqtt plugin is (stopping|stopped|starting)/);
    expect(seen.at(-1)).toMatch(/^OK: /);
    expect([await writes(labA), await writes(labB), await writes(labC)]).toEqual(w);
  }, 60_000);
});

describe('a dependency on another gateway in the configuration', () => {
  const check = async (serverExtra: string, pluginsLine: string, mqtt = ''): Promise<string[]> => {
    const lab = await makeLab({ 'web-1': { extra: serverExtra } });
    try {
      const ini = join(lab.configDir, 'ockle.ini');
      await writeFile(ini, (await readFile(ini, 'utf8')).replace('enabled = auto-control', pluginsLine) + mqtt);
      const { problems } = await checkConfig(lab.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
      return problems.filter((p) => p.severity === 'error').map((p) => `${p.file}:${p.line ?? ''} ${p.message} | ${p.hint ?? ''}`);
    } finally {
      await lab.cleanup();
    }
  };
  it('needs the mqtt plugin, named at its line with the fix', async () => {
    const errs = await check('dependencies = gw-a:storage-1', 'enabled = auto-control');
    expect(errs).toEqual([expect.stringMatching(/^servers\/web-1\.ini:5 dependency "gw-a:storage-1" is on another gateway, which needs the mqtt plugin.*Add mqtt to \[plugins\] enabled/)]);
  });
  it('refuses a malformed reference and one naming this very gateway; takes a good one', async () => {
    expect(await check('dependencies = gw a:storage-1', 'enabled = auto-control, mqtt')).toEqual([expect.stringMatching(/dependency "gw a:storage-1" is not GATEWAY:SERVER/)]);
    expect(await check('dependencies = home:storage-1', 'enabled = auto-control, mqtt', '\n[plugins.mqtt]\ngateway = home\n')).toEqual([expect.stringMatching(/names this gateway \(home\).*Name the server without the gateway: storage-1/)]);
    expect(await check('dependencies = gw-a:storage-1', 'enabled = auto-control, mqtt')).toEqual([]);
  });
});
