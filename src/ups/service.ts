/**
 * Every configured UPS (config/ups/*.ini), watched: one monitor each, built from the config and
 * kept across a reload when neither its file nor what its policy depends on changed (a NUT
 * secondary stays logged in, an open event keeps its clocks). The faces reach UPSes only here.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { fingerprint } from '../config/fingerprint.js';
import { fedServers, type UpsConfig } from '../config/ups.js';
import type { UpsStatus } from '../core/model.js';
import { OckleError, RequestValidationError } from '../errors.js';
import { driverContext, type DriverEnv } from '../world.js';
import type { UpsDrill } from '../../drivers/types.js';
import { UpsMonitor, type UpsPlanStage, type UpsPort } from './monitor.js';
import type { Policy } from './policy.js';

export interface UpsServiceOptions {
  readonly port: UpsPort;
  readonly log: Logger;
  /** Start polling (false in tests that drive `poll()` themselves). */
  readonly monitor?: boolean;
  readonly now?: () => number;
}

export function policyOf(u: UpsConfig, config: Config): Policy {
  const p = u.policy;
  return {
    servers: fedServers(p, config.servers.map((s) => s.name)),
    onBatteryDelayMs: p.on_battery_delay,
    tierIntervalMs: p.tier_interval,
    minRuntimeMs: p.min_runtime,
    minChargePct: p.min_charge,
    keepOn: p.keep_on,
    fsd: p.fsd,
    restore: p.restore,
    restoreDelayMs: p.restore_delay,
    restoreMinChargePct: p.restore_min_charge,
  };
}

export class UpsService {
  readonly #o: UpsServiceOptions;
  readonly #monitors = new Map<string, { readonly fp: string; readonly m: UpsMonitor }>();
  #priority = new Map<string, number | null>();

  constructor(o: UpsServiceOptions) {
    this.#o = o;
  }

  /**
   * Follows a configuration: a UPS whose file and policy inputs are unchanged keeps its monitor;
   * a changed one is closed and built again (it reads its open event back from the journal).
   */
  async apply(env: DriverEnv, config: Config): Promise<void> {
    this.#priority = new Map(config.servers.map((s) => [s.name, s.shedPriority]));
    const next = new Map(config.ups.map((u) => [u.id, u]));
    for (const [name, { fp, m }] of [...this.#monitors]) {
      const u = next.get(name);
      if (!u || this.#fp(u, config) !== fp) {
        await m.close();
        this.#monitors.delete(name);
      }
    }
    for (const u of config.ups) {
      if (this.#monitors.has(u.id)) continue;
      const def = env.registry.get('ups', u.type);
      if (!def) throw new OckleError('OCKLE_CONFIG_INVALID', `UPS source type "${u.type}" is not registered`);
      const source = def.create(u.spec, driverContext(env, u.id));
      const m = new UpsMonitor({
        name: u.id,
        type: u.type,
        description: u.common.description,
        source,
        policy: policyOf(u, config),
        shedPriority: (n) => this.#priority.get(n) ?? null,
        pollIntervalMs: u.common.poll_interval,
        timeoutMs: u.common.timeout,
        retries: u.common.retries,
        port: this.#o.port,
        log: this.#o.log.child({ ups: u.id }),
        ...(this.#o.now && { now: this.#o.now }),
      });
      this.#monitors.set(u.id, { fp: this.#fp(u, config), m });
      if (this.#o.monitor !== false) m.start();
    }
  }

  /** What a monitor depends on: its file's values, and the servers its policy acts on. */
  #fp(u: UpsConfig, config: Config): string {
    return fingerprint([u, policyOf(u, config)]);
  }

  list(): UpsStatus[] {
    return [...this.#monitors.values()].map(({ m }) => m.status()).sort((a, b) => a.name.localeCompare(b.name));
  }

  monitor(name: string): UpsMonitor {
    const m = this.#monitors.get(name)?.m;
    if (!m) {
      const known = [...this.#monitors.keys()];
      throw new OckleError('OCKLE_NOT_FOUND', `no UPS "${name}"`, { hint: known.length ? `Configured UPSes: ${known.join(', ')}.` : 'No UPS is configured (config/ups/NAME.ini; docs/ups.md).' });
    }
    return m;
  }

  status(name: string): UpsStatus {
    return this.monitor(name).status();
  }

  plan(name: string): UpsPlanStage[] {
    return this.monitor(name).plan();
  }

  /**
   * A drill on a simulated UPS: cut the mains, give it back, make the UPS silent, set its charge.
   * Real UPSes are refused: ockle never pretends a real one said something it did not.
   */
  async simulate(name: string, change: UpsDrill): Promise<UpsStatus> {
    const m = this.monitor(name);
    const src = m.source;
    if (typeof src.simulate !== 'function')
      throw new RequestValidationError(`UPS "${name}" is a real UPS (type ${m.status().type}): only a simulated one (type = sim) takes a drill`, {
        hint: 'To test a real UPS, pull its mains plug, or for NUT use dummy-ups beside it (docs/ups.md).',
      });
    src.simulate(change);
    await m.poll();
    return m.status();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#monitors.values()].map(({ m }) => m.close()));
    this.#monitors.clear();
  }
}
