/**
 * A throwaway copy of the bundled demo config (config/) in a temp dir, with its own state
 * directory, so end-to-end tests run the real daemon on the real demo lab.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root: the nearest ancestor holding ockle's package.json (works from test/ and dist/test/). */
export const REPO = ((): string => {
  let dir = import.meta.dirname;
  while (dir !== dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'ockle') return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the ockle repository root');
})();

export interface DemoCopy {
  /** The config directory (holds ockle.ini, devices/, servers/). */
  readonly configDir: string;
  readonly stateDir: string;
  /** Rewrites one file of the copy (path relative to the config dir). */
  write(file: string, text: string): Promise<void>;
  read(file: string): Promise<string>;
  /** Removes the whole temp tree. */
  cleanup(): Promise<void>;
}

export async function demoConfig(): Promise<DemoCopy> {
  const root = await mkdtemp(join(tmpdir(), 'ockle-demo-'));
  const configDir = join(root, 'config');
  const stateDir = join(root, 'state');
  await cp(join(REPO, 'config'), configDir, { recursive: true });
  const ini = join(configDir, 'ockle.ini');
  // Port 0 (the API's and the metrics plugin's): a free port each; the daemon publishes the API's
  // in <state>/api.json, `ockle cmd metrics.endpoint` tells the metrics URL.
  const text = (await readFile(ini, 'utf8'))
    .replace(/^state_dir = .*$/m, 'state_dir = ../state')
    .replace(/^port = .*$/gm, 'port = 0')
    .replace(/^log_level = .*$/m, 'log_level = warn');
  await writeFile(ini, text);
  return {
    configDir,
    stateDir,
    write: (file, t) => writeFile(join(configDir, file), t),
    read: (file) => readFile(join(configDir, file), 'utf8'),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
