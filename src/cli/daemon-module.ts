/**
 * `ockle daemon`'s module. From dist/src: run-daemon.js, as any module. In the bundled build
 * (dist/bundle/main.js, what the systemd unit and `npm start` run; tools/bundle-daemon.ts) the
 * daemon is a CommonJS bundle of its own, loaded through V8's code cache (src/code-cache.ts):
 * its compiled code is saved a while after a start, and the next start reads it instead of
 * compiling the daemon again.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { runDaemon as RunDaemon } from '../run-daemon.js';

declare global {
  /** Set (to true) in the bundled build only, by tools/bundle-daemon.ts. */
  var __OCKLE_BUNDLED__: boolean | undefined;
}

/** How long after a start the code cache is saved: the first requests and the plugins' start are in it too. */
const SAVE_AFTER_MS = 5000;

export interface DaemonModule {
  readonly runDaemon: typeof RunDaemon;
  /** The code cache at this load (bundled build only). */
  readonly codeCache?: string;
  /** The daemon is started: the code cache is saved a while later. */
  started(): void;
  /** The daemon stopped: the code cache is saved now if it was not yet. */
  stopped(): void;
}

export async function daemonModule(): Promise<DaemonModule> {
  if (globalThis.__OCKLE_BUNDLED__) {
    const { codeCacheDir, loadCommonJs } = await import('../code-cache.js');
    const file = fileURLToPath(new URL('../../bundle/daemon/daemon.cjs', import.meta.url));
    // Beside the bundle (a checkout run by `npm start`), unless systemd's CacheDirectory= says where.
    const loaded = loadCommonJs(file, codeCacheDir(process.env, join(dirname(file), '.code-cache')));
    let timer: NodeJS.Timeout | undefined;
    return {
      runDaemon: loaded.exports.runDaemon as typeof RunDaemon,
      codeCache: loaded.cache,
      started: () => void (timer = setTimeout(() => loaded.save(), SAVE_AFTER_MS).unref()),
      stopped: () => {
        clearTimeout(timer);
        loaded.save();
      },
    };
  }
  const { runDaemon } = await import('../run-daemon.js');
  return { runDaemon, started: () => undefined, stopped: () => undefined };
}
