/**
 * A BMC killed under the daemon: a server fed by an SNMP PDU outlet and powered through its BMC
 * (ipmi_sim on 127.0.0.1). Once the BMC is gone, an `on` or a `cycle` is blocked, the PDU (a
 * real SNMP agent that keeps answering) receives no SET, and the API shows the BMC unreachable.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { REPO } from '../support/demo.js';
import { startBmc, type SimBmc } from '../support/ipmi-sim.js';
import { behaviour, onSetFor } from '../support/pdu-behaviour.js';
import { describePeer } from '../support/peers.js';
import { loadRecording, TestAgent } from '../support/snmp-agent.js';

describePeer('a BMC that dies', ['ipmi_sim', 'ipmitool'], () => {
  let root: string | undefined;
  let daemon: Daemon | undefined;
  let bmc: SimBmc | undefined;
  let pdu: TestAgent | undefined;
  afterEach(async () => {
    await daemon?.stop();
    await bmc?.stop();
    await pdu?.stop();
    if (root) await rm(root, { recursive: true, force: true });
    daemon = bmc = pdu = root = undefined;
  });

  it('blocks an on and a cycle: nothing is written to the PDU that still answers', async () => {
    bmc = await startBmc({ on: true });
    pdu = await new TestAgent({ data: loadRecording(join(REPO, 'test', 'fixtures', 'snmp', 'apc-rpdu.snmprec')), onSet: onSetFor(behaviour('apc', [])) }).start();
    root = await mkdtemp(join(tmpdir(), 'ockle-bmc-fault-'));
    const dir = join(root, 'config');
    await mkdir(join(dir, 'devices'), { recursive: true });
    await mkdir(join(dir, 'servers'), { recursive: true });
    await writeFile(join(dir, 'ockle.ini'), '[daemon]\nstate_dir = ../state\nlog_level = warn\n[api]\nport = 0\n[servers]\nboot_timeout = 1s\nmax_attempts = 2\n[plugins]\nenabled = auto-control\n');
    await writeFile(
      join(dir, 'devices', 'bmc-app.ini'),
      `[device]\ntype = ipmi\nhost = 127.0.0.1\nport = ${bmc.port}\nuser = ${bmc.user}\npassword = ${bmc.password}\ncipher_suite = 3\nbackend = ipmitool\ntimeout = 3s\nretries = 0\npoll_interval = 1h\n`,
    );
    await writeFile(
      join(dir, 'devices', 'pdu.ini'),
      `[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nport = ${pdu.port}\ncommunity = public\nwrite_community = private\nrequest_timeout = 300ms\ntimeout = 500ms\nretries = 0\npoll_interval = 1h\n`,
    );
    // Feed on PDU outlet 3 (off), chassis through the BMC (on): partly powered, not serving.
    await writeFile(join(dir, 'servers', 'app.ini'), '[server]\noutlets = feed, chassis\n[feed]\ndevice = pdu\noutlet = 3\n[chassis]\ndevice = bmc-app\noutlet = 1\n');
    daemon = await Daemon.start({ configDir: dir, log: silentLogger(), monitor: false });
    expect(daemon.gateway.server('app').outlets.map((o) => o.power)).toEqual(['off', 'on']);

    await bmc.stop(); // the BMC dies (its process is killed)
    bmc = undefined;
    for (const kind of ['on', 'cycle'] as const) {
      const rec = await daemon.gateway.waitFor(daemon.gateway.request({ kind, targets: ['app'], force: false, origin: 'api:test', reason: 'test' }).id);
      expect(rec.status).toBe('failed');
      expect(rec.error?.message).toBe('app: blocked: bmc-app unreachable');
      expect(rec.steps.some((s) => s.op === 'switch')).toBe(false);
    }
    expect(pdu.sets).toEqual([]);
    const bmcStatus = daemon.gateway.devices().find((d) => d.id === 'bmc-app')!;
    expect(bmcStatus.reachable).toBe(false);
    expect(bmcStatus.outlets[0]!.power).toBe('unknown');
    expect(daemon.gateway.server('app')).toMatchObject({ state: 'UNKNOWN', reason: 'bmc-app unreachable' });
  }, 30_000);
});
