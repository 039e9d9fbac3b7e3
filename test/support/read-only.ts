/** A directory that refuses new files, also for root (tests of "the config directory is read-only"). */
import { execFileSync } from 'node:child_process';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Makes `dir` refuse new files: mode 0555, and where that does not stop us (root) the immutable
 * attribute. Fails the test, saying why, when neither works here.
 */
export async function readOnly(dir: string): Promise<void> {
  await chmod(dir, 0o555);
  const probe = join(dir, '.probe');
  const canWrite = async (): Promise<boolean> =>
    writeFile(probe, '').then(
      async () => (await rm(probe), true),
      () => false,
    );
  if (!(await canWrite())) return;
  try {
    execFileSync('chattr', ['+i', dir], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`cannot make ${dir} read-only here (running as root, and chattr +i failed: ${(err as Error).message})`);
  }
  if (await canWrite()) throw new Error(`cannot make ${dir} read-only here (root ignores its mode, and chattr +i did not stop writes)`);
}

/** Undoes readOnly (mode 0755, immutable attribute cleared). */
export async function writable(dir: string): Promise<void> {
  try {
    execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
  } catch {
    // not set, or no chattr
  }
  await chmod(dir, 0o755).catch(() => undefined);
}
