/**
 * labgrid as a real client of the PDUDaemon face: Debian's python3-labgrid, a labgrid
 * environment with a PDUDaemonPort resource and the PDUDaemonDriver, run by the system python3
 * (the one that can import labgrid), turns a port on, off and cycles it through ockle; the sim
 * PDU's own write log confirms each switch. A port the PDU lacks makes labgrid raise, as it would
 * against PDUDaemon's 500.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { describePython } from '../support/peers.js';
import { makePduLab, type PduLab } from './pdudaemon-lab.js';

const run = promisify(execFile);

/** Runs labgrid's power driver of target "board" through the steps named (on, off, cycle), one after the other. */
const SCRIPT = `
import sys
from labgrid import Environment
target = Environment(sys.argv[1]).get_target("board")
power = target.get_driver("PowerProtocol")
for step in sys.argv[2:]:
    getattr(power, step)()
    print(step, "done", flush=True)
`;

describePython('labgrid PDUDaemonDriver through the PDUDaemon face', 'labgrid', 'python3-labgrid', (python) => {
  let lab: PduLab;
  let d: Daemon;
  let dir: string;
  const world = (): SimWorld => d.shared<SimWorld>('sim-world')!;

  beforeAll(async () => {
    lab = await makePduLab({ pdudaemon: 'allow = 127.0.0.1' });
    d = await Daemon.start({ configDir: lab.configDir, log: silentLogger(), port: 0, monitor: false });
    dir = await mkdtemp(join(tmpdir(), 'ockle-labgrid-'));
    await writeFile(join(dir, 'power.py'), SCRIPT);
  });
  afterAll(async () => {
    await d?.stop();
    await lab?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A labgrid environment file: one target whose power is outlet `index` of `pdu` behind ockle's face. */
  const env = async (pdu: string, index: number): Promise<string> => {
    const { port } = new URL(d.pdudaemonUrl!);
    const file = join(dir, `env-${pdu}-${index}.yaml`);
    // delay 0.0: labgrid sends delay=0 with reboot (it sleeps delay + 1 s after each request).
    await writeFile(
      file,
      `targets:\n  board:\n    resources:\n      PDUDaemonPort:\n        host: "127.0.0.1:${port}"\n        pdu: "${pdu}"\n        index: ${index}\n    drivers:\n      PDUDaemonDriver:\n        delay: 0.0\n`,
    );
    return file;
  };

  it('turns a port on, off and cycles it; the sim PDU saw exactly those writes, each journaled as pdudaemon', async () => {
    const from = world().writes('pdu-b').log.length;
    const since = d.gateway.actions({ limit: 1 })[0]?.id;
    const { stdout } = await run(python, [join(dir, 'power.py'), await env('pdu-b', 5), 'on', 'off', 'on', 'cycle'], { timeout: 60_000 });
    expect(stdout.trim().split('\n')).toEqual(['on done', 'off done', 'on done', 'cycle done']);
    expect(world().writes('pdu-b').log.slice(from).map((w) => `${w.outlet} ${w.action}`)).toEqual(['5 on', '5 off', '5 on', '5 off', '5 on']);
    expect(world().outlet('pdu-b', 5)).toBe('on');
    const all = d.gateway.actions({ limit: 50 });
    const acts = all.slice(0, since === undefined ? all.length : all.findIndex((a) => a.id === since)).reverse();
    expect(acts.map((a) => [a.kind, a.status, a.origin])).toEqual([
      ['on', 'ok', 'pdudaemon:127.0.0.1'],
      ['off', 'ok', 'pdudaemon:127.0.0.1'],
      ['on', 'ok', 'pdudaemon:127.0.0.1'],
      ['cycle', 'ok', 'pdudaemon:127.0.0.1'],
    ]);
    expect(acts[3]!.reason).toBe('PDUDaemon reboot (delay 0 s)');
  });

  it('makes labgrid raise for a port the PDU does not have, and switches nothing', async () => {
    const before = world().writes('pdu-b').count;
    const failed = await run(python, [join(dir, 'power.py'), await env('pdu-b', 99), 'on'], { timeout: 60_000 }).then(
      () => null,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(failed?.code).not.toBe(0);
    expect(failed?.stderr).toMatch(/HTTPError: 500 Server Error: Internal Server Error for url: .*\/power\/control\/on\?hostname=pdu-b&port=99/);
    expect(world().writes('pdu-b').count).toBe(before);
  });
});
