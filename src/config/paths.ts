/**
 * Where things live. The daemon, the config loader and the CLI must agree on these, so they
 * are computed here only.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

/** File in the state directory holding the daemon's local admin token (mode 0600). */
export const LOCAL_TOKEN_FILE = 'api-token';
/** File in the state directory where the daemon publishes its API URL (it may listen on port 0 in tests). */
export const API_INFO_FILE = 'api.json';
/** Contents of API_INFO_FILE. */
export interface ApiInfo {
  readonly url: string;
  readonly pid: number;
}

/**
 * The state directory: `[daemon] state_dir` if set (relative to the config directory),
 * else systemd's $STATE_DIRECTORY, else `state/` beside the config directory.
 */
export function resolveStateDir(configDir: string, stateDirSetting: string, env: NodeJS.ProcessEnv = process.env): string {
  if (stateDirSetting !== '') return isAbsolute(stateDirSetting) ? stateDirSetting : resolve(configDir, stateDirSetting);
  const fromSystemd = env.STATE_DIRECTORY?.split(':')[0];
  if (fromSystemd) return fromSystemd;
  return resolve(configDir, '..', 'state');
}

/**
 * The config directory when none is given: $OCKLE_CONFIG, systemd's $CONFIGURATION_DIRECTORY,
 * `./config` when it holds an ockle.ini (a checkout), else /etc/ockle.
 */
export function defaultConfigDir(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  if (env.OCKLE_CONFIG) return resolve(cwd, env.OCKLE_CONFIG);
  const fromSystemd = env.CONFIGURATION_DIRECTORY?.split(':')[0];
  if (fromSystemd) return fromSystemd;
  const local = join(cwd, 'config');
  if (existsSync(join(local, 'ockle.ini'))) return local;
  return '/etc/ockle';
}
