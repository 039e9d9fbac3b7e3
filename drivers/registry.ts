/**
 * Driver registry: `type =` value in config → driver definition (template + factory).
 * The config loader validates sections against these templates; the daemon creates drivers
 * from the validated, frozen sections.
 */
import type { DriverDefinition, DriverKind } from './types.js';
import { builtinDrivers } from './builtin.js';

export class DriverRegistry {
  readonly #defs = new Map<string, DriverDefinition>();

  constructor(defs: readonly DriverDefinition[] = []) {
    for (const d of defs) this.add(d);
  }

  add(def: DriverDefinition): this {
    const key = `${def.kind}:${def.type}`;
    if (this.#defs.has(key)) throw new Error(`driver ${key} registered twice`);
    this.#defs.set(key, def);
    return this;
  }

  get<K extends DriverKind>(kind: K, type: string): DriverDefinition<K> | undefined {
    return this.#defs.get(`${kind}:${type}`) as DriverDefinition<K> | undefined;
  }

  /**
   * Imports the implementations of the given driver types (the lazy ones of drivers/builtin.ts;
   * the others are loaded already). A type that is not registered is skipped: the config loader
   * reports it. Rejects when a driver's module cannot be loaded.
   */
  async load(wanted: Iterable<readonly [DriverKind, string]>): Promise<void> {
    await Promise.all([...wanted].map(([kind, type]) => this.#defs.get(`${kind}:${type}`)?.load?.()));
  }

  /** Registered `type` values of one kind, sorted. */
  types(kind: DriverKind): string[] {
    return [...this.#defs.values()].filter((d) => d.kind === kind).map((d) => d.type).sort();
  }

  all(): readonly DriverDefinition[] {
    return [...this.#defs.values()];
  }
}

/** The registry of every driver shipped with ockle. */
export function defaultRegistry(): DriverRegistry {
  return new DriverRegistry(builtinDrivers);
}
