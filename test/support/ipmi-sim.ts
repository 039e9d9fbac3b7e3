/**
 * OpenIPMI's ipmi_sim as BMCs on 127.0.0.1 (one process per BMC, each on a free UDP port), with
 * a chassis_control script standing in for the server's power supply. ipmitool must use cipher
 * suite 3 against it (`-C 3`), or each call stalls for seconds negotiating.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './demo.js';

export interface SimBmc {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  power(): '0' | '1';
  setPower(on: boolean): void;
  /** What ipmi_sim asked the chassis to do, e.g. `set power 1`, `set shutdown 1`. */
  calls(): string[];
  stop(): Promise<void>;
}

async function freeUdpPort(host: string): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * @param o.host a loopback address (127.0.0.1 by default); BMCs on distinct 127.0.0.x addresses
 *   can be told apart by tools that label answers by host (ipmipower)
 */
async function startBmcOnce(o: { on?: boolean; password?: string; host?: string } = {}): Promise<SimBmc> {
  const dir = await mkdtemp(join(tmpdir(), 'ockle-bmc-'));
  const host = o.host ?? '127.0.0.1';
  const port = await freeUdpPort(host);
  const user = 'ockle';
  const password = o.password ?? `bmc-${Math.random().toString(36).slice(2, 10)}`;
  writeFileSync(join(dir, 'power'), o.on ? '1\n' : '0\n');
  writeFileSync(join(dir, 'calls'), '');
  writeFileSync(
    join(dir, 'lan.conf'),
    [
      `name "ockle-bmc-${port}"`,
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr ${host} ${port}`,
      '    priv_limit admin',
      '    allowed_auths_callback none md2 md5 straight',
      '    allowed_auths_user none md2 md5 straight',
      '    allowed_auths_operator none md2 md5 straight',
      '    allowed_auths_admin none md2 md5 straight',
      '    guid a123456789abcdefa123456789abcdef',
      '  endlan',
      `  chassis_control "/bin/sh ${join(REPO, 'test', 'support', 'ipmi-chassis.sh')} ${dir}"`,
      '  user 1 false "" "unused" user 10 none md2 md5 straight',
      `  user 2 true "${user}" "${password}" admin 10 none md2 md5 straight`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'sim.emu'),
    'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 0x09 0x08 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n',
  );
  const child: ChildProcess = spawn('ipmi_sim', ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'sim.emu'), '-s', join(dir, 'state'), '-n'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // Ready when the port is taken.
  for (let i = 0; ; i++) {
    const taken = await new Promise<boolean>((r) => {
      const s = createSocket('udp4');
      s.once('error', () => r(true));
      s.bind(port, host, () => s.close(() => r(false)));
    });
    if (taken) break;
    if (i > 300 || child.exitCode !== null) {
      child.kill();
      throw new Error(`ipmi_sim did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    host,
    port,
    user,
    password,
    power: () => (readFileSync(join(dir, 'power'), 'utf8').trim() === '1' ? '1' : '0'),
    setPower: (on) => writeFileSync(join(dir, 'power'), on ? '1\n' : '0\n'),
    calls: () => readFileSync(join(dir, 'calls'), 'utf8').split('\n').filter(Boolean),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts one, on a fresh port each try: the port is picked free, then handed to the server, and
 * another test may take it in between (all tests share the machine's ephemeral ports).
 */
export async function startBmc(o: { on?: boolean; password?: string; host?: string } = {}): Promise<SimBmc> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startBmcOnce(o);
    } catch (err) {
      if (attempt >= 3 || !/did not start/.test((err as Error).message)) throw err;
    }
  }
}
