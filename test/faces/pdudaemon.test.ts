/**
 * The PDUDaemon face against the reference: Debian's `pdudaemon` (its HTTP listener, a
 * localcmdline PDU writing each switch to a file) and ockle's face get the same requests, sent
 * with curl the way LAVA device dictionaries send them, good and bad; status codes and bodies
 * are compared side by side, and the writes each side made are counted (the sim PDU's own
 * counter for ockle). Faults are injected at the sim PDU (stuck relay, no answer).
 */
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { generateToken } from '../../src/api/auth.js';
import type { ActionRecord } from '../../src/core/model.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { describePeer } from '../support/peers.js';
import { makePduLab, type PduLab } from './pdudaemon-lab.js';
import { startPduDaemon, type PduDaemonPeer } from './pdudaemon-peer.js';

const run = promisify(execFile);

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly headers: string;
}

/** One request as a LAVA device dictionary sends it: curl, from `from` (a loopback source address). */
async function curl(url: string, o: { from?: string; method?: string; head?: boolean } = {}): Promise<Reply> {
  const args = ['-s', '-S', '-i', '--max-time', '60', ...(o.from ? ['--interface', o.from] : []), ...(o.method ? ['-X', o.method] : []), ...(o.head ? ['-I'] : []), url];
  const { stdout } = await run('curl', args);
  const at = stdout.indexOf('\r\n\r\n');
  const headers = stdout.slice(0, at);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)![1]), headers, body: stdout.slice(at + 4) };
}

describePeer('PDUDaemon face beside Debian pdudaemon', ['pdudaemon', 'curl'], () => {
  let lab: PduLab;
  let d: Daemon;
  let pd: PduDaemonPeer;
  const logLines: string[] = [];
  const lava = generateToken();
  const viewer = generateToken();
  const world = (): SimWorld => d.shared<SimWorld>('sim-world')!;
  const simWrites = (dev: string, from: number): string[] => world().writes(dev).log.slice(from).map((w) => `${w.outlet} ${w.action}`);
  /** The same request to both; the writes each made (pdudaemon's pdu-a file, ockle's sim pdu-a). */
  const both = async (path: string, o: { from?: string; method?: string; head?: boolean } = {}) => {
    const pdBefore = pd.writes('pdu-a').length;
    const ockleBefore = world().writes('pdu-a').log.length;
    const pdudaemon = await curl(`${pd.url}${path}`, o);
    const ockle = await curl(`${d.pdudaemonUrl}${path}`, o);
    return { pdudaemon, ockle, pdWrites: pd.writes('pdu-a').slice(pdBefore), ockleWrites: simWrites('pdu-a', ockleBefore) };
  };
  const newActions = (since: string | undefined): ActionRecord[] => {
    const all = d.gateway.actions({ limit: 100 });
    const at = since === undefined ? all.length : all.findIndex((a) => a.id === since);
    return all.slice(0, at).reverse();
  };
  const newest = (): string | undefined => d.gateway.actions({ limit: 1 })[0]?.id;

  beforeAll(async () => {
    lab = await makePduLab({
      pdudaemon: 'allow = 127.0.0.1',
      tokens: `[token.lava]\nrole = operator\nsha256 = ${lava.sha256}\n\n[token.vera]\nrole = viewer\nsha256 = ${viewer.sha256}\n`,
    });
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString());
        cb();
      },
    });
    d = await Daemon.start({ configDir: lab.configDir, log: createLogger({ level: 'info', destination: sink }), port: 0, monitor: false });
    pd = await startPduDaemon(['pdu-a']);
  });
  afterAll(async () => {
    await pd?.close();
    await d?.stop();
    await lab?.cleanup();
  });

  it('answers a LAVA reboot as PDUDaemon does, after switching off then on, each journaled and confirmed by read-back', async () => {
    const since = newest();
    const r = await both('/power/control/reboot?hostname=pdu-a&port=3&delay=0');
    expect(r.pdudaemon).toMatchObject({ status: 200, body: 'OK - accepted request\n' });
    expect(r.ockle).toMatchObject({ status: 200, body: 'OK - accepted request\n' });
    expect(r.ockle.headers).toMatch(/content-type: text\/plain; charset=utf-8/i);
    expect(r.pdWrites).toEqual(['3 off', '3 on']);
    expect(r.ockleWrites).toEqual(['3 off', '3 on']);
    const acts = newActions(since);
    // One action: a cycle whose off time is the delay, each switch confirmed by read-back.
    expect(acts.map((a) => [a.kind, a.status, a.origin, a.reason, a.force])).toEqual([['cycle', 'ok', 'pdudaemon:127.0.0.1', 'PDUDaemon reboot (delay 0 s)', true]]);
    expect(acts.map((a) => a.outlets)).toEqual([[{ device: 'pdu-a', outlet: 3 }]]);
    expect(acts.map((a) => a.steps.map((s) => s.op))).toEqual([['switch', 'confirm', 'wait', 'switch', 'confirm']]);
    expect(acts[0]!.steps[2]!.detail).toBe('off for 0 ms (the off time asked for)');
    expect(world().outlet('pdu-a', 3)).toBe('on');
  });

  it('switches off and on like PDUDaemon, one write each', async () => {
    const off = await both('/power/control/off?hostname=pdu-a&port=4');
    expect([off.pdudaemon.status, off.ockle.status]).toEqual([200, 200]);
    expect([off.pdudaemon.body, off.ockle.body]).toEqual(['OK - accepted request\n', 'OK - accepted request\n']);
    expect([off.pdWrites, off.ockleWrites]).toEqual([['4 off'], ['4 off']]);
    expect(world().outlet('pdu-a', 4)).toBe('off');
    const on = await both('/power/control/on?hostname=pdu-a&port=4');
    expect([on.pdudaemon.status, on.ockle.status]).toEqual([200, 200]);
    expect([on.pdWrites, on.ockleWrites]).toEqual([['4 on'], ['4 on']]);
    expect(world().outlet('pdu-a', 4)).toBe('on');
  });

  it('gives the same status and body as PDUDaemon to bad requests, and neither switches anything', async () => {
    const cases: [string, { method?: string }, number, string][] = [
      ['/power/control/on?hostname=nope&port=3', {}, 500, 'Invalid request\n'],
      ['/power/control/on?hostname=pdu-a', {}, 500, 'Invalid request\n'],
      ['/power/control/reboot?port=3', {}, 500, 'Invalid request\n'],
      ['/power/control/on?hostname=&port=3', {}, 500, 'Invalid request\n'],
      ['/power/control/off?alias=board-1', {}, 500, 'Invalid request\n'],
      ['/power/control/cycle?hostname=pdu-a&port=3', {}, 404, '404: Not Found'],
      ['/power/control/on/?hostname=pdu-a&port=3', {}, 404, '404: Not Found'],
      ['/power/status?hostname=pdu-a&port=3', {}, 404, '404: Not Found'],
      ['/power/control/on?hostname=pdu-a&port=3', { method: 'POST' }, 405, '405: Method Not Allowed'],
    ];
    const since = newest();
    for (const [path, o, status, body] of cases) {
      const r = await both(path, o);
      expect({ path, pdudaemon: [r.pdudaemon.status, r.pdudaemon.body], ockle: [r.ockle.status, r.ockle.body] }).toEqual({ path, pdudaemon: [status, body], ockle: [status, body] });
      expect({ path, pd: r.pdWrites, ockle: r.ockleWrites }).toEqual({ path, pd: [], ockle: [] });
    }
    expect(newActions(since)).toEqual([]);
  });

  it('refuses, changing nothing, the bad input PDUDaemon acts on or crashes on (status kept, the switch not)', async () => {
    const since = newest();
    // A port that is not a number: PDUDaemon's int() throws (aiohttp's own 500 page); ockle says Invalid request.
    const nan = await both('/power/control/on?hostname=pdu-a&port=abc');
    expect([nan.pdudaemon.status, nan.pdudaemon.body]).toEqual([500, '500 Internal Server Error\n\nServer got itself in trouble']);
    expect([nan.ockle.status, nan.ockle.body]).toEqual([500, 'Invalid request\n']);
    expect([nan.pdWrites, nan.ockleWrites]).toEqual([[], []]);
    // A delay that is not a number: PDUDaemon has switched the port off before int(delay) throws.
    const delay = await both('/power/control/reboot?hostname=pdu-a&port=2&delay=x');
    expect([delay.pdudaemon.status, delay.ockle.status]).toEqual([500, 500]);
    expect(delay.ockle.body).toBe('Invalid request\n');
    expect([delay.pdWrites, delay.ockleWrites]).toEqual([['2 off'], []]);
    expect(world().outlet('pdu-a', 2)).toBe('on');
    // A port the PDU does not have: PDUDaemon hands it to its driver and says OK.
    const range = await both('/power/control/on?hostname=pdu-a&port=99');
    expect([range.pdudaemon.status, range.pdWrites]).toEqual([200, ['99 on']]);
    expect([range.ockle.status, range.ockle.body, range.ockleWrites]).toEqual([500, 'Invalid request\n', []]);
    // A negative delay: PDUDaemon sleeps(-1) and switches; ockle refuses it.
    const neg = await both('/power/control/reboot?hostname=pdu-a&port=6&delay=-1');
    expect([neg.pdudaemon.status, neg.pdWrites]).toEqual([200, ['6 off', '6 on']]);
    expect([neg.ockle.status, neg.ockleWrites]).toEqual([500, []]);
    // HEAD: aiohttp runs the GET handler, so PDUDaemon switches; ockle does not.
    const head = await both('/power/control/off?hostname=pdu-a&port=7', { head: true });
    expect([head.pdudaemon.status, head.pdWrites]).toEqual([200, ['7 off']]);
    expect([head.ockle.status, head.ockleWrites]).toEqual([405, []]);
    expect(head.ockle.headers).toMatch(/^allow: GET$/im);
    expect(newActions(since)).toEqual([]);
  });

  it('refuses a client address outside [pdudaemon] allow (PDUDaemon has no access control), nothing switched', async () => {
    const r = await both('/power/control/off?hostname=pdu-a&port=5', { from: '127.0.0.2' });
    expect([r.pdudaemon.status, r.pdWrites]).toEqual([200, ['5 off']]);
    expect([r.ockle.status, r.ockle.body, r.ockleWrites]).toEqual([403, '403: Forbidden', []]);
    expect(world().outlet('pdu-a', 5)).toBe('on');
    expect(logLines.join('')).toContain('client address not in [pdudaemon] allow');
  });

  it('refuses what a web page makes a browser send (Origin, Sec-Fetch-Site), nothing switched; a URL typed by hand passes', async () => {
    const url = `${d.pdudaemonUrl}/power/control/off?hostname=pdu-a&port=5`;
    const before = world().writes('pdu-a').count;
    // An <img> or fetch() on another site, and a DNS-rebound name (same-origin for the browser).
    for (const headers of [['Sec-Fetch-Site: cross-site'], ['Sec-Fetch-Site: same-origin'], ['Origin: http://localhost:3000'], ['Sec-Fetch-Site: same-site', 'Origin: null']]) {
      const { stdout } = await run('curl', ['-s', '-o', '-', '-w', ' %{http_code}', ...headers.flatMap((h) => ['-H', h]), url]);
      expect({ headers, reply: stdout }).toEqual({ headers, reply: '403: Forbidden 403' });
    }
    expect(world().writes('pdu-a').count).toBe(before);
    const { stdout } = await run('curl', ['-s', '-o', '-', '-w', ' %{http_code}', '-H', 'Sec-Fetch-Site: none', `${d.pdudaemonUrl}/power/control/on?hostname=pdu-a&port=5`]);
    expect(stdout).toBe('OK - accepted request\n 200');
  });

  it('takes a token in the query as an ockle token of role operator, journaled under its name, never logged', async () => {
    const base = `${d.pdudaemonUrl}/power/control/off?hostname=pdu-a&port=8`;
    const before = world().writes('pdu-a').count;
    expect(await curl(`${base}&token=${viewer.token}`)).toMatchObject({ status: 403, body: '403: Forbidden' });
    expect(await curl(`${base}&token=ockle_not-a-token`)).toMatchObject({ status: 403, body: '403: Forbidden' });
    expect(world().writes('pdu-a').count).toBe(before);
    const since = newest();
    expect(await curl(`${base}&token=${lava.token}`)).toMatchObject({ status: 200, body: 'OK - accepted request\n' });
    expect(newActions(since).map((a) => [a.origin, a.kind, a.status])).toEqual([['pdudaemon:lava', 'off', 'ok']]);
    expect(simWrites('pdu-a', world().writes('pdu-a').log.length - 1)).toEqual(['8 off']);
    const logs = logLines.join('');
    expect(logs).toContain('pdudaemon:lava');
    for (const t of [lava.token, viewer.token, 'ockle_not-a-token']) expect(logs).not.toContain(t);
  });

  it('runs a sequenced action for hostname=ockle&port=SERVER (PDUDaemon knows no such PDU)', async () => {
    const since = newest();
    const r = await both('/power/control/off?hostname=ockle&port=web-1');
    expect([r.pdudaemon.status, r.pdudaemon.body]).toEqual([500, 'Invalid request\n']);
    expect([r.ockle.status, r.ockle.body]).toEqual([200, 'OK - accepted request\n']);
    const [a] = newActions(since);
    expect(a).toMatchObject({ kind: 'off', force: false, targets: ['web-1'], origin: 'pdudaemon:127.0.0.1', status: 'ok', reason: 'PDUDaemon off' });
    expect(a!.steps.map((s) => s.op)).toContain('shutdown');
    expect(r.ockleWrites).toEqual(['1 off']);
    const unknown = await both('/power/control/on?hostname=ockle&port=no-such-server');
    expect([unknown.ockle.status, unknown.ockle.body, unknown.ockleWrites]).toEqual([500, 'Invalid request\n', []]);
    const on = await curl(`${d.pdudaemonUrl}/power/control/on?hostname=ockle&port=web-1`);
    expect(on.status).toBe(200);
    expect(d.gateway.server('web-1').state).toBe('OK');
    // reboot of a server: its sequenced cycle (power-cycled, then its boot tests), delay not used.
    const since2 = newest();
    const from = world().writes('pdu-a').log.length;
    expect((await curl(`${d.pdudaemonUrl}/power/control/reboot?hostname=ockle&port=web-1&delay=0`)).status).toBe(200);
    expect(newActions(since2).map((x) => [x.kind, x.force, x.reason, x.status])).toEqual([['cycle', false, 'PDUDaemon reboot (sequenced cycle)', 'ok']]);
    expect(simWrites('pdu-a', from)).toEqual(['1 off', '1 on']);
    expect(d.gateway.server('web-1').state).toBe('OK');
  });

  it('answers 500 with why when the PDU does not do it (PDUDaemon answers 200 whatever its driver did)', async () => {
    // 1. A stuck relay: the command is accepted, the outlet never changes; read-back says so.
    world().setDeviceFaults('pdu-b', ['stuck']);
    const before = world().writes('pdu-b').count;
    const stuck = await curl(`${d.pdudaemonUrl}/power/control/on?hostname=pdu-b&port=2`);
    expect(stuck.status).toBe(500);
    expect(stuck.body).toMatch(/^Failed request: pdu-b outlet 2 still reads off .* \(action [^)]+\)\n$/);
    expect(world().writes('pdu-b').count).toBe(before + 1);
    expect(d.gateway.actions({ limit: 1 })[0]).toMatchObject({ status: 'failed', origin: 'pdudaemon:127.0.0.1' });
    // 2. A PDU that does not answer: refused at the read before the write, nothing written.
    world().setDeviceFaults('pdu-b', ['unreachable']);
    const down = await curl(`${d.pdudaemonUrl}/power/control/on?hostname=pdu-b&port=3`);
    expect(down.status).toBe(500);
    expect(down.body).toMatch(/^Failed request: .*pdu-b/);
    expect(world().writes('pdu-b').count).toBe(before + 1);
    world().setDeviceFaults('pdu-b', []);
  });

  it('runs requests for one outlet one after the other, as PDUDaemon runs one job at a time per PDU', async () => {
    const from = world().writes('pdu-a').log.length;
    const replies = await Promise.all([1, 2, 3].map(() => curl(`${d.pdudaemonUrl}/power/control/reboot?hostname=pdu-a&port=6&delay=0`)));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(simWrites('pdu-a', from)).toEqual(['6 off', '6 on', '6 off', '6 on', '6 off', '6 on']);
  });

  it('survives a reload (SIGHUP): same listener, the new allow list and token rule apply at once, nothing switched', async () => {
    const url = d.pdudaemonUrl;
    const before = world().writes('pdu-a').count;
    await lab.setPduDaemon('allow = 127.0.0.1, 127.0.0.2/32\nrequire_token = true');
    expect(await d.reload()).toBe(true);
    expect(d.pdudaemonUrl).toBe(url);
    expect(world().writes('pdu-a').count).toBe(before);
    const path = '/power/control/off?hostname=pdu-a&port=5';
    expect((await curl(`${url}${path}`, { from: '127.0.0.2' })).status).toBe(403); // no token now
    expect(world().writes('pdu-a').count).toBe(before);
    expect((await curl(`${url}${path}&token=${lava.token}`, { from: '127.0.0.2' })).status).toBe(200);
    expect(world().outlet('pdu-a', 5)).toBe('off');
    // 2. Disabled by a reload: the listener closes.
    await lab.setPduDaemon('enabled = false');
    expect(await d.reload()).toBe(true);
    expect(d.pdudaemonUrl).toBeNull();
    await expect(curl(`${url}${path}`)).rejects.toThrow();
  });
});
