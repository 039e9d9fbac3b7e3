/**
 * The journal's file on disk: append-only JSON lines, each record written whole or not at all.
 * What the journal means (actions, steps, trimming, ids) is src/core/journal.ts; this is how it
 * reaches the disk, and what happens when the disk says no.
 *
 * - A line that must be durable (an action's start or finish) is written after everything
 *   pending, in order, and fdatasync'ed; a start that cannot be written throws, so the action
 *   never exists.
 * - Steps are queued and written together once per turn of the event loop (a sequence of a
 *   thousand servers makes thousands of them, and one write each was its largest CPU cost).
 * - A write that fails is cut back off the file (no torn record is left) and kept pending, in
 *   order; it is retried every second until the disk takes it again. Nothing here throws from a
 *   timer.
 * - A torn last line found on open (power lost mid-write) is cut off and reported.
 */
import { closeSync, fdatasyncSync, ftruncateSync, openSync, writeSync, renameSync, statSync } from 'node:fs';
import { mkdir, open, readFile, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { OckleError } from '../errors.js';

export class JournalFile {
  readonly #path: string;
  #fd: number;
  #bytes: number;
  readonly #pending: string[] = [];
  #flushSoon: NodeJS.Immediate | null = null;
  /** Why the file cannot be written now (null: it can). */
  #unwritable: OckleError | null = null;
  #retry: NodeJS.Timeout | null = null;
  readonly #onTrouble: (message: string, err: OckleError | null) => void;

  constructor(path: string, onTrouble: (message: string, err: OckleError | null) => void) {
    this.#path = path;
    this.#onTrouble = onTrouble;
    this.#fd = openSync(path, 'a', 0o640);
    this.#bytes = statSync(path).size;
  }

  /**
   * The lines of the file at `path` (none when it does not exist yet). A last line without its
   * newline was torn by a crash or power loss mid-write; the next record would be glued onto it
   * (and lost with it): it is cut off, and `repairs` says whose it was.
   */
  static async read(dir: string, path: string): Promise<{ lines: string[]; repairs: string[] }> {
    await mkdir(dir, { recursive: true, mode: 0o750 });
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const repairs: string[] = [];
    if (text.length > 0 && !text.endsWith('\n')) {
      const keep = text.lastIndexOf('\n') + 1;
      const torn = text.slice(keep);
      const bytes = Buffer.byteLength(torn);
      const id = /"(?:id|action":\{"id)":"(a[0-9a-z]+)"/.exec(torn)?.[1];
      await truncate(path, Buffer.byteLength(text.slice(0, keep)));
      text = text.slice(0, keep);
      repairs.push(`the journal's last record was torn (a crash or power loss while it was written): ${bytes} bytes dropped${id ? `, of action ${id}` : ''}`);
    }
    return { lines: text.split('\n'), repairs };
  }

  /** The file's size in bytes, as written. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether lines wait to be written (the disk refused them, or the turn has not ended). */
  get pending(): boolean {
    return this.#pending.length > 0;
  }

  /** Why lines cannot be written now, or null. */
  get unwritable(): OckleError | null {
    return this.#unwritable;
  }

  /**
   * Writes `text` now, after what is pending, and syncs it; throws, having written nothing of
   * it, when it cannot (a start: the action then never existed).
   */
  writeNow(text: string): void {
    this.#flush();
    if (this.#pending.length > 0) throw this.#unwritable ?? new OckleError('OCKLE_JOURNAL_UNWRITABLE', 'the journal is closed');
    this.#writeWhole(text, true);
  }

  /** Queues `text`: written at the end of this turn, or now and synced with `sync`. Never throws. */
  queue(text: string, sync: boolean): void {
    this.#pending.push(text);
    if (sync) this.#flush(true);
    else this.#flushSoon ??= setImmediate(() => this.#flush());
  }

  /** Tries once more now (space may be back); the reason it still cannot write, or null. */
  retryNow(): OckleError | null {
    if (!this.#unwritable) return null;
    if (this.#pending.length > 0) this.#flush(true);
    else this.#probeWritable();
    return this.#unwritable;
  }

  /**
   * Writes `text` whole at the end of the file (a short write goes on where it stopped). On
   * failure the file is cut back to where it was, so no torn record is left, and it throws.
   */
  #writeWhole(text: string, sync: boolean): void {
    if (this.#fd < 0) throw new OckleError('OCKLE_JOURNAL_UNWRITABLE', 'the journal is closed');
    const buf = Buffer.from(text);
    const before = this.#bytes;
    try {
      for (let off = 0; off < buf.length; ) off += writeSync(this.#fd, buf, off, buf.length - off);
      if (sync) fdatasyncSync(this.#fd);
      this.#bytes = before + buf.length;
      this.#tail?.push(text);
      this.#recovered();
    } catch (err) {
      try {
        ftruncateSync(this.#fd, before);
      } catch {
        // nothing more can be done here; the torn tail is cut off at the next open
      }
      throw this.#trouble(err);
    }
  }

  /** Writes what is pending; never throws (it runs from a timer too). */
  #flush(sync = false): void {
    if (this.#flushSoon) clearImmediate(this.#flushSoon);
    this.#flushSoon = null;
    if (this.#pending.length === 0 || this.#fd < 0) return;
    try {
      this.#writeWhole(this.#pending.join(''), sync);
      this.#pending.length = 0;
    } catch {
      // kept in #pending, in order; retried (see #trouble)
    }
  }

  #trouble(err: unknown): OckleError {
    const code = (err as NodeJS.ErrnoException).code;
    const dir = this.#path.replace(/\/[^/]*$/, '');
    const why = code === 'ENOSPC' ? `no space left on ${dir}` : code === 'EDQUOT' ? `disk quota exceeded on ${dir}` : `${(err as Error).message}`;
    const e = new OckleError('OCKLE_JOURNAL_UNWRITABLE', `cannot record actions: ${why}`, {
      hint: `Free space in ${dir} (the state directory); ockle records actions again as soon as it can write, without a restart.`,
      cause: err,
    });
    if (!this.#unwritable) this.#onTrouble(e.message, e);
    this.#unwritable = e;
    // Keep trying: pending steps and finishes reach the disk once it has room again.
    this.#retry ??= setTimeout(() => {
      this.#retry = null;
      if (this.#pending.length > 0) this.#flush(true);
      else this.#probeWritable();
    }, 1000);
    this.#retry.unref();
    return e;
  }

  /** With nothing pending, whether the file takes a byte again (then cut back). */
  #probeWritable(): void {
    try {
      writeSync(this.#fd, '\n');
      ftruncateSync(this.#fd, this.#bytes);
      this.#recovered();
    } catch (err) {
      this.#trouble(err);
    }
  }

  #recovered(): void {
    if (!this.#unwritable) return;
    this.#unwritable = null;
    this.#onTrouble('the journal can be written again: actions are accepted', null);
  }

  /** Whether a rewrite (rewriteSoon) is under way. */
  get rewriting(): boolean {
    return this.#rewriting !== null;
  }

  /**
   * Replaces the whole file with `chunks` (a compaction) without holding the event loop: they
   * are taken one by one between writes to a temporary file on the thread pool, then synced,
   * while lines go on being appended (and synced) to the file itself, which stays whole and
   * current throughout. Then, in one synchronous step, the lines written meanwhile are appended
   * to the copy, which is synced and renamed over the file. A crash at any point leaves a whole
   * journal: the file as it was until the rename, the copy with every line after it.
   * Done in the loop, a compaction held it for the time of writing and syncing the whole file
   * (17–33 ms here for 4 MB, an SD card of a Pi takes ten times that), at the finish of the
   * action that triggered it, so that action's answer and every timer waited.
   * Resolves true once the file is replaced; false, leaving it as it was and the copy removed,
   * when the disk refused (a short write: the disk filling up) or the file was closed first.
   * One at a time: a call while one is under way resolves false at once.
   */
  rewriteSoon(chunks: Iterable<string>): Promise<boolean> {
    if (this.#rewriting || this.#fd < 0) return Promise.resolve(false);
    const tail: string[] = [];
    this.#tail = tail;
    const run = this.#rewrite(chunks, tail).finally(() => {
      this.#tail = null;
      this.#rewriting = null;
    });
    this.#rewriting = run;
    return run;
  }

  async #rewrite(chunks: Iterable<string>, tail: string[]): Promise<boolean> {
    const tmp = `${this.#path}.tmp`;
    let fh: FileHandle | null = null;
    try {
      fh = await open(tmp, 'w', 0o640);
      // Written in pieces of ~64 kB, each built from the chunks while the one before is written.
      let piece: string[] = [];
      let size = 0;
      for (const c of chunks) {
        piece.push(c);
        size += c.length;
        if (size >= 65_536) {
          await fh.writeFile(piece.join(''));
          piece = [];
          size = 0;
        }
      }
      if (size > 0) await fh.writeFile(piece.join(''));
      await fh.datasync();
      if (this.#fd < 0) throw new OckleError('OCKLE_JOURNAL_UNWRITABLE', 'the journal was closed');
      // From here to the rename, nothing else runs: no line can fall between the copy and the file.
      const rest = Buffer.from(tail.join(''));
      for (let off = 0; off < rest.length; ) off += writeSync(fh.fd, rest, off, rest.length - off);
      if (rest.length > 0) fdatasyncSync(fh.fd);
      renameSync(tmp, this.#path);
      closeSync(this.#fd);
      this.#fd = openSync(this.#path, 'a', 0o640);
      this.#bytes = statSync(this.#path).size;
      await fh.close();
      return true;
    } catch {
      await fh?.close().catch(() => undefined);
      // Gone already, or the directory refuses: the next compaction opens it with 'w' again.
      await unlink(tmp).catch(() => undefined);
      return false;
    }
  }
  /** The rewrite under way, and the lines written to the file since it took its text. */
  #rewriting: Promise<boolean> | null = null;
  #tail: string[] | null = null;

  /** Writes what is pending (synced), lets a rewrite under way finish, and closes the file. */
  async close(): Promise<void> {
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#flush(true);
    await this.#rewriting;
    if (this.#fd >= 0) {
      closeSync(this.#fd);
      this.#fd = -1;
    }
  }
}
