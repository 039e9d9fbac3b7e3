/**
 * Editing the configuration through the API (and the CLI on top of it): read a file with its
 * version, replace it, edit keys and sections, create and delete files, undo the last change.
 *
 * Every change:
 * - names the version it was based on (sha256 of the file's bytes; `absent` for no file): a
 *   stale one is refused with 409 OCKLE_CONFIG_CONFLICT, the current version and what changed;
 * - is checked with the whole configuration (`checkConfig` with the file overridden, or
 *   absent for a delete) and refused with every problem at file:line when it has an error;
 * - is written atomically (temporary file in the same directory, fsync, rename; the previous
 *   file kept as FILE.bak), touching only the lines that change (text.ts);
 * - is recorded in <state_dir>/config-history/: log.jsonl (when, who, file, versions, the
 *   changed lines with secrets masked) and the bytes of each version in blobs/ (mode 0600:
 *   they hold the secrets, for undo), and in the daemon's log (who, file, line numbers only);
 * - is then applied by a reload (only what changed restarts; nothing is switched).
 * A refusal writes nothing: the config directory stays byte for byte as it was.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, appendFile, mkdir, readFile, realpath, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, OckleError, toOckleError, type ConfigProblem } from '../../errors.js';
import { serialized, writeFileAtomic } from '../ini-edit.js';
import type { Config } from '../load.js';
import type { FileView } from '../view.js';
import { applyEdits, diffLines, maskText, restoreSecrets, secretPredicate, type DiffSummary, type Edit, type IsSecret } from './text.js';

/** The version of a file that does not exist. */
export const ABSENT = 'absent';
export const HISTORY_DIR = 'config-history';

export interface ConfigEditDeps {
  readonly configDir: string;
  /** The running configuration's state directory (history lives there). */
  stateDir(): string;
  /** The running configuration's view (which keys are secrets). */
  views(): readonly FileView[];
  /** checkConfig of the directory with these files replaced (null: absent). */
  check(overrides: ReadonlyMap<string, string | null>): Promise<{ problems: ConfigProblem[]; config?: Config }>;
  /** The daemon's reload: true when the new configuration was applied. */
  reload(): Promise<boolean>;
  /** Told of every change written (the daemon journals it with the power actions). */
  recorded?(entry: HistoryEntry): void;
  readonly log: Logger;
}

/** A file as `GET /api/config/files/PATH` answers it. */
export interface ConfigFileText {
  readonly path: string;
  /** sha256 of its bytes (hex), or `absent`. */
  readonly version: string;
  readonly exists: boolean;
  /** Its text with every secret value replaced by `[secret]` ('' when absent). */
  readonly text: string;
}

export type ChangeOp = 'replace' | 'edit' | 'create' | 'delete' | 'undo';

/** What a change did. */
export interface ConfigChange {
  readonly file: string;
  readonly op: ChangeOp;
  /** False when the result equals the file: nothing written, nothing recorded. */
  readonly changed: boolean;
  /** The version before, and now. */
  readonly previous: string;
  readonly version: string;
  /** The changed lines (old line numbers for -, new ones for +), secrets masked. */
  readonly diff: DiffSummary;
  /** Whether the reload after writing applied it (false: written, the daemon runs on the previous configuration; its log says why). */
  readonly reloaded: boolean;
  /** The history entry (null when nothing changed). */
  readonly id: string | null;
  /** Problems of the new configuration that are only warnings. */
  readonly warnings: readonly ConfigProblem[];
}

/** One line of <state_dir>/config-history/log.jsonl. */
export interface HistoryEntry {
  readonly id: string;
  readonly at: string;
  readonly who: string;
  readonly file: string;
  readonly op: ChangeOp;
  readonly before: string;
  readonly after: string;
  readonly diff: DiffSummary;
  /** For an undo: the entry it undid. */
  readonly undoes?: string;
}

/** 409: the file is not at the version the change was based on. */
export class ConfigConflictError extends OckleError {
  constructor(
    readonly file: string,
    readonly version: string,
    readonly base: string,
    readonly diff: DiffSummary | null,
  ) {
    const what = diff ? ` (${diff.removed} line(s) removed, ${diff.added} added${diff.lines.length > 0 ? `, from line ${Math.min(...diff.lines.map((l) => l.line))}` : ''})` : '';
    super(
      'OCKLE_CONFIG_CONFLICT',
      base === ABSENT
        ? `${file} already exists (version ${version.slice(0, 12)}); nothing was written`
        : version === ABSENT
          ? `${file} was deleted since version ${base.slice(0, 12)}; nothing was written`
          : `${file} changed since version ${base.slice(0, 12)}: it is now ${version.slice(0, 12)}${what}; nothing was written`,
      { hint: 'Read the file again and redo the change on its current version.' },
    );
  }
  override toJSON(): { code: 'OCKLE_CONFIG_CONFLICT'; message: string; hint?: string; file: string; version: string; base: string; diff: DiffSummary | null } {
    return { ...(super.toJSON() as { code: 'OCKLE_CONFIG_CONFLICT'; message: string; hint?: string }), file: this.file, version: this.version, base: this.base, diff: this.diff };
  }
}

/** 400: the configuration would not validate with the change; `problems` (every one, file:line) in the answer too. */
export class ConfigEditInvalidError extends ConfigError {
  override toJSON(): ReturnType<ConfigError['toJSON']> & { problems: readonly ConfigProblem[] } {
    return { ...super.toJSON(), problems: this.problems };
  }
}

function pathError(path: string, why: string): OckleError {
  return new OckleError('OCKLE_CONFIG_PATH', `${JSON.stringify(path.slice(0, 100))} ${why}; nothing was changed`);
}

/** ockle.ini, devices/NAME.ini, servers/NAME.ini, ups/NAME.ini: the files the loader reads. */
const EDITABLE = /^(ockle\.ini|(devices|servers|ups)\/[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\.ini)$/;

/** A history file written whole or not at all (mode 0600: it may hold secrets). */
async function writePrivate(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export function versionOf(bytes: Buffer | null): string {
  return bytes === null ? ABSENT : createHash('sha256').update(bytes).digest('hex');
}

const inside = (root: string, p: string): boolean => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);


export class ConfigEditor {
  /** Texts of versions recently served or written, to show what changed since one (bounded). */
  readonly #seen = new Map<string, string>();
  constructor(readonly deps: ConfigEditDeps) {}

  #remember(version: string, text: string | null): void {
    if (text === null) return;
    this.#seen.delete(version);
    this.#seen.set(version, text);
    while (this.#seen.size > 64) this.#seen.delete(this.#seen.keys().next().value!);
  }

  /**
   * The file `path` names, checked: relative, inside the config directory also through
   * symbolic links, and one the loader reads.
   * @throws OckleError OCKLE_CONFIG_PATH
   */
  async resolve(path: string): Promise<{ rel: string; abs: string }> {
    if (path.includes('\0') || isAbsolute(path) || path.startsWith('\\')) throw pathError(path, 'is not a path relative to the config directory');
    const parts = path.split(/[\\/]/);
    if (parts.some((s) => s === '..' || s === '.' || s === '')) throw pathError(path, 'leads outside the config directory or is not a plain relative path');
    if (!path.endsWith('.ini')) throw pathError(path, 'is not an .ini file');
    if (!EDITABLE.test(path)) throw pathError(path, 'is not a file ockle reads (ockle.ini, devices/NAME.ini, servers/NAME.ini, ups/NAME.ini)');
    let root: string;
    try {
      root = await realpath(this.deps.configDir);
    } catch (err) {
      throw new OckleError('OCKLE_CONFIG_UNREADABLE', `cannot read ${this.deps.configDir}: ${toOckleError(err).message}`);
    }
    const abs = join(root, path);
    const parent = await realpath(dirname(abs)).catch(() => dirname(abs));
    if (!inside(root, parent)) throw pathError(path, `leads outside the config directory (${dirname(path)} is a link to ${parent})`);
    let target = abs;
    try {
      target = await realpath(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new OckleError('OCKLE_CONFIG_UNREADABLE', `cannot read ${path}: ${toOckleError(err).message}`);
    }
    if (!inside(root, target)) throw pathError(path, `leads outside the config directory (a link to ${target})`);
    return { rel: relative(root, abs).split(sep).join('/'), abs: target };
  }

  async #readBytes(abs: string, rel: string): Promise<Buffer | null> {
    try {
      return await readFile(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new OckleError('OCKLE_CONFIG_UNREADABLE', `cannot read ${rel}: ${toOckleError(err).message}`);
    }
  }

  /** Which keys of `rel` are secrets: the schema's word (running config, and `extra`), and secret-looking names. */
  #secrets(rel: string, ...extra: (readonly FileView[] | undefined)[]): IsSecret {
    const known = new Set<string>();
    for (const views of [this.deps.views(), ...extra])
      for (const f of views ?? []) if (f.file === rel) for (const s of f.sections) for (const k of s.keys) if (k.secret) known.add(`${s.name}\0${k.key}`);
    return secretPredicate(known);
  }

  /** A file with its version, secrets masked. */
  async read(path: string): Promise<ConfigFileText> {
    const { rel, abs } = await this.resolve(path);
    const bytes = await this.#readBytes(abs, rel);
    const version = versionOf(bytes);
    const text = bytes === null ? null : bytes.toString('utf8');
    this.#remember(version, text);
    return { path: rel, version, exists: bytes !== null, text: text === null ? '' : maskText(text, this.#secrets(rel)) };
  }

  /** Replaces the whole file (`[secret]` values keep the stored ones); version `absent` creates it. */
  replace(path: string, version: string, text: string, who: string): Promise<ConfigChange> {
    return this.#commit(path, version, who, version === ABSENT ? 'create' : 'replace', (current, rel) => restoreSecrets(text, current, this.#secrets(rel)));
  }

  /** Structured edits of one file, applied in order. */
  edit(path: string, version: string, edits: readonly Edit[], who: string): Promise<ConfigChange> {
    return this.#commit(path, version, who, 'edit', (current, rel) => {
      if (current === null) throw new OckleError('OCKLE_NOT_FOUND', `${rel} does not exist`, { hint: 'Create it first (POST /api/config/files/PATH, `ockle config add`).' });
      return applyEdits(current, edits);
    });
  }

  /** Creates a file that must not exist yet. */
  create(path: string, text: string, who: string): Promise<ConfigChange> {
    return this.replace(path, ABSENT, text, who);
  }

  /** Deletes a file (kept as FILE.bak and in the history). */
  remove(path: string, version: string, who: string): Promise<ConfigChange> {
    return this.#commit(path, version, who, 'delete', (_current, rel) => {
      if (rel === 'ockle.ini') throw pathError(rel, 'cannot be deleted (the daemon needs it)');
      return null;
    });
  }

  /** Undoes the latest change not undone yet (itself a change: checked, conflict-checked, recorded). */
  undo(who: string): Promise<ConfigChange> {
    return serialized(this.deps.configDir, async () => {
      const entries = await this.history();
      const undone = new Set(entries.flatMap((e) => (e.undoes ? [e.undoes] : [])));
      const last = [...entries].reverse().find((e) => e.op !== 'undo' && !undone.has(e.id));
      if (!last) throw new OckleError('OCKLE_NOT_FOUND', 'there is no configuration change to undo', { hint: '`ockle config history` lists the changes made through ockle.' });
      const before = last.before === ABSENT ? null : await this.#blob(last.before);
      return this.#commitNow(last.file, last.after, who, 'undo', () => before, last.id);
    });
  }

  /** Every recorded change, oldest first. */
  async history(): Promise<HistoryEntry[]> {
    let text: string;
    try {
      text = await readFile(join(this.#historyDir(), 'log.jsonl'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new OckleError('OCKLE_CONFIG_UNREADABLE', `cannot read the configuration history: ${toOckleError(err).message}`);
    }
    return text.split('\n').flatMap((l) => {
      try {
        return l.trim() === '' ? [] : [JSON.parse(l) as HistoryEntry];
      } catch {
        return [];
      }
    });
  }

  #historyDir(): string {
    return join(this.deps.stateDir(), HISTORY_DIR);
  }

  async #blob(version: string): Promise<string> {
    try {
      return await readFile(join(this.#historyDir(), 'blobs', version), 'utf8');
    } catch (err) {
      throw new OckleError('OCKLE_CONFIG_UNREADABLE', `the history has no copy of version ${version.slice(0, 12)} (${toOckleError(err).message}); it cannot be undone`, {
        hint: 'Restore the file by hand (FILE.bak holds the previous version).',
      });
    }
  }

  #commit(path: string, base: string, who: string, op: ChangeOp, compute: (current: string | null, rel: string) => string | null): Promise<ConfigChange> {
    return serialized(this.deps.configDir, () => this.#commitNow(path, base, who, op, compute));
  }

  async #commitNow(path: string, base: string, who: string, op: ChangeOp, compute: (current: string | null, rel: string) => string | null, undoes?: string): Promise<ConfigChange> {
    const { rel, abs } = await this.resolve(path);
    const bytes = await this.#readBytes(abs, rel);
    const version = versionOf(bytes);
    const current = bytes === null ? null : bytes.toString('utf8');
    if (version !== base) {
      const known = base === ABSENT ? null : this.#seen.get(base);
      const diff = known === undefined ? null : diffLines(known, current, this.#secrets(rel));
      throw new ConfigConflictError(rel, version, base, diff);
    }
    const next = compute(current, rel);
    if (next === current) return { file: rel, op, changed: false, previous: version, version, diff: { added: 0, removed: 0, lines: [] }, reloaded: false, id: null, warnings: [] };
    // The whole configuration with the change: refused with every problem when it has an error.
    const checked = await this.deps.check(new Map([[rel, next]]));
    if (!checked.config) throw new ConfigEditInvalidError(checked.problems);
    const isSecret = this.#secrets(rel, checked.config.view);
    const diff = diffLines(current, next, isSecret);
    const after = versionOf(next === null ? null : Buffer.from(next, 'utf8'));
    // The config directory must take the file before anything is recorded.
    try {
      // A devices/ or servers/ not made yet (a lab built from ockle.ini alone): the config
      // directory must take it.
      await access(dirname(abs), constants.W_OK).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' && rel.includes('/')) return access(dirname(dirname(abs)), constants.W_OK);
        throw err;
      });
    } catch (err) {
      throw new OckleError('OCKLE_CONFIG_UNWRITABLE', `cannot write ${rel}: ${dirname(rel) === '.' ? 'the config directory' : `${dirname(rel)}/`} is not writable (${(err as NodeJS.ErrnoException).code ?? toOckleError(err).message}); nothing was changed`);
    }
    // Both versions' bytes go to the history first (undo needs them), then the file.
    const dir = this.#historyDir();
    try {
      await mkdir(join(dir, 'blobs'), { recursive: true, mode: 0o700 });
      if (current !== null) await writePrivate(join(dir, 'blobs', version), current);
      if (next !== null) await writePrivate(join(dir, 'blobs', after), next);
    } catch (err) {
      throw new OckleError('OCKLE_CONFIG_UNWRITABLE', `cannot record the change in ${dir} (${toOckleError(err).message}); nothing was changed`, {
        hint: 'Free space in the state directory or fix its permissions, then try again.',
      });
    }
    try {
      if (next === null) await rename(abs, `${abs}.bak`);
      else {
        // The first server or device of a lab started from ockle.ini alone makes both folders
        // (the loader takes one of them missing beside the other for a folder moved away).
        if (rel.includes('/')) for (const sub of ['devices', 'servers', ...(rel.startsWith('ups/') ? ['ups'] : [])]) await mkdir(join(dirname(dirname(abs)), sub), { recursive: true, mode: 0o755 });
        await writeFileAtomic(abs, next);
      }
    } catch (err) {
      throw new OckleError('OCKLE_CONFIG_UNWRITABLE', `cannot write ${rel}: ${(err as Error).message}; nothing was changed`);
    }
    this.#remember(version, current);
    this.#remember(after, next);
    const entry: HistoryEntry = { id: `c${Date.now().toString(36)}${randomBytes(2).toString('hex')}`, at: new Date().toISOString(), who, file: rel, op, before: version, after, diff, ...(undoes && { undoes }) };
    try {
      await appendFile(join(dir, 'log.jsonl'), JSON.stringify(entry) + '\n', { mode: 0o600 });
    } catch (err) {
      this.deps.log.error({ err: toOckleError(err).message, file: rel }, 'the configuration change was written but could not be added to the history');
    }
    this.deps.recorded?.(entry);
    const where = diff.lines.map((l) => `${l.op}${l.line}`).join(' ');
    this.deps.log.info(
      { who, file: rel, op, id: entry.id, before: version.slice(0, 12), after: after.slice(0, 12), added: diff.added, removed: diff.removed, ...(undoes && { undoes }) },
      `config ${op} of ${rel} by ${who}: ${diff.removed} line(s) removed, ${diff.added} added (${where.slice(0, 200)})`,
    );
    const reloaded = await this.deps.reload();
    return { file: rel, op, changed: true, previous: version, version: after, diff, reloaded, id: entry.id, warnings: checked.problems.filter((p) => p.severity === 'warning' && p.file === rel) };
  }
}
