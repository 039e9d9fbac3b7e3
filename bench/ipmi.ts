/**
 * IPMI benchmark: `npm run bench -- ipmi`. Chassis power status of 4 and 16 simulated BMCs
 * (OpenIPMI's ipmi_sim on 127.0.0.1): ockle's ipmi devices read at once (ipmitool per BMC,
 * at most 8 at a time) against, in the same run, a sequential ipmitool loop and FreeIPMI's
 * ipmipower asked for all BMCs in one call.
 */
import { execFile } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ipmiDriver } from '../drivers/ipmi/index.js';
import type { OutletDevice } from '../drivers/types.js';
import { Secret } from '../src/config/types.js';
import { silentLogger } from '../src/log.js';
import { startBmc, type SimBmc } from '../test/support/ipmi-sim.js';
import { time } from './timing.js';

const run = promisify(execFile);

export async function benchIpmi(sizes: readonly number[] = [4, 16]): Promise<string[]> {
  const rows: string[] = [];
  const line = (s: string): void => {
    console.log(s);
    rows.push(s);
  };
  line('\nipmi: chassis power status of N simulated BMCs (ipmi_sim, cipher suite 3); medians');
  const stateDir = mkdtempSync(join(tmpdir(), 'ockle-bench-ipmi-'));
  const shared = new Map<string, unknown>();
  const ctx = (id: string) => ({
    id,
    log: silentLogger(),
    stateDir,
    shared: <X>(k: string, init: () => X): X => {
      if (!shared.has(k)) shared.set(k, init());
      return shared.get(k) as X;
    },
  });
  for (const n of sizes) {
    // All BMCs share one password, as a fleet often does, so ipmipower can ask them in one call.
    const bmcs: SimBmc[] = [];
    try {
      // Distinct loopback addresses: ipmipower labels its answers by host.
      for (let i = 0; i < n; i++) bmcs.push(await startBmc({ on: i % 2 === 0, password: 'fleet-password-1', host: `127.0.0.${10 + i}` }));
      const make = (backend: 'ipmitool' | 'ipmipower'): OutletDevice[] =>
        bmcs.map(
          (b, i) =>
            ipmiDriver.create(
              { host: b.host, port: b.port, user: b.user, password: new Secret(b.password), interface: 'lanplus', cipher_suite: 3, privilege: 'ADMINISTRATOR', request_timeout: 2, request_retries: 1, backend, workarounds: 'opensesspriv', diagnose: true },
              ctx(`bmc-${backend}-${i}`),
            ) as OutletDevice,
        );
      const signal = new AbortController().signal;
      setMaxListeners(0, signal); // one signal shared by every device of the run
      const viaTool = make('ipmitool');
      const viaPower = make('ipmipower');
      const readAll = async (ds: OutletDevice[]): Promise<void> => {
        const got = await Promise.all(ds.map((d) => d.read([1], signal)));
        if (got.some((m, i) => m.get(1) !== (i % 2 === 0 ? 'on' : 'off'))) throw new Error('a BMC read the wrong state');
      };
      const ockleTool = await time(5, () => readAll(viaTool));
      const ockle = await time(5, () => readAll(viaPower));
      const sequential = await time(3, async () => {
        for (const b of bmcs)
          await run('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', b.host, '-p', String(b.port), '-U', b.user, '-E', 'chassis', 'power', 'status'], {
            env: { ...process.env, IPMI_PASSWORD: b.password },
          });
      });
      let ipmipower: number | null = null;
      // One ipmipower call for every BMC (it asks them in parallel itself).
      try {
        const hosts = bmcs.map((b) => `${b.host}:${b.port}`).join(',');
        // Credentials in a 0600 config file, as the driver does: never a password on argv.
        const conf = join(stateDir, 'ipmipower-bench.conf');
        writeFileSync(conf, `username ${bmcs[0]!.user}\npassword ${bmcs[0]!.password}\ndriver-type LAN_2_0\nworkaround-flags opensesspriv\n`, { mode: 0o600 });
        const args = ['--config-file', conf, '-h', hosts, '--stat'];
        const out = await run('ipmipower', args);
        if ((out.stdout.match(/: (on|off)$/gm) ?? []).length !== n) throw new Error(`ipmipower answered for fewer than ${n} BMCs: ${out.stdout}`);
        ipmipower = await time(3, () => run('ipmipower', args));
      } catch (err) {
        line(`  (ipmipower not run: ${(err as Error).message.split('\n')[0]}; apt-get install freeipmi-tools)`);
      }
      line(
        `${String(n).padStart(3)} BMCs  ockle (ipmipower backend) ${ockle.toFixed(0).padStart(5)} ms   ockle (ipmitool backend) ${ockleTool.toFixed(0).padStart(5)} ms   sequential ipmitool ${sequential.toFixed(0).padStart(5)} ms (×${(sequential / ockle).toFixed(1)} vs ockle)` +
          (ipmipower !== null ? `   ipmipower ${ipmipower.toFixed(0).padStart(5)} ms (ockle/ipmipower ${(ockle / ipmipower).toFixed(2)})` : ''),
      );
    } finally {
      for (const b of bmcs) await b.stop();
    }
  }
  rmSync(stateDir, { recursive: true, force: true });
  return rows;
}
