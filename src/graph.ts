/**
 * Pure graph functions on the server dependency graph, below both the config loader (which
 * reports a cycle at file:line) and the core (whose ServerTree refuses one). Imports nothing.
 */

/** A node of the dependency graph: edges point from a server to what it depends on. */
export interface DependencyNode {
  readonly name: string;
  readonly dependencies: readonly string[];
}

/**
 * Finds one dependency cycle, returned as `[a, b, c, a]` (a depends on b …, c on a), or
 * undefined. Names that are not nodes are ignored (reported elsewhere as unknown servers).
 * Deterministic: nodes and edges are visited in input order.
 */
export function findCycle(nodes: readonly DependencyNode[]): string[] | undefined {
  const deps = new Map(nodes.map((n) => [n.name, n.dependencies] as const));
  const colour = new Map<string, 'grey' | 'black'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    colour.set(name, 'grey');
    stack.push(name);
    for (const d of deps.get(name) ?? []) {
      if (!deps.has(d)) continue;
      const c = colour.get(d);
      if (c === 'grey') return [...stack.slice(stack.indexOf(d)), d];
      if (c === undefined) {
        const found = visit(d);
        if (found) return found;
      }
    }
    stack.pop();
    colour.set(name, 'black');
    return undefined;
  };
  for (const n of nodes) {
    if (colour.has(n.name)) continue;
    const found = visit(n.name);
    if (found) return found;
  }
  return undefined;
}

/**
 * A dependency on a server of another gateway, `GATEWAY:SERVER` (docs/mqtt.md, federation):
 * the gateway as the mqtt plugin names it in topics, the server as that gateway names it.
 */
export interface RemoteRef {
  readonly gateway: string;
  readonly server: string;
}
const REMOTE_REF = /^([A-Za-z0-9_-]{1,64}):([a-z0-9][a-z0-9_-]*)$/;
/** `gw-a:storage-1` → {gateway, server}; null when `ref` is not of that shape (a local name has no colon). */
export function parseRemoteRef(ref: string): RemoteRef | null {
  const m = REMOTE_REF.exec(ref);
  return m ? { gateway: m[1]!, server: m[2]! } : null;
}
