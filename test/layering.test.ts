/**
 * The layers of DESIGN.md: drivers never import the core, plugins never import drivers, and
 * faces (api, cli, web) reach drivers only through the registry (the catalogue of types).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './support/demo.js';

function files(dir: string): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(join(REPO, dir));
  } catch {
    return [];
  }
  for (const n of names) {
    const p = join(dir, n);
    if (statSync(join(REPO, p)).isDirectory()) out = out.concat(files(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const IMPORT = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function imports(file: string): { line: number; target: string }[] {
  const text = readFileSync(join(REPO, file), 'utf8');
  const out: { line: number; target: string }[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2]!;
    if (!spec.startsWith('.')) continue;
    const line = text.slice(0, m.index).split('\n').length;
    out.push({ line, target: relative(REPO, resolve(REPO, dirname(file), spec)).replace(/\.js$/, '.ts') });
  }
  return out;
}

function violations(from: string[], forbidden: (target: string) => boolean): string[] {
  return from.flatMap((f) => imports(f).filter((i) => forbidden(i.target)).map((i) => `${f}:${i.line} imports ${i.target}`));
}

describe('layering', () => {
  it('drivers never import the core', () => {
    expect(violations(files('drivers'), (t) => t.startsWith('src/core/'))).toEqual([]);
  });
  it('plugins never import drivers', () => {
    expect(violations(files('plugins'), (t) => t.startsWith('drivers/'))).toEqual([]);
  });
  it('faces reach drivers only through the registry and the types', () => {
    const faces = [...files('src/api'), ...files('src/cli'), ...files('src/web')];
    expect(faces.length).toBeGreaterThan(0);
    expect(violations(faces, (t) => t.startsWith('drivers/') && t !== 'drivers/registry.ts' && t !== 'drivers/types.ts')).toEqual([]);
  });
  it('finds imports (the scanner itself works)', () => {
    expect(imports('src/daemon.ts').map((i) => i.target)).toContain('drivers/registry.ts');
  });
});
