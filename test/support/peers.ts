/**
 * Tests that need a real peer program from a Debian package (systemd-notify, socat, …).
 * Under CI=true a missing program fails the tests that need it; elsewhere they are skipped
 * and the reason is printed once to stderr. Never a silent skip (labgrid's importorskip is
 * the counterexample): the CI reporter also fails any run that skipped a test.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe } from 'vitest';

/** The Debian package that provides a program, where its name differs (test/debian-packages.txt lists the packages). */
const PACKAGE_OF: Readonly<Record<string, string>> = {
  'systemd-notify': 'systemd',
  'systemd-analyze': 'systemd',
  sshd: 'openssh-server',
  'ssh-keygen': 'openssh-client',
  ping: 'iputils-ping',
  ipmi_sim: 'openipmi',
  ipmipower: 'freeipmi-tools',
  upsd: 'nut-server',
  upsc: 'nut-client',
  upsmon: 'nut-client',
  mosquitto_pub: 'mosquitto-clients',
  mosquitto_sub: 'mosquitto-clients',
  mosquitto_passwd: 'mosquitto',
};

/** Where `binary` is on $PATH (an executable file, no shell involved), or null. */
export function which(binary: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return join(dir, binary);
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** Whether `binary` is on $PATH. */
export const have = (binary: string): boolean => which(binary) !== null;

/**
 * Checks that every program in `binaries` is on the PATH. `reason` names the missing ones and
 * the command that installs them, e.g. "socat not installed: apt-get install socat (listed in
 * test/debian-packages.txt)"; it is empty when `ok`.
 */
export function needs(binaries: readonly string[]): { ok: boolean; reason: string } {
  const missing = binaries.filter((b) => !have(b));
  if (missing.length === 0) return { ok: true, reason: '' };
  const packages = [...new Set(missing.map((b) => PACKAGE_OF[b] ?? b))];
  return {
    ok: false,
    reason: `${missing.join(', ')} not installed: apt-get install ${packages.join(' ')} (listed in test/debian-packages.txt)`,
  };
}

const printed = new Set<string>();

/** CI=true (or any value but empty, 0 and false), as CI services set it. */
function underCi(): boolean {
  const ci = (process.env.CI ?? '').toLowerCase();
  return ci !== '' && ci !== '0' && ci !== 'false';
}

/**
 * A describe block whose peer is present (`missing` null) runs; otherwise under CI=true it
 * fails with the reason, and elsewhere it is skipped with the reason printed once to stderr.
 */
function gated(name: string, missing: string | null, body: () => void): void {
  if (missing === null) {
    describe(name, body);
    return;
  }
  if (underCi()) {
    describe(name, () => {
      throw new Error(`${name}: ${missing}. Under CI=true a missing test peer is a failure, not a skip.`);
    });
    return;
  }
  const line = `skipping "${name}": ${missing}`;
  if (!printed.has(line)) {
    printed.add(line);
    process.stderr.write(`${line}\n`);
  }
  describe.skip(name, body);
}

/**
 * `describe` for tests that need the programs in `binaries`. All present: a plain describe.
 * One missing: under CI=true the block fails with the reason; elsewhere it is skipped and the
 * reason is printed once to stderr.
 */
export function describePeer(name: string, binaries: readonly string[], body: () => void): void {
  const { ok, reason } = needs(binaries);
  gated(name, ok ? null : reason, body);
}

/**
 * A python3 on $PATH that can import `module` (Debian's, when a version manager's shim comes
 * first and lacks the Debian-packaged module), or null.
 */
export function pythonWith(module: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const py = join(dir, 'python3');
    if (!dir || !existsSync(py)) continue;
    if (spawnSync(py, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 10_000 }).status === 0) return py;
  }
  return null;
}

/**
 * `describe` for tests that need a Python module from a Debian package; the body gets the
 * interpreter. Missing: fails under CI=true, skipped with the printed reason elsewhere.
 */
export function describePython(name: string, module: string, debianPackage: string, body: (python: string) => void): void {
  const py = pythonWith(module);
  gated(name, py ? null : `no python3 on $PATH can import ${module}: apt-get install ${debianPackage} (listed in test/debian-packages.txt)`, () => body(py ?? 'python3'));
}

/** Former name of {@link describePeer}. */
export const describeWithPeers = describePeer;

/**
 * The team's shared test data (real PDU recordings…), kept beside the project root and never
 * copied into it. Present: the path; absent: null.
 */
export function sharedData(rel: string): string | null {
  const dir = join(import.meta.dirname, '..', '..', '..', 'shared', rel);
  return existsSync(dir) ? dir : null;
}

/**
 * `describe` for tests that replay the shared data under `rel`. Present: a plain describe.
 * Absent: under CI=true the block fails; elsewhere it is skipped with the reason printed once.
 */
export function describeShared(name: string, rel: string, body: (dir: string) => void): void {
  const dir = sharedData(rel);
  gated(name, dir ? null : `../shared/${rel} is not beside this clone (the team's shared recordings are not part of the project)`, () => body(dir ?? ''));
}

/**
 * `describe` for tests that need root (mounting a small tmpfs to fill a disk). Not root: fails
 * under CI=true (CI runs as root), skipped with the reason elsewhere.
 */
export function describeRoot(name: string, body: () => void): void {
  const root = process.getuid?.() === 0;
  gated(name, root ? null : 'needs root (it mounts a small tmpfs); run the suite as root, as CI does', body);
}
