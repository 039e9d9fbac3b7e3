/**
 * A busy lab, as its journal shows it: `n` forced power cycles of `server` (a CI farm's boards
 * cycled through the PDUDaemon face), appended to the journal of a stopped daemon, so the next
 * start reads a journal with more records than it holds (2000) or looks back over.
 */
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JOURNAL_FILE } from '../../src/core/journal.js';

export async function appendForcedCycles(stateDir: string, server: string, n: number): Promise<void> {
  const t0 = Date.now();
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `a${(t0 + i).toString(36)}00`;
    const at = new Date(t0 + i).toISOString();
    lines.push(JSON.stringify({ t: 'start', action: { id, kind: 'cycle', targets: [server], force: true, origin: 'pdudaemon', reason: 'lava', requestedAt: at, status: 'running', steps: [] } }));
    lines.push(JSON.stringify({ t: 'finish', id, status: 'ok', at }));
  }
  await appendFile(join(stateDir, JOURNAL_FILE), lines.join('\n') + '\n');
}
