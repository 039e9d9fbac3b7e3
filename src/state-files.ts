/**
 * Small files the daemon keeps in its state directory: written atomically (a reader never sees
 * half a file), and the local admin token the CLI on this machine signs in with.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';

/** Writes `data` to a temporary file beside `file`, then renames it over `file`. */
export async function atomicWrite(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, file);
}

/**
 * The local admin token for the CLI on this machine, kept in `file` (0600) and reused across
 * restarts so scripts keep working. Returns its SHA-256: only the hash is held in memory.
 */
export async function localTokenHash(file: string): Promise<string> {
  let token = '';
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch {
    // absent: create below
  }
  if (!/^ockle_[A-Za-z0-9_-]{43}$/.test(token)) {
    token = `ockle_${randomBytes(32).toString('base64url')}`;
    await atomicWrite(file, token + '\n', 0o600);
  }
  return createHash('sha256').update(token).digest('hex');
}
