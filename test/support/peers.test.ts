import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './demo.js';
import { have, needs } from './peers.js';

/** Runs vitest on test/fixtures/peers (a describePeer block needing a program nobody has). */
function runFixture(ci: string | undefined) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.CI;
  if (ci !== undefined) env.CI = ci;
  return spawnSync(process.execPath, [join(REPO, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], {
    cwd: join(REPO, 'test', 'fixtures', 'peers'),
    env,
    encoding: 'utf8',
  });
}

describe('test peers', () => {
  it('finds programs on the PATH and names the package of a missing one', () => {
    expect(have('sh')).toBe(true);
    expect(needs(['sh'])).toEqual({ ok: true, reason: '' });
    expect(needs(['sh', 'ockle-no-such-peer-program', 'systemd-analyze']).reason).toMatch(
      /^ockle-no-such-peer-program(, systemd-analyze)? not installed: apt-get install ockle-no-such-peer-program( systemd)? \(listed in test\/debian-packages\.txt\)$/,
    );
  });

  it('fails the tests that need a missing program under CI=true, saying what to install', () => {
    const r = runFixture('true');
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain(
      'ockle-no-such-peer-program not installed: apt-get install ockle-no-such-peer-program (listed in test/debian-packages.txt)',
    );
    expect(r.stdout + r.stderr).toContain('Under CI=true a missing test peer is a failure, not a skip');
  });

  it('skips them outside CI and prints the reason once', () => {
    const r = runFixture(undefined);
    expect(r.status).toBe(0);
    const reason = 'skipping "needs a program nobody has": ockle-no-such-peer-program not installed';
    expect(r.stderr.split(reason)).toHaveLength(2);
    expect(r.stdout).toMatch(/1 skipped/);
  });
});
