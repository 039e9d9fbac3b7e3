/**
 * The systemd unit and the Raspberry Pi install script, run into a throwaway root.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO } from '../support/demo.js';
import { describePeer } from '../support/peers.js';

const UNIT_FILE = join(REPO, 'systemd', 'ockle.service');
const UNIT = readFileSync(UNIT_FILE, 'utf8');
/** Every value of `k=` in the unit (uncommented lines only). */
const values = (unit: string, k: string): string[] => [...unit.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]!);
const key = (k: string): string[] => values(UNIT, k);

describe('ockle.service', () => {
  it('is a notify service with a watchdog, whose notify helper child is allowed to talk', () => {
    expect(key('Type')).toEqual(['notify']);
    expect(key('NotifyAccess')).toEqual(['all']);
    expect(key('WatchdogSec')).toEqual(['30']);
    expect(key('ExecStart')).toEqual(['/usr/bin/node /opt/ockle/dist/bundle/main.js daemon --config /etc/ockle']);
    expect(key('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(key('Restart')).toEqual(['on-failure']);
    expect(key('TimeoutStopSec')).toEqual(['30']);
  });

  it('runs as ockle with its own state and config directories, hardened', () => {
    expect(key('User')).toEqual(['ockle']);
    expect(key('Group')).toEqual(['ockle']);
    expect(key('StateDirectory')).toEqual(['ockle']);
    // The daemon's code cache (src/code-cache.ts): its own, nobody else's to write.
    expect(key('CacheDirectory')).toEqual(['ockle']);
    expect(key('CacheDirectoryMode')).toEqual(['0700']);
    expect(key('ConfigurationDirectory')).toEqual(['ockle']);
    for (const k of ['ProtectSystem', 'ProtectHome', 'PrivateTmp', 'NoNewPrivileges']) expect(key(k), k).toHaveLength(1);
    expect(key('ProtectSystem')).toEqual(['strict']);
    expect(key('NoNewPrivileges')).toEqual(['yes']);
    expect(key('Environment')).toContain('NODE_ENV=production');
  });

  it('keeps /sys writable and /dev reachable (GPIO and serial relays need them)', () => {
    for (const k of ['ProtectKernelTunables', 'PrivateDevices', 'DevicePolicy', 'DeviceAllow', 'ProtectClock', 'MemoryDenyWriteExecute'])
      expect(key(k), `${k} must not be set`).toEqual([]);
    expect(key('SupplementaryGroups')).toEqual(['gpio dialout']);
  });

  it('leaves the config directory mode to the installer (a root:root 0750 would lock ockle out)', () => {
    expect(key('ConfigurationDirectoryMode')).toEqual([]);
  });
});

describePeer('systemd-analyze', ['systemd-analyze'], () => {
  it('accepts the unit file', async () => {
    // verify checks that ExecStart's binary exists: point it at the node running this test
    // when it is not Debian's /usr/bin/node (nvm, CI images). Nothing else is changed.
    const dir = await mkdtemp(join(tmpdir(), 'ockle-unit-'));
    try {
      const unit = join(dir, 'ockle.service');
      await writeFile(unit, existsSync('/usr/bin/node') ? UNIT : UNIT.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `));
      const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('install-raspberry-pi.sh', () => {
  let root: string;
  let src: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ockle-root-'));
    // A checkout with a built dist/ (the script copies files; it does not build).
    src = await mkdtemp(join(tmpdir(), 'ockle-src-'));
    execFileSync('cp', ['-r', join(REPO, 'config'), join(REPO, 'systemd'), join(REPO, 'docs'), join(REPO, 'package.json'), join(REPO, 'package-lock.json'), src]);
    await mkdir(join(src, 'dist', 'src', 'cli'), { recursive: true });
    await writeFile(join(src, 'dist', 'src', 'cli', 'main.js'), '#!/usr/bin/env node\n// built\n');
    await mkdir(join(src, 'dist', 'bundle'), { recursive: true });
    await writeFile(join(src, 'dist', 'bundle', 'main.js'), '#!/usr/bin/env node\n// bundled\n');
    await mkdir(join(src, 'dist', 'web'), { recursive: true });
    await writeFile(join(src, 'dist', 'web', 'index.html'), '<!doctype html>\n');
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(src, { recursive: true, force: true });
  });
  const install = (...args: string[]) =>
    spawnSync('bash', [join(src, 'systemd', 'install-raspberry-pi.sh'), '--source', src, ...args], { encoding: 'utf8' });
  /** Every file and directory under the root, relative to it, sorted. */
  const tree = (): string[] =>
    execFileSync('find', ['.', '-mindepth', '1'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean).sort();

  it('installs app, config, unit and CLI link into a root, printing the system changes it leaves', async () => {
    const r = install('--root', root);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(existsSync(join(root, 'opt/ockle/dist/src/cli/main.js'))).toBe(true);
    // The daemon's bundled build (what the unit runs) and the dashboard come with the build.
    expect(existsSync(join(root, 'opt/ockle/dist/bundle/main.js'))).toBe(true);
    expect(existsSync(join(root, 'opt/ockle/dist/web/index.html'))).toBe(true);
    expect(existsSync(join(root, 'opt/ockle/package-lock.json'))).toBe(true);
    expect(existsSync(join(root, 'opt/ockle/config-example/ockle.ini'))).toBe(true);
    expect(existsSync(join(root, 'opt/ockle/docs/systemd.md'))).toBe(true);
    expect((await stat(join(root, 'opt/ockle/dist/src/cli/main.js'))).mode & 0o100).toBe(0o100);
    const unit = await readFile(join(root, 'etc/systemd/system/ockle.service'), 'utf8');
    expect(values(unit, 'ExecStart')).toEqual(['/usr/bin/node /opt/ockle/dist/bundle/main.js daemon --config /etc/ockle']);
    expect(await readFile(join(root, 'etc/ockle/ockle.ini'), 'utf8')).toMatch(/^state_dir = \/var\/lib\/ockle$/m);
    expect(existsSync(join(root, 'etc/ockle/servers/web-1.ini'))).toBe(true);
    expect(await readlink(join(root, 'usr/local/bin/ockle'))).toBe('/opt/ockle/dist/src/cli/main.js');
    // What needs the real system is printed, not run.
    expect(r.stdout).toContain('would run: npm ci --omit=dev');
    expect(r.stdout).toContain('would run: chown -R root:ockle /etc/ockle');
    expect(r.stdout).toContain('would run: systemctl daemon-reload');
    expect(r.stdout).toContain('would run: systemctl enable ockle.service');
    expect(r.stdout).toContain('/var/lib/ockle/api-token');
  });

  it('keeps only the groups this machine has in the installed unit', async () => {
    const r = install('--root', root);
    expect(r.status).toBe(0);
    const present = ['gpio', 'dialout'].filter((g) => spawnSync('getent', ['group', g]).status === 0);
    const unit = await readFile(join(root, 'etc/systemd/system/ockle.service'), 'utf8');
    expect(values(unit, 'SupplementaryGroups')).toEqual(present.length ? [present.join(' ')] : []);
    for (const g of ['gpio', 'dialout'].filter((x) => !present.includes(x))) expect(r.stdout).toContain(`no group ${g} on this machine`);
  });

  it('installs under another prefix', async () => {
    const r = install('--root', root, '--prefix', '/srv/ockle');
    expect(r.status).toBe(0);
    expect(existsSync(join(root, 'srv/ockle/dist/src/cli/main.js'))).toBe(true);
    const unit = await readFile(join(root, 'etc/systemd/system/ockle.service'), 'utf8');
    expect(values(unit, 'ExecStart')).toEqual(['/usr/bin/node /srv/ockle/dist/bundle/main.js daemon --config /etc/ockle']);
  });

  it('never overwrites an existing configuration', async () => {
    await mkdir(join(root, 'etc/ockle'), { recursive: true });
    await writeFile(join(root, 'etc/ockle/ockle.ini'), '; mine\n');
    const r = install('--root', root);
    expect(r.status).toBe(0);
    expect(await readFile(join(root, 'etc/ockle/ockle.ini'), 'utf8')).toBe('; mine\n');
    expect(existsSync(join(root, 'etc/ockle/servers'))).toBe(false);
    expect(r.stdout).toContain('keeping the existing configuration in /etc/ockle (not overwritten');
  });

  it('can run again: the second run upgrades the app, drops stale modules and keeps the config', async () => {
    expect(install('--root', root).status).toBe(0);
    await writeFile(join(root, 'etc/ockle/ockle.ini'), '; edited after install\n');
    await writeFile(join(root, 'opt/ockle/dist/stale.js'), '// from an older version\n');
    await writeFile(join(src, 'dist', 'src', 'cli', 'main.js'), '#!/usr/bin/env node\n// version 2\n');
    const r = install('--root', root);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(await readFile(join(root, 'opt/ockle/dist/src/cli/main.js'), 'utf8')).toContain('version 2');
    expect(existsSync(join(root, 'opt/ockle/dist/stale.js'))).toBe(false);
    expect(await readFile(join(root, 'etc/ockle/ockle.ini'), 'utf8')).toBe('; edited after install\n');
  });

  it('changes nothing with --dry-run, and prints every action', async () => {
    const r = install('--dry-run', '--root', root);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`would run: cp -r ${src}/package.json`);
    expect(r.stdout).toContain('would write:');
    expect(r.stdout).toContain('would run: systemctl enable ockle.service');
    expect(r.stdout).toContain('dry run: nothing was changed');
    expect(tree()).toEqual([]);
  });

  it('refuses a Node.js older than 20.19 and says how to get one', async () => {
    // A stand-in `node` that reports an old version; the real one here is new enough.
    const bin = join(src, 'old-node-bin');
    await mkdir(bin);
    await writeFile(join(bin, 'node'), '#!/bin/sh\n[ "$1" = --version ] && echo v18.19.0 && exit 0\nexit 1\n', { mode: 0o755 });
    const r = spawnSync('bash', [join(src, 'systemd', 'install-raspberry-pi.sh'), '--source', src, '--root', root], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:/usr/bin:/bin` },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Node.js >= 20.19 is needed (found: v18.19.0)');
    expect(r.stderr).toContain('apt install nodejs');
    expect(tree()).toEqual([]);
  });

  it('prints its options with --help', () => {
    const r = install('--help');
    expect(r.status).toBe(0);
    for (const o of ['--root DIR', '--prefix DIR', '--source DIR', '--dry-run']) expect(r.stdout).toContain(o);
  });

  it('refuses an unknown option, and a checkout without a built dist/, saying what to run', async () => {
    const bad = install('--frobnicate');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown option --frobnicate');
    // A build without the dashboard (an older `tsc`-only build) is refused too.
    await rm(join(src, 'dist', 'web'), { recursive: true });
    const noWeb = install('--root', root);
    expect(noWeb.status).toBe(1);
    expect(noWeb.stderr).toContain('dist/web (the dashboard) is missing');
    expect(tree()).toEqual([]);
    // So is one without the daemon's bundled build (what the unit runs).
    await rm(join(src, 'dist', 'bundle'), { recursive: true });
    const noBundle = install('--root', root);
    expect(noBundle.status).toBe(1);
    expect(noBundle.stderr).toContain("dist/bundle (the daemon's bundled build) is missing; run 'npm run build'");
    expect(tree()).toEqual([]);
    await rm(join(src, 'dist'), { recursive: true });
    const r = install('--root', root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("run 'npm ci && npm run build'");
    expect(tree()).toEqual([]);
  });
});
