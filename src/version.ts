/** ockle's version, read once from the package.json above this file (works from src/ and dist/src/). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ockle' && pkg.version) return (cached = pkg.version);
    } catch {
      // not here: look one level up
    }
    dir = dirname(dir);
  }
  return (cached = '0.0.0');
}
