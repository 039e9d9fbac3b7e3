/**
 * The layers of DESIGN.md: drivers never import the core, plugins never import drivers, and
 * faces (api, cli, web) reach drivers only through the registry and the types (the catalogue,
 * not hardware code). A failure lists each offending import as file:line.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './support/demo.js';

/** Every .ts and .tsx file under `dir` (relative to the repo), skipping node_modules and build output. */
function files(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(REPO, dir));
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const p = join(dir, n);
    if (n === 'node_modules' || n === 'dist') return [];
    if (statSync(join(REPO, p)).isDirectory()) return files(p);
    return p.endsWith('.ts') || p.endsWith('.tsx') ? [p] : [];
  });
}

// `import … from 'x'`, `export … from 'x'` (also `import type`, `export *`), `import 'x'`, `import('x')`.
const IMPORT = /\b(?:import|export)\s[^'";]*?\sfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

interface Import {
  line: number;
  /** Repository-relative path of the imported module, `.js` mapped back to `.ts`. */
  target: string;
}

/** The relative imports in `text` of the repository file `file`. */
function importsIn(file: string, text: string): Import[] {
  const out: Import[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (!spec.startsWith('.')) continue;
    const line = text.slice(0, m.index).split('\n').length;
    const ts = relative(REPO, resolve(REPO, dirname(file), spec)).replace(/\.js$/, '.ts');
    // A `.js` import of a .tsx module (the dashboard) names the .tsx file.
    out.push({ line, target: !existsSync(join(REPO, ts)) && existsSync(join(REPO, `${ts}x`)) ? `${ts}x` : ts });
  }
  return out;
}

function violations(from: string[], forbidden: (target: string) => boolean): string[] {
  return from.flatMap((f) =>
    importsIn(f, readFileSync(join(REPO, f), 'utf8'))
      .filter((i) => forbidden(i.target))
      .map((i) => `${f}:${i.line} imports ${i.target}`),
  );
}

const FACE_MAY_IMPORT = new Set(['drivers/registry.ts', 'drivers/types.ts']);

/**
 * The config floor: what the loader may stand on. Its own files, the errors, the pure graph
 * functions, and the driver types and registry (for templates). Never the core, the plugin
 * host, plugins, the faces, driver code or the generators in tools/.
 */
const CONFIG_MAY_IMPORT = (t: string): boolean =>
  t.startsWith('src/config/') || t === 'src/errors.ts' || t === 'src/graph.ts' || FACE_MAY_IMPORT.has(t);

describe('layering', () => {
  it('no file of the core is much over 400 lines (one job each: split along the seam, not by scrolling)', () => {
    // Issue 15's bound. A file that grew past it (the journal, once its size bound came in)
    // is split where its jobs part, as journal.ts and journal-file.ts were.
    const long = files('src/core')
      .map((f) => ({ f, lines: readFileSync(join(REPO, f), 'utf8').split('\n').length }))
      .filter((x) => x.lines > 430)
      .map((x) => `${x.f}: ${x.lines} lines`);
    expect(long).toEqual([]);
  });

  it('drivers never import the core', () => {
    const driverFiles = files('drivers');
    expect(driverFiles.length).toBeGreaterThan(0);
    expect(violations(driverFiles, (t) => t.startsWith('src/core/'))).toEqual([]);
  });

  it('plugins never import drivers', () => {
    expect(violations(files('plugins'), (t) => t.startsWith('drivers/'))).toEqual([]);
  });

  it('the config floor stands on nothing above it (no core, plugins, faces or doc generators)', () => {
    const configFiles = files('src/config');
    expect(configFiles.length).toBeGreaterThan(3);
    expect(violations(configFiles, (t) => !CONFIG_MAY_IMPORT(t))).toEqual([]);
  });

  it('src/graph.ts is pure: it imports nothing of ockle', () => {
    expect(violations(['src/graph.ts'], () => true)).toEqual([]);
  });

  it('nothing that ships at run time imports the doc generators in tools/', () => {
    const shipped = [...files('src'), ...files('drivers'), ...files('plugins')];
    expect(violations(shipped, (t) => t.startsWith('tools/'))).toEqual([]);
  });

  it('faces (api, cli, web, the PDUDaemon face) reach drivers only through the registry and the types', () => {
    const faces = [...files('src/api'), ...files('src/cli'), ...files('src/web'), ...files('src/faces')];
    expect(faces.some((f) => f.endsWith('.tsx'))).toBe(true); // the dashboard's views are read too
    expect(violations(faces, (t) => t.startsWith('drivers/') && !FACE_MAY_IMPORT.has(t))).toEqual([]);
  });
});

/** Who imports whom among `all` (type imports included). */
function importGraph(all: readonly string[]): Map<string, string[]> {
  return new Map(all.map((f) => [f, importsIn(f, readFileSync(join(REPO, f), 'utf8')).map((i) => i.target).filter((t) => all.includes(t))]));
}

/** Circles in an import graph: its strongly connected groups of two or more files (Tarjan). */
function circles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const all = [...graph.keys()];
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  let n = 0;
  const visit = (v: string): void => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        on.delete(w);
        group.push(w);
        if (w === v) break;
      }
      if (group.length > 1) out.push(group.sort());
    }
  };
  for (const f of all) if (!index.has(f)) visit(f);
  return out;
}

describe('import circles', () => {
  it('there are none, in the core or anywhere else (type imports count: a circle of types is a tangle of ideas)', () => {
    const all = [...files('src'), ...files('drivers'), ...files('plugins'), ...files('tools')];
    expect(all.filter((f) => f.startsWith('src/core/')).length).toBeGreaterThan(5);
    expect(circles(importGraph(all))).toEqual([]);
  });
  it('the check finds a circle when there is one, and only the files in it', () => {
    const g = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts', 'd.ts']],
      ['d.ts', []],
      ['e.ts', ['a.ts']],
    ]);
    expect(circles(g)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });
});

describe('the import scanner', () => {
  it('finds static, re-export, side-effect and dynamic imports with their lines', () => {
    const text = [
      "import { a } from '../../src/core/tree.js';", // 1
      "import type {", // 2
      '  B,', // 3
      "} from '../types.js';", // 4
      "export * from './snmp.js';", // 5
      "export { c } from './c.js';", // 6
      "import './side-effect.js';", // 7
      "const m = await import('../registry.js');", // 8
      "import { fastify } from 'fastify';", // 9: a package, not a layer
      "const s = 'imported from somewhere';", // 10: prose, not an import
    ].join('\n');
    expect(importsIn('drivers/sim/index.ts', text)).toEqual([
      { line: 1, target: 'src/core/tree.ts' },
      { line: 2, target: 'drivers/types.ts' },
      { line: 5, target: 'drivers/sim/snmp.ts' },
      { line: 6, target: 'drivers/sim/c.ts' },
      { line: 7, target: 'drivers/sim/side-effect.ts' },
      { line: 8, target: 'drivers/registry.ts' },
    ]);
  });

  it('sees the real imports of a real file', () => {
    expect(importsIn('src/daemon.ts', readFileSync(join(REPO, 'src/daemon.ts'), 'utf8')).map((i) => i.target)).toContain(
      'drivers/registry.ts',
    );
  });
});
