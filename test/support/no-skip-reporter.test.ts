import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './demo.js';

describe('no-skip reporter', () => {
  it('fails a CI run that skipped a test, and names the test', () => {
    const r = spawnSync(process.execPath, [join(REPO, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], {
      cwd: join(REPO, 'test', 'fixtures', 'skip'),
      env: { ...process.env, CI: 'true', NO_COLOR: '1' },
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('1 test(s) skipped');
    expect(r.stderr).toContain('is skipped on purpose, to prove the reporter catches it');
  });
});
