/**
 * Debian's snmpd on 127.0.0.1 as an independent SNMP agent: it speaks v1/v2c/v3 (USM with
 * SHA-2 and AES) itself, and serves an APC rPDU outlet table through `snmpd-apc-rpdu.py`
 * (pass_persist). Users and communities are created in a throwaway config.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './demo.js';
import snmp from 'net-snmp';

export const SNMPD_USERS = {
  authOnly: { user: 'ockle-auth', auth: 'sha256', authPassword: 'auth-pass-2026' },
  authPriv: { user: 'ockle-priv', auth: 'sha512', authPassword: 'auth-pass-4096', priv: 'aes', privPassword: 'priv-pass-8192' },
  readOnly: { user: 'ockle-ro', auth: 'sha', authPassword: 'ro-pass-0001', priv: 'aes', privPassword: 'ro-priv-0002' },
} as const;

export interface Snmpd {
  readonly port: number;
  /** SETs the outlet table accepted, as `outlet value`. */
  sets(): Promise<string[]>;
  stop(): Promise<void>;
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startSnmpd(): Promise<Snmpd> {
  const dir = await mkdtemp(join(tmpdir(), 'ockle-snmpd-'));
  const port = await freeUdpPort();
  const log = join(dir, 'sets.log');
  const u = SNMPD_USERS;
  await writeFile(
    join(dir, 'snmpd.conf'),
    [
      'sysObjectID .1.3.6.1.4.1.318.1.3.4.5',
      'sysDescr APC Switched Rack PDU (served by snmpd for ockle tests)',
      'rocommunity public 127.0.0.1',
      'rwcommunity private 127.0.0.1',
      `createUser ${u.authOnly.user} SHA-256 "${u.authOnly.authPassword}"`,
      `createUser ${u.authPriv.user} SHA-512 "${u.authPriv.authPassword}" AES "${u.authPriv.privPassword}"`,
      `createUser ${u.readOnly.user} SHA "${u.readOnly.authPassword}" AES "${u.readOnly.privPassword}"`,
      `rwuser ${u.authOnly.user} auth`,
      `rwuser ${u.authPriv.user} priv`,
      `rouser ${u.readOnly.user} priv`,
      `pass_persist .1.3.6.1.4.1.318.1.1.12 /usr/bin/env python3 ${join(REPO, 'test', 'support', 'snmpd-apc-rpdu.py')} ${log}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('snmpd', ['-f', '-Lo', '-C', '-c', join(dir, 'snmpd.conf'), '-p', join(dir, 'snmpd.pid'), `udp:127.0.0.1:${port}`], {
    env: { ...process.env, SNMP_PERSISTENT_DIR: join(dir, 'persist'), MIBS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // Ready when it answers a GET.
  const session = snmp.createSession('127.0.0.1', 'public', { port, retries: 0, timeout: 200 });
  session.on('error', () => {});
  try {
    for (let i = 0; ; i++) {
      const ok = await new Promise<boolean>((r) => session.get(['1.3.6.1.2.1.1.2.0'], (e: Error | null) => r(!e)));
      if (ok) break;
      if (i > 50 || child.exitCode !== null) throw new Error(`snmpd did not start on 127.0.0.1:${port}:\n${output}`);
    }
  } finally {
    session.close();
  }
  return {
    port,
    sets: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
