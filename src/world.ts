/**
 * What one configuration builds, and its one lifecycle: build (drivers, queues), bring up (read
 * every device, never write; run the tests; start monitoring), close. Start, reload and stop
 * all go through here; a reload keeps what did not change (open, with what it knew).
 *
 * Also the one place that makes drivers from config sections: the daemon and `ockle devices
 * probe` both build their devices here.
 */
import type { Logger } from 'pino';
import type { DriverRegistry } from '../drivers/registry.js';
import type { DriverContext, OutletDevice, ServerBinding } from '../drivers/types.js';
import type { Config, DeviceConfig, ServerConfig } from './config/load.js';
import { fingerprint } from './config/fingerprint.js';
import { DeviceQueue } from './core/device-queue.js';
import { OpenOnDemand } from './core/open-on-demand.js';
import type { Lab } from './core/runtime.js';
import type { RuntimeCarry, RuntimeDevice, RuntimeServer, ServerCarry } from './core/slots.js';

export interface World {
  readonly config: Config;
  readonly devices: readonly RuntimeDevice[];
  readonly servers: readonly RuntimeServer[];
}

/** What a reload hands from the old world to the new one. */
export interface Keep {
  readonly devices: ReadonlyMap<string, RuntimeDevice>;
  /** Per server, the control and test objects kept (a part is absent when it changed). */
  readonly servers: ReadonlyMap<string, { readonly controls?: RuntimeServer['controls']; readonly tests?: RuntimeServer['tests'] }>;
}

export interface DriverEnv {
  readonly registry: DriverRegistry;
  readonly log: Logger;
  readonly stateDir: string;
  /** Resources shared between drivers (the simulated lab, serial buses), kept for the process's life. */
  readonly shared: Map<string, unknown>;
}

export function driverContext(env: DriverEnv, id: string, server?: ServerBinding): DriverContext {
  return {
    id,
    log: env.log.child({ driver: id }),
    stateDir: env.stateDir,
    ...(server && { server }),
    shared: <T>(key: string, init: () => T): T => {
      if (!env.shared.has(key)) env.shared.set(key, init());
      return env.shared.get(key) as T;
    },
  };
}

/**
 * Loads the drivers a configuration names (its devices, controls, tests and UPS sources): the
 * implementation of a lazy driver (drivers/builtin.ts) is imported here, once, before anything
 * creates one. Start, reload and `devices probe` call it; a type no configuration names is
 * never loaded.
 */
export async function loadDrivers(registry: DriverRegistry, config: Pick<Config, 'devices' | 'servers' | 'ups'>): Promise<void> {
  await registry.load([
    ...config.devices.map((d) => ['outlet', d.type] as const),
    ...config.servers.flatMap((s) => [...s.controls.map((c) => ['controller', c.type] as const), ...s.tests.map((t) => ['tester', t.type] as const)]),
    ...config.ups.map((u) => ['ups', u.type] as const),
  ]);
}

/** The driver object of an outlet device section (not opened; its driver loaded, see `loadDrivers`). */
export function createOutletDevice(env: DriverEnv, dc: DeviceConfig): OutletDevice {
  const def = env.registry.get('outlet', dc.type);
  if (!def) throw new Error(`outlet driver "${dc.type}" vanished from the registry`);
  return def.create(dc.spec, driverContext(env, dc.id));
}

function buildDevice(env: DriverEnv, dc: DeviceConfig): RuntimeDevice {
  const device = new OpenOnDemand(createOutletDevice(env, dc));
  return {
    id: dc.id,
    type: dc.type,
    description: dc.common.description,
    device,
    queue: new DeviceQueue({
      device: `${dc.type} "${dc.id}"`,
      concurrency: Math.min(device.caps.maxConcurrency, dc.common.concurrency ?? Infinity),
      timeoutMs: dc.common.timeout,
      retries: dc.common.retries,
    }),
    pollIntervalMs: dc.common.poll_interval,
    cycleDelayMs: dc.common.cycle_delay,
    confirmTimeoutMs: dc.common.confirm_timeout,
    staggerMs: dc.common.stagger,
  };
}

function buildServer(env: DriverEnv, sc: ServerConfig, kept?: Keep['servers'] extends ReadonlyMap<string, infer V> ? V : never): RuntimeServer {
  const binding: ServerBinding = { name: sc.name, host: sc.host, outlets: sc.outlets.map((o) => ({ device: o.device, outlet: o.outlet })) };
  const make = <K extends 'controller' | 'tester'>(kind: K, type: string) => {
    const def = env.registry.get(kind, type);
    if (!def) throw new Error(`${kind} driver "${type}" vanished from the registry`);
    return def;
  };
  return {
    name: sc.name,
    description: sc.description,
    host: sc.host,
    testIntervalMs: sc.settings.test_interval,
    policy: {
      maxAttempts: sc.settings.max_attempts,
      bootTimeoutMs: sc.settings.boot_timeout,
      shutdownTimeoutMs: sc.settings.shutdown_timeout,
      testIntervalMs: sc.settings.test_interval,
      onShutdownTimeout: sc.settings.on_shutdown_timeout,
      keepaliveFailures: sc.keepaliveFailures,
    },
    outlets: sc.outlets.map((o) => ({ name: o.name, device: o.device, outlet: o.outlet })),
    controls:
      kept?.controls ??
      sc.controls.map((c) => ({
        name: c.name,
        type: c.type,
        controller: make('controller', c.type).create(c.spec, driverContext(env, `${sc.name}/${c.name}`, binding)),
        timeoutMs: c.common.timeout,
      })),
    tests:
      kept?.tests ??
      sc.tests.map((t) => ({
        name: t.name,
        type: t.type,
        tester: make('tester', t.type).create(t.spec, driverContext(env, `${sc.name}/${t.name}`, binding)),
        timeoutMs: t.common.timeout,
      })),
    dependencies: sc.dependencies,
  };
}

/**
 * Builds the drivers and queues of a configuration. With `keep` (a reload), the devices,
 * controls and tests whose configuration did not change are taken over as they are: open, with
 * their queues.
 */
export function buildWorld(env: DriverEnv, config: Config, keep?: Keep): World {
  return {
    config,
    devices: config.devices.map((dc) => keep?.devices.get(dc.id) ?? buildDevice(env, dc)),
    servers: config.servers.map((sc) => buildServer(env, sc, keep?.servers.get(sc.name))),
  };
}

/**
 * Brings a lab up: reads its devices (all, or `devices`), never writing; runs the tests (all, or
 * `servers`) without waiting for them; then starts the periodic polls and test runs.
 */
export async function bringUp(lab: Lab, o: { readonly devices?: ReadonlySet<string>; readonly servers?: ReadonlySet<string>; readonly monitor: boolean }): Promise<void> {
  await lab.state.adopt(undefined, o.devices);
  void lab.state.testAll(undefined, o.servers);
  if (o.monitor) lab.state.startMonitoring();
}

/** Closes the drivers of a world (those `keep` hands on to the next world stay open). Never switches anything. */
export async function closeWorld(world: World, keep?: Keep): Promise<void> {
  const keptDevices = new Set(keep?.devices.values());
  await Promise.allSettled(world.devices.filter((d) => !keptDevices.has(d)).map((d) => (d.queue.close(), d.device.close())));
  await Promise.allSettled(
    world.servers.flatMap((s) => {
      const k = keep?.servers.get(s.name);
      return [...(k?.controls ? [] : s.controls.map((c) => c.controller.close?.())), ...(k?.tests ? [] : s.tests.map((t) => t.tester.close?.()))];
    }),
  );
}

const devicePrint = (dc: DeviceConfig): string => fingerprint({ type: dc.type, common: dc.common, spec: dc.spec });
// Controls and tests are bound to the server's host and outlets (a sim tester follows them).
const bindingPrint = (sc: ServerConfig): unknown => ({ host: sc.host, outlets: sc.outlets.map((o) => [o.device, o.outlet]) });
const controlsPrint = (sc: ServerConfig): string => fingerprint({ b: bindingPrint(sc), controls: sc.controls });
const testsPrint = (sc: ServerConfig): string => fingerprint({ b: bindingPrint(sc), tests: sc.tests });

/** The devices, controls and tests of `old` whose configuration is the same in `next`. */
export function keepUnchanged(old: World, next: Config): Keep {
  const devices = new Map<string, RuntimeDevice>();
  for (const dc of next.devices) {
    const before = old.config.devices.find((d) => d.id === dc.id);
    if (before && devicePrint(before) === devicePrint(dc)) devices.set(dc.id, old.devices.find((d) => d.id === dc.id)!);
  }
  const servers = new Map<string, { controls?: RuntimeServer['controls']; tests?: RuntimeServer['tests'] }>();
  for (const sc of next.servers) {
    const before = old.config.servers.find((s) => s.name === sc.name);
    const built = old.servers.find((s) => s.name === sc.name);
    if (!before || !built) continue;
    // A server on a device that changed reads its outlets anew: its tests run anew too.
    const devicesKept = sc.outlets.every((o) => devices.has(o.device));
    servers.set(sc.name, {
      ...(controlsPrint(before) === controlsPrint(sc) && { controls: built.controls }),
      ...(devicesKept && testsPrint(before) === testsPrint(sc) && { tests: built.tests }),
    });
  }
  return { devices, servers };
}

/** What the next lab takes over from the state the old one knew: kept devices, and test results of kept tests. */
export function carryOver(carried: RuntimeCarry, keep: Keep): RuntimeCarry {
  return {
    startedAt: carried.startedAt,
    devices: new Map([...carried.devices].filter(([id]) => keep.devices.has(id))),
    servers: new Map([...carried.servers].map(([name, c]): [string, ServerCarry] => [name, keep.servers.get(name)?.tests ? c : { state: c.state }])),
  };
}

/** Worker plugins to restart on a reload: enabled or disabled, whose settings changed, or whose installed files did. */
export function changedPlugins(old: Config, next: Config): Set<string> {
  const names = new Set([...old.plugins.enabled, ...next.plugins.enabled]);
  const host = (c: Config) => fingerprint([c.stateDir, c.plugins.startTimeoutMs, c.plugins.hangTimeoutMs, c.plugins.stopTimeoutMs, c.plugins.maxMemoryMb]);
  return new Set(
    [...names].filter(
      (n) =>
        old.plugins.enabled.includes(n) !== next.plugins.enabled.includes(n) ||
        fingerprint(old.plugins.settings.get(n) ?? {}) !== fingerprint(next.plugins.settings.get(n) ?? {}) ||
        // An installed plugin whose files changed (upgraded, rebuilt), or that moved.
        fingerprint([old.plugins.installed.get(n)?.module, old.plugins.installed.get(n)?.stamp]) !==
          fingerprint([next.plugins.installed.get(n)?.module, next.plugins.installed.get(n)?.stamp]) ||
        host(old) !== host(next),
    ),
  );
}
