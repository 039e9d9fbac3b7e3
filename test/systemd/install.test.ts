/**
 * The systemd unit and the Raspberry Pi install script, run into a throwaway root.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO } from '../support/demo.js';
import { describeWithPeers } from '../support/peers.js';

const UNIT = readFileSync(join(REPO, 'systemd', 'ockle.service'), 'utf8');
const key = (k: string): string[] => [...UNIT.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]!);

describe('ockle.service', () => {
  it('is a notify service with a watchdog, run as ockle, hardened', () => {
    expect(key('Type')).toEqual(['notify']);
    expect(key('NotifyAccess')).toEqual(['all']);
    expect(key('WatchdogSec')).toEqual(['30']);
    expect(key('User')).toEqual(['ockle']);
    expect(key('StateDirectory')).toEqual(['ockle']);
    expect(key('ConfigurationDirectory')).toEqual(['ockle']);
    for (const k of ['ProtectSystem', 'ProtectHome', 'PrivateTmp', 'NoNewPrivileges']) expect(key(k), k).toHaveLength(1);
    expect(key('ExecReload')[0]).toContain('-HUP');
  });
  it('does not make /sys read-only or hide /dev (GPIO and serial relays need them)', () => {
    expect(key('ProtectKernelTunables')).toEqual([]);
    expect(key('PrivateDevices')).toEqual([]);
    expect(key('SupplementaryGroups')[0]).toBe('gpio dialout');
  });
});

describeWithPeers('systemd-analyze', ['systemd-analyze'], () => {
  it('accepts the unit file', () => {
    const r = spawnSync('systemd-analyze', ['verify', join(REPO, 'systemd', 'ockle.service')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('install-raspberry-pi.sh', () => {
  let root: string;
  let src: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ockle-root-'));
    // A checkout with a built dist/ (the script copies files; it does not build).
    src = await mkdtemp(join(tmpdir(), 'ockle-src-'));
    execFileSync('cp', ['-r', join(REPO, 'config'), join(REPO, 'systemd'), join(REPO, 'package.json'), join(REPO, 'package-lock.json'), src]);
    await mkdir(join(src, 'dist', 'src', 'cli'), { recursive: true });
    await writeFile(join(src, 'dist', 'src', 'cli', 'main.js'), '// built\n');
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(src, { recursive: true, force: true });
  });
  const install = (...args: string[]) =>
    spawnSync('bash', [join(src, 'systemd', 'install-raspberry-pi.sh'), '--source', src, ...args], { encoding: 'utf8' });

  it('installs app, config, unit and CLI link into a root, printing the system changes it leaves', async () => {
    const r = install('--root', root);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(existsSync(join(root, 'opt/ockle/dist/src/cli/main.js'))).toBe(true);
    expect(await readFile(join(root, 'etc/systemd/system/ockle.service'), 'utf8')).toContain('ExecStart=/usr/bin/node /opt/ockle/dist/src/cli/main.js daemon --config /etc/ockle');
    expect(await readFile(join(root, 'etc/ockle/ockle.ini'), 'utf8')).toMatch(/^state_dir = \/var\/lib\/ockle$/m);
    expect(existsSync(join(root, 'etc/ockle/servers/web-1.ini'))).toBe(true);
    expect(await readlink(join(root, 'usr/local/bin/ockle'))).toBe('/opt/ockle/dist/src/cli/main.js');
    expect(r.stdout).toContain('would run: systemctl daemon-reload');
    expect(r.stdout).toContain('would run: systemctl enable ockle.service');
  });

  it('never overwrites an existing configuration', async () => {
    await mkdir(join(root, 'etc/ockle'), { recursive: true });
    await writeFile(join(root, 'etc/ockle/ockle.ini'), '; mine\n');
    const r = install('--root', root);
    expect(r.status).toBe(0);
    expect(await readFile(join(root, 'etc/ockle/ockle.ini'), 'utf8')).toBe('; mine\n');
    expect(r.stdout).toContain('keeping the existing configuration');
  });

  it('changes nothing with --dry-run', async () => {
    const r = install('--dry-run', '--root', root);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('would: cp');
    expect(execFileSync('find', [root, '-mindepth', '1'], { encoding: 'utf8' })).toBe('');
  });

  it('refuses without a built dist/, saying what to run', async () => {
    await rm(join(src, 'dist'), { recursive: true });
    const r = install('--root', root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("run 'npm ci'");
  });
});

