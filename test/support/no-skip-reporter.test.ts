import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './demo.js';

function runFixture(...args: string[]) {
  return spawnSync(process.execPath, [join(REPO, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...args], {
    cwd: join(REPO, 'test', 'fixtures', 'skip'),
    env: { ...process.env, CI: 'true', NO_COLOR: '1' },
    encoding: 'utf8',
  });
}

describe('no-skip reporter', () => {
  it('fails a CI run that skipped a test or left a todo, and names both', () => {
    const r = runFixture();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('2 test(s) skipped or todo');
    expect(r.stderr).toContain('skipped.fixture.ts > is skipped on purpose, to prove the reporter catches it (skipped)');
    expect(r.stderr).toContain('skipped.fixture.ts > is a todo on purpose, to prove the reporter catches it (todo)');
  });

  it('lets a CI run pass when every test ran', () => {
    // A file filter, not -t: vitest reports tests excluded by -t as skipped, so CI runs the whole suite.
    const r = runFixture('passing.fixture');
    expect(r.stdout).toMatch(/1 passed/);
    expect(r.stderr).not.toContain('skipped or todo');
    expect(r.status).toBe(0);
  });
});
