/** `ockle test SERVER [TEST]` (tests now, with latency; nothing switched) and `ockle tree --dot` (issue 17). */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { treeDot } from '../../src/cli/commands.js';
import { demoDaemon } from '../support/cli.js';
import { describePeer } from '../support/peers.js';

describe('ockle test and ockle tree --dot', () => {
  const lab = demoDaemon();
  const { run, writes } = lab;

  it('runs a server’s tests now and prints each with its result and latency, switching nothing', async () => {
    const up = lab.d.gateway.servers().find((s) => s.state === 'OK' && s.tests.length > 0)!;
    const before = writes();
    const r = await run('test', up.name);
    expect(r.code).toBe(0);
    for (const t of up.tests) expect(r.out).toMatch(new RegExp(`${t.name}\\s+${t.type}\\s+PASSED\\s+\\d+ ms`));
    expect(r.out).toContain(`${up.name}: OK`);
    const one = await run('test', up.name, up.tests[0]!.name, '--json');
    expect(JSON.parse(one.out)).toMatchObject({ server: up.name, tests: [{ name: up.tests[0]!.name, result: 'PASSED' }] });
    expect(writes()).toBe(before);
  });

  it('exits 1 when a test fails, and 2 for a test the server does not have', async () => {
    const off = lab.d.gateway.servers().find((s) => s.state === 'OFF' && s.tests.length > 0);
    if (off) {
      const r = await run('test', off.name);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/FAILED/);
    }
    const any = lab.d.gateway.servers()[0]!;
    const r2 = await run('test', any.name, 'no-such-test');
    expect(r2.code).toBe(2);
    expect(r2.err).toContain(`server "${any.name}" has no test "no-such-test"`);
    expect((await run('test')).code).toBe(2);
  });

  it('prints the dependency graph as Graphviz DOT: a node per server filled by state, an edge per dependency', async () => {
    const tree = lab.d.gateway.tree();
    const r = await run('tree', '--dot');
    expect(r.code).toBe(0);
    expect(r.out).toBe(treeDot(tree));
    expect(r.out.startsWith('digraph ockle {\n')).toBe(true);
    expect(r.out.trimEnd().endsWith('}')).toBe(true);
    for (const n of tree.nodes) expect(r.out).toContain(`"${n.name}" [label="${n.name}\\n${n.state}"`);
    for (const e of tree.edges) expect(r.out).toContain(`"${e.from}" -> "${e.to}";`);
    expect(treeDot({ nodes: [{ name: 'a"b', state: 'OK' }], edges: [], order: ['a"b'], remote: [] })).toContain('"a\\"b"');
  });
});

describePeer('ockle tree --dot, read by Graphviz', ['dot'], () => {
  it('is a graph Graphviz parses and lays out, with a node per server and an edge per dependency', () => {
    const tree = {
      nodes: [
        { name: 'storage-1', state: 'OK' as const },
        { name: 'vm "host" 1', state: 'FAILED_TO_START' as const },
      ],
      edges: [{ from: 'vm "host" 1', to: 'storage-1' }],
      order: ['storage-1', 'vm "host" 1'],
      remote: [],
    };
    const plain = execFileSync('dot', ['-Tplain'], { input: treeDot(tree), encoding: 'utf8' });
    const nodes = plain.split('\n').filter((l) => l.startsWith('node '));
    const edges = plain.split('\n').filter((l) => l.startsWith('edge '));
    expect(nodes).toHaveLength(2);
    expect(edges).toHaveLength(1);
    expect(plain).toContain('"vm \\"host\\" 1"');
  });
});
