/**
 * The API answers while the devices' first reads are on the wire, and holds every change until
 * they are done: a PDU that does not answer at start delays actions up to its timeout, never the
 * dashboard or `ockle status`, and nothing is decided on a state not read yet. Real SNMP agents
 * on 127.0.0.1; the SETs each saw are counted.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { API_INFO_FILE, LOCAL_TOKEN_FILE, type ApiInfo } from '../../src/config/paths.js';
import type { Health } from '../../src/core/gateway.js';
import type { ActionRecord, ServerStatus } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { REPO } from '../support/demo.js';
import { behaviour, onSetFor } from '../support/pdu-behaviour.js';
import { loadRecording, TestAgent } from '../support/snmp-agent.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'snmp');
const STATUS = '1.3.6.1.4.1.318.1.1.12.3.5.1.1.4'; // APC rPDUOutletStatusOutletState (1 on, 2 off)

let root: string | undefined;
let daemon: Daemon | undefined;
const agents: TestAgent[] = [];
afterEach(async () => {
  await daemon?.stop();
  for (const a of agents.splice(0)) await a.stop();
  if (root) await rm(root, { recursive: true, force: true });
  daemon = undefined;
  root = undefined;
});

/** Two APC PDUs; `solo` on pdu-a outlet 3 (off), `other` on pdu-b outlet 3 (off). pdu-b is silent. */
async function lab(): Promise<{ a: TestAgent; b: TestAgent; dir: string; stateDir: string }> {
  const rec = (): TestAgent => new TestAgent({ data: loadRecording(join(FIXTURES, 'apc-rpdu.snmprec')), onSet: onSetFor(behaviour('apc', [])) });
  const a = await rec().start();
  const b = await rec().start();
  agents.push(a, b);
  b.silent = true;
  root = await mkdtemp(join(tmpdir(), 'ockle-start-reading-'));
  const dir = join(root, 'config');
  await mkdir(join(dir, 'devices'), { recursive: true });
  await mkdir(join(dir, 'servers'), { recursive: true });
  await writeFile(join(dir, 'ockle.ini'), `[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n[plugins]\nenabled = auto-control\n`);
  // pdu-b's first read gives up after 2 s: the window in which the API must already answer.
  const dev = (port: number): string =>
    `[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nport = ${port}\ncommunity = public\nwrite_community = private\nrequest_timeout = 2s\ntimeout = 2s\nretries = 0\npoll_interval = 1h\nconfirm_timeout = 1s\n`;
  await writeFile(join(dir, 'devices', 'pdu-a.ini'), dev(a.port));
  await writeFile(join(dir, 'devices', 'pdu-b.ini'), dev(b.port));
  for (const [name, device] of [['solo', 'pdu-a'], ['other', 'pdu-b']])
    await writeFile(join(dir, 'servers', `${name}.ini`), `[server]\nhost = 127.0.0.1\noutlets = feed\n[feed]\ndevice = ${device}\noutlet = 3\n`);
  return { a, b, dir, stateDir: join(root, 'state') };
}

describe('the start with a PDU that does not answer', () => {
  it('answers reads at once, holds a switch until the states are read, then switches once', async () => {
    const { a, b, dir, stateDir } = await lab();
    let started = false;
    const starting = Daemon.start({ configDir: dir, log: silentLogger(), monitor: false }).then((d) => {
      started = true;
      return (daemon = d);
    });
    // The API's address is published when it listens: before pdu-b's read has given up.
    while (!existsSync(join(stateDir, API_INFO_FILE)) && !started) await new Promise((r) => setTimeout(r, 5));
    expect(started).toBe(false);
    const { url } = JSON.parse(await readFile(join(stateDir, API_INFO_FILE), 'utf8')) as ApiInfo;
    const token = (await readFile(join(stateDir, LOCAL_TOKEN_FILE), 'utf8')).trim();
    const get = async <T,>(path: string): Promise<T> => (await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } })).json() as Promise<T>;

    const health = await get<Health>('/api/health');
    expect(health.status).toBe('starting');
    const { servers } = await get<{ servers: ServerStatus[] }>('/api/servers');
    expect(servers.find((s) => s.name === 'other')).toMatchObject({ state: 'UNKNOWN', reason: 'feed not read yet' });
    expect(started).toBe(false);

    // A forced on of solo (pdu-a answers) asked now: held, nothing written, nothing journaled.
    let answeredBeforeStart: boolean | undefined;
    const post = fetch(`${url}/api/actions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'on', targets: ['solo'], force: true, reason: 'asked during the start' }),
    }).then(async (res) => {
      answeredBeforeStart = !started;
      return { status: res.status, body: (await res.json()) as { action: ActionRecord } };
    });
    // A request with a wrong token is refused at once, not held.
    const wrong = await fetch(`${url}/api/actions`, { method: 'POST', headers: { authorization: 'Bearer nope', 'content-type': 'application/json' }, body: '{}' });
    expect(wrong.status).toBe(401);
    expect(started).toBe(false);
    expect(a.sets).toEqual([]);

    const d = await starting;
    const { status, body } = await post;
    expect(answeredBeforeStart).toBe(false);
    expect(status).toBe(202);
    const rec = await d.gateway.waitFor(body.action.id);
    expect(rec.status).toBe('ok');
    // One SET, on the outlet that read off, after the read: never a guess, never doubled.
    expect(a.sets.map((s) => `${s.oid.split('.').pop()}=${String(s.value.value)}`)).toEqual(['3=1']);
    expect(b.sets).toEqual([]);
    expect(a.data.get(`${STATUS}.3`)?.value).toBe(1);
    expect(d.gateway.health().status).toBe('degraded');
    expect(d.gateway.health().unreachableDevices).toEqual(['pdu-b']);
    expect(d.gateway.server('other')).toMatchObject({ state: 'UNKNOWN', reason: 'pdu-b unreachable' });
    expect((await get<Health>('/api/health')).status).toBe('degraded');
  });
});
