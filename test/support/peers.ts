/**
 * Tests that need a real protocol peer from a Debian package: under CI=true a missing peer
 * fails the test file; elsewhere the tests are skipped with the reason printed once.
 */
import { execFileSync } from 'node:child_process';
import { describe } from 'vitest';

export function have(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `describe` that needs `binaries` on the PATH (packages listed in test/debian-packages.txt). */
export function describeWithPeers(name: string, binaries: readonly string[], body: () => void): void {
  const missing = binaries.filter((b) => !have(b));
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const reason = `${name}: ${missing.join(', ')} not installed (apt-get install the packages in test/debian-packages.txt)`;
  if (process.env.CI) {
    describe(name, () => {
      throw new Error(`${reason}; under CI=true this is a failure, not a skip`);
    });
    return;
  }
  process.stderr.write(`skipping ${reason}\n`);
  describe.skip(name, body);
}
