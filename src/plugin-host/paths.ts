/** Where a plugin's compiled worker module is. */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `file` next to the manifest at `manifestUrl` when running the build (dist/plugins/NAME/);
 * from the sources (tests run TypeScript directly), the built copy under dist/ (npm test builds
 * first).
 */
export function builtModule(manifestUrl: string, file: string): string {
  const here = dirname(fileURLToPath(manifestUrl));
  const next = join(here, file);
  return existsSync(next) ? next : join(here, '..', '..', 'dist', 'plugins', basename(here), file);
}
