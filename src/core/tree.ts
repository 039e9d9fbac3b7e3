/**
 * The server dependency graph. Edges point from a server to what it depends on
 * (a VM host → the storage it mounts). Pure data; no I/O.
 */
import { DependencyCycleError, UnknownServerError } from '../errors.js';
import { findCycle, type DependencyNode } from '../graph.js';

/** A server and what it depends on. */
export type TreeInput = DependencyNode;

export class ServerTree {
  readonly #deps: ReadonlyMap<string, readonly string[]>;
  readonly #dependents: ReadonlyMap<string, readonly string[]>;
  readonly #order: readonly string[];

  /** @throws DependencyCycleError if the dependencies form a cycle; UnknownServerError for a dangling edge. */
  constructor(nodes: readonly TreeInput[]) {
    const names = nodes.map((n) => n.name);
    const deps = new Map<string, readonly string[]>();
    const dependents = new Map<string, string[]>(names.map((n) => [n, []]));
    for (const n of nodes) {
      for (const d of n.dependencies) {
        const list = dependents.get(d);
        if (!list) throw new UnknownServerError(d, names);
        list.push(n.name);
      }
      deps.set(n.name, Object.freeze([...n.dependencies]));
    }
    const cycle = findCycle(nodes);
    if (cycle) throw new DependencyCycleError(cycle);
    this.#deps = deps;
    this.#dependents = new Map([...dependents].map(([k, v]) => [k, Object.freeze(v)]));
    this.#order = Object.freeze(this.#topo(names));
  }

  /** Kahn's algorithm, stable with respect to input order. */
  #topo(names: readonly string[]): string[] {
    const indeg = new Map(names.map((n) => [n, this.#deps.get(n)!.length]));
    const out: string[] = [];
    const ready = names.filter((n) => indeg.get(n) === 0);
    while (ready.length > 0) {
      const n = ready.shift()!;
      out.push(n);
      for (const m of this.#dependents.get(n)!) {
        const left = indeg.get(m)! - 1;
        indeg.set(m, left);
        if (left === 0) ready.push(m);
      }
    }
    return out;
  }

  get names(): readonly string[] {
    return [...this.#deps.keys()];
  }
  has(name: string): boolean {
    return this.#deps.has(name);
  }
  #check(name: string): void {
    if (!this.#deps.has(name)) throw new UnknownServerError(name, this.names);
  }
  /** Every server, dependencies before dependents. */
  order(): readonly string[] {
    return this.#order;
  }
  dependencies(name: string): readonly string[] {
    this.#check(name);
    return this.#deps.get(name)!;
  }
  dependents(name: string): readonly string[] {
    this.#check(name);
    return this.#dependents.get(name)!;
  }
  #walk(start: readonly string[], next: (n: string) => readonly string[]): Set<string> {
    const seen = new Set<string>();
    const todo = [...start];
    while (todo.length > 0) {
      const n = todo.pop()!;
      for (const m of next(n)) {
        if (!seen.has(m)) {
          seen.add(m);
          todo.push(m);
        }
      }
    }
    return seen;
  }
  /**
   * The servers that must be switched to switch `targets`: for `on`, the targets and everything
   * they need; for `off`, the targets and everything that needs them. Ordered for that direction:
   * dependencies first for `on`, dependents first for `off`.
   */
  closure(targets: readonly string[], direction: 'on' | 'off'): readonly string[] {
    targets.forEach((t) => this.#check(t));
    const next = direction === 'on' ? (n: string) => this.#deps.get(n)! : (n: string) => this.#dependents.get(n)!;
    const s = this.#walk(targets, next);
    targets.forEach((t) => s.add(t));
    const ordered = this.#order.filter((n) => s.has(n));
    return direction === 'on' ? ordered : ordered.reverse();
  }
}
