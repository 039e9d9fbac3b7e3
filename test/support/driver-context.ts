/** A DriverContext for building drivers directly in tests (no daemon). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DriverContext, ServerBinding } from '../../drivers/types.js';
import { silentLogger } from '../../src/log.js';

export function makeDriverContext(o: { id: string; stateDir?: string; server?: ServerBinding; shared?: Map<string, unknown> }): DriverContext {
  const shared = o.shared ?? new Map<string, unknown>();
  return {
    id: o.id,
    log: silentLogger(),
    stateDir: o.stateDir ?? mkdtempSync(join(tmpdir(), 'ockle-driver-')),
    ...(o.server && { server: o.server }),
    shared: <T>(key: string, init: () => T): T => {
      if (!shared.has(key)) shared.set(key, init());
      return shared.get(key) as T;
    },
  };
}
