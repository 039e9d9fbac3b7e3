/**
 * `ockle import-ockle OCKLE_ETC_DIR [--out DIR]`: the disk side of the importer. Reads the
 * Ockle etc directory (never writes there), refuses an output directory that exists and is not
 * empty (or lies inside the Ockle directory), writes the translation into a temporary directory
 * beside the output and renames it into place, prints the report, and checks the result as
 * `ockle config check` does. The translation itself is translateOckle (ockle.ts), pure.
 * Exit codes: 0 written and valid, 1 written but `config check` reports errors, 2 bad input
 * (nothing written).
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { formatProblem } from '../errors.js';
import { configFileOf, ockleDirs, translateOckle, type ReportLine } from './ockle.js';

export interface ImportIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly cwd: string;
}

export const DEFAULT_OUT = 'ockle-config';
const USAGE = 'the command is `ockle import-ockle OCKLE_ETC_DIR [--out DIR]` (default DIR: ./ockle-config)';

const isInside = (child: string, parent: string): boolean => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

async function kindOf(path: string): Promise<'dir' | 'file' | 'other' | 'none'> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
  } catch {
    return 'none';
  }
}

/** The regular files of a directory (links followed), by name; undefined when it is not a directory. */
async function filesOf(dir: string): Promise<string[] | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  const out: string[] = [];
  for (const n of names.sort()) if ((await kindOf(join(dir, n))) === 'file') out.push(n);
  return out;
}

/** Reads what Ockle read: config.ini and every file of the directories it names. */
export async function readOckleEtc(src: string): Promise<{ files: Map<string, string>; notes: string[] } | { error: string }> {
  const top = (await filesOf(src)) ?? [];
  const files = new Map<string, string>();
  const cfg = configFileOf(top);
  if (cfg) files.set(cfg, await readFile(join(src, cfg), 'utf8'));
  const dirs = ockleDirs(cfg ? files.get(cfg) : undefined);
  const notes: string[] = [];
  for (const [what, dir] of [
    ['servers', dirs.servers],
    ['PDUs', dirs.outlets],
    ['testers', dirs.testers],
    ['controllers', dirs.controllers],
  ] as const) {
    const names = await filesOf(resolve(src, dir));
    if (names === undefined) {
      if (what === 'servers') return { error: `${src} has no ${dir}/ directory${cfg ? '' : ' and no config.ini'}: is it Ockle’s etc directory?` };
      notes.push(`${dir}/ is missing: no ${what}`);
      continue;
    }
    for (const n of names) files.set(`${dir}/${n}`, await readFile(resolve(src, dir, n), 'utf8'));
  }
  return { files, notes };
}

function printReport(out: (s: string) => void, report: readonly ReportLine[]): void {
  const groups: [ReportLine['kind'], string][] = [
    ['translated', 'translated'],
    ['not-carried', 'not carried'],
    ['note', 'notes'],
  ];
  for (const [kind, title] of groups) {
    const lines = report.filter((l) => l.kind === kind);
    if (lines.length === 0) continue;
    out(`\n${title} (${lines.length}):\n`);
    for (const l of lines) out(`  ${l.text}\n`);
  }
}

export async function importOckleCommand(args: readonly string[], outOption: string | undefined, io: ImportIo): Promise<number> {
  const fail = (msg: string): number => (io.stderr.write(`ockle: ${msg}\n`), 2);
  if (args.length !== 1) return fail(USAGE);
  const srcGiven = resolve(io.cwd, args[0]!);
  if ((await kindOf(srcGiven)) !== 'dir') return fail(`${srcGiven} is not a directory (${USAGE})`);
  const src = await realpath(srcGiven);
  const out = resolve(io.cwd, outOption ?? DEFAULT_OUT);
  const outKind = await kindOf(out);
  const outReal = outKind === 'none' ? out : await realpath(out);
  if (isInside(outReal, src)) return fail(`${out} is inside the Ockle directory ${src}, which is only read: choose --out elsewhere; nothing written`);
  if (outKind === 'file' || outKind === 'other') return fail(`${out} exists and is not a directory; nothing written`);
  if (outKind === 'dir' && (await readdir(out)).length > 0) return fail(`${out} exists and is not empty: give --out a new or empty directory; nothing written`);

  const read = await readOckleEtc(src);
  if ('error' in read) return fail(`${read.error}; nothing written`);
  const result = translateOckle(read.files);
  const report: ReportLine[] = [...result.report, ...read.notes.map((text) => ({ kind: 'note' as const, text }))];

  // Write beside the target, then rename: a failure half-way leaves no half-written config.
  const target = outReal;
  await mkdir(dirname(target), { recursive: true });
  const tmp = await mkdtemp(join(dirname(target), `.${basename(target)}.import-`));
  try {
    await chmod(tmp, 0o755);
    await mkdir(join(tmp, 'devices'));
    await mkdir(join(tmp, 'servers'));
    for (const [path, f] of result.files) await writeFile(join(tmp, path), f.text, { mode: f.secret ? 0o600 : 0o644, flag: 'wx' });
    if (outKind === 'dir') await rmdir(target);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }

  const o = (s: string): void => void io.stdout.write(s);
  o(`ockle import-ockle: read ${read.files.size} files of Ockle’s configuration in ${src}\n`);
  printReport(o, report);
  const secret = [...result.files].filter(([, f]) => f.secret).map(([p]) => p);
  o(`\nwrote ${result.files.size} files to ${out}: ${[...result.files.keys()].join(', ')}\n`);
  if (secret.length > 0) o(`  ${secret.join(', ')}: mode 0600, they hold secrets (communities, passwords)\n`);

  const [{ checkConfig }, { defaultRegistry }, { builtinPluginTemplates }] = await Promise.all([
    import('../config/load.js'),
    import('../../drivers/registry.js'),
    import('../../plugins/registry.js'),
  ]);
  const { problems } = await checkConfig(out, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
  const errors = problems.filter((p) => p.severity === 'error').length;
  o(`\nconfig check: ${errors} error${errors === 1 ? '' : 's'}, ${problems.length - errors} warning${problems.length - errors === 1 ? '' : 's'}\n`);
  for (const p of problems) o(`  ${formatProblem(p)}\n`);
  const rel = relative(io.cwd, out);
  const shown = rel === '' ? '.' : rel.startsWith('..') ? out : rel;
  if (errors > 0) {
    io.stderr.write(`ockle: the imported configuration has errors (above); fix them in ${shown}, then \`ockle config check ${shown}\`\n`);
    return 1;
  }
  o(`next: read the lines above, then \`ockle daemon --config ${shown}\`\n`);
  return 0;
}
