/**
 * Driver interfaces: one small interface per kind of hardware object.
 *
 * Drivers never import `src/core`. Concurrency, timeouts and retries are the core's job
 * (`src/core/device-queue.ts`); a driver performs exactly one protocol operation per call
 * and honours the `AbortSignal` it is given.
 */
import type { Logger } from 'pino';
import type { Infer, Template } from '../src/config/types.js';

/**
 * What an outlet reads as. `unknown` means it could not be read (never guessed); `switching`
 * means the device reports a command in progress (pending, onWait/offWait, cycling).
 */
export type Power = 'on' | 'off' | 'switching' | 'unknown';

/**
 * What an outlet can be asked to do. `reset` is a warm reset of the machine behind it (a BMC's
 * reset line): the power stays on; only devices with `caps.reset` are asked.
 */
export type SwitchAction = 'on' | 'off' | 'cycle' | 'reset';

/** One metering sample for an outlet. Absent fields are not measured by the device. */
export interface Reading {
  readonly watts?: number;
  readonly amps?: number;
  readonly volts?: number;
  readonly energyWh?: number;
}

/** What an outlet device can do. Capabilities replace special cases in the core. */
export interface OutletCaps {
  /** The device cycles natively; otherwise the core emulates off → cycle_delay → on. */
  readonly cycle: boolean;
  /** The device can warm-reset the machine (a BMC); absent or false: `reset` is refused before anything is sent. */
  readonly reset?: boolean;
  /** `meter()` is implemented (must equal `typeof device.meter === 'function'`). */
  readonly metering: boolean;
  /** `read()` of many outlets costs one round trip. */
  readonly bulkRead: boolean;
  /** `real`: reads come from the hardware. `assumed`: the board cannot report; reads are the last written state. */
  readonly readBack: 'real' | 'assumed';
  /** Operations the device accepts at once (1 for a serial bus). The queue never exceeds it. */
  readonly maxConcurrency: number;
  /**
   * The device can only switch on (Wake-on-LAN): it cannot cut power, so a sequenced off ends
   * with the controls' shutdown and its outlets are not written; what it reads says nothing of
   * the power, so the server's state comes from its tests.
   */
  readonly onOnly?: boolean;
}

/** Static facts a device reports after `open()`, shown by the API and `ockle devices`. */
export interface DeviceInfo {
  readonly model?: string;
  readonly firmware?: string;
  readonly outletNames?: ReadonlyMap<number, string>;
  /** Driver-specific facts for `ockle devices probe` (SNMP: sysObjectID, profile, unit). */
  readonly details?: Readonly<Record<string, string>>;
}

/**
 * A PDU, a relay board, a GPIO bank or a BMC: something with numbered outlets (1-based).
 *
 * Lifecycle: `open()` once, then any number of `read`/`switch`/`meter`, then `close()`.
 * No method may change an outlet except `switch()`: `open()` in particular must leave every
 * outlet as it is (a daemon restart never switches).
 */
export interface OutletDevice {
  /** Device id: the config file's base name (`pdu-1` for devices/pdu-1.ini). */
  readonly id: string;
  readonly caps: OutletCaps;
  /** Number of outlets (1 … outletCount). Known from config or after `open()`. */
  readonly outletCount: number;
  /**
   * Connects and checks the device answers. Must not switch anything.
   * @throws DeviceUnreachableError when the device does not answer.
   */
  open(signal: AbortSignal): Promise<void>;
  /**
   * Reads the power state of the given outlets, in one round trip where the protocol allows.
   * The map has an entry for every requested outlet.
   * @throws DeviceUnreachableError, DeviceReplyError, OperationAbortedError
   */
  read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>>;
  /**
   * Sends one switch command. Returns when the device accepted it; the core confirms the
   * result by reading back. Called with `cycle` only when `caps.cycle` is true.
   * @throws DeviceRefusedError, DeviceUnreachableError, DeviceReplyError, OperationAbortedError
   */
  switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void>;
  /** Reads metering for the given outlets. Present exactly when `caps.metering`. */
  meter?(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Reading>>;
  /** Static facts, available after `open()`. */
  info?(): DeviceInfo;
  /** Releases connections and handles. Must not switch anything. Idempotent. */
  close(): Promise<void>;
}

/** Asks a server's OS to shut down cleanly (SSH, IPMI soft-off, a command). */
export interface Controller {
  readonly id: string;
  /**
   * Asks the OS to shut down; resolves when the request was accepted (not when the host is down:
   * the sequencer proves that with the server's tests).
   * @throws OckleError with detail when the request was refused or could not be delivered.
   */
  shutdown(signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}

/** The result of one test run. */
export interface Probe {
  readonly passed: boolean;
  /** Human-readable detail: `reply from 127.0.0.1 in 0.4 ms`, `connection refused`. */
  readonly detail: string;
  readonly latencyMs: number;
}

/** Proves a server serves (ping, TCP port, HTTP). A failed probe is a result, not an exception. */
export interface Tester {
  readonly id: string;
  /** Runs the test once. Resolves `{passed: false}` on failure; rejects only on abort. */
  probe(signal: AbortSignal): Promise<Probe>;
  close?(): Promise<void>;
}

/** The server a controller or tester belongs to. */
export interface ServerBinding {
  readonly name: string;
  /** The server's `host` key, if set. */
  readonly host: string | undefined;
  readonly outlets: readonly { readonly device: string; readonly outlet: number }[];
}

/** What every driver factory receives besides its validated config section. */
export interface DriverContext {
  /** The object's id: device id, or `server/section` for controllers and testers. */
  readonly id: string;
  readonly log: Logger;
  /** Directory where a driver may persist small state (assumed relay states, sim hardware). */
  readonly stateDir: string;
  /** For controllers and testers: the server they belong to. */
  readonly server?: ServerBinding;
  /**
   * One instance per daemon of a resource that several drivers share (a simulated lab, a serial
   * bus with several boards, an SNMP session pool). `init` runs on the first call for `key`.
   */
  shared<T>(key: string, init: () => T): T;
}

/**
 * Where a UPS's output comes from, as ockle reads it. `unknown`: the source did not answer (or
 * answered nothing usable): never taken for a power cut.
 */
export type UpsPower = 'mains' | 'battery' | 'bypass' | 'off' | 'unknown';

/** One reading of a UPS. Absent fields are not reported by the UPS. */
export interface UpsReading {
  readonly power: UpsPower;
  /** The UPS itself says its battery is low (NUT `LB`, UPS-MIB batteryLow/depleted). */
  readonly lowBattery: boolean;
  /** The primary asked every monitor to shut down now (NUT `FSD`). */
  readonly forcedShutdown: boolean;
  /** Battery charge, percent. */
  readonly chargePct?: number;
  /** Estimated runtime on battery at the present load, seconds. */
  readonly runtimeS?: number;
  /** Output load, percent of the UPS's capacity. */
  readonly loadPct?: number;
  readonly inputVolts?: number;
  /** How long the UPS says it has been on battery (UPS-MIB upsSecondsOnBattery). */
  readonly onBatteryS?: number;
  /** The status words as the UPS gave them (NUT: `OB DISCHRG LB`; UPS-MIB: mapped to the same words). */
  readonly flags: readonly string[];
  /** Alarms the UPS reports (UPS-MIB upsAlarmsPresent; NUT `ups.alarm`), in words. */
  readonly alarms: readonly string[];
}

/** What a drill changes on a simulated UPS; `silent`: it stops answering (as upsd down would). */
export interface UpsDrill {
  readonly power?: 'mains' | 'battery' | 'silent';
  readonly chargePct?: number;
}

/**
 * A UPS (NUT's upsd, a UPS-MIB agent, a simulation): what feeds the lab, read, never driven,
 * except the one optional `forcedShutdown()` of a NUT primary.
 *
 * Lifecycle: `open()` once (connect and log in; throws when the UPS cannot be reached or the
 * credentials are refused), `read()` at each poll, `close()`.
 */
export interface UpsSource {
  readonly id: string;
  /** @throws DeviceUnreachableError, DeviceReplyError (credentials refused, unknown UPS) */
  open(signal: AbortSignal): Promise<void>;
  /** One reading. @throws DeviceUnreachableError, DeviceReplyError, OperationAbortedError */
  read(signal: AbortSignal): Promise<UpsReading>;
  /**
   * Tells the UPS's other monitors to shut down now (NUT `FSD`: the primary upsmon then cuts
   * the UPS once every secondary has logged out). Present only where the source can do it.
   */
  forcedShutdown?(signal: AbortSignal): Promise<void>;
  /** Static facts after `open()` (model, firmware, the NUT UPS name, the SNMP sysObjectID). */
  info?(): DeviceInfo;
  /** A drill: only a simulated UPS changes what it reports (a real one has no such method). */
  simulate?(change: UpsDrill): void;
  /** Logs out and releases the connection (a NUT secondary logging out lets the primary go on). Idempotent. */
  close(): Promise<void>;
}

export type DriverKind = 'outlet' | 'controller' | 'tester' | 'ups';
type Made<K extends DriverKind> = K extends 'outlet' ? OutletDevice : K extends 'controller' ? Controller : K extends 'ups' ? UpsSource : Tester;

/** A problem between keys of one section that no single key's template can express. */
export interface SpecProblem {
  /** The key the problem is about (its line is reported). */
  readonly key: string;
  readonly message: string;
  readonly hint: string;
}

/**
 * A driver as its module declares it: the factory and checks see the section typed by the
 * template (`Infer<T>`). Handed to `defineDriver`, never to the registry directly.
 */
export interface DriverDeclaration<K extends DriverKind, T extends Template> {
  readonly kind: K;
  /** The `type =` value in config. */
  readonly type: string;
  readonly description: string;
  /** Keys of the config section, besides the common ones the loader adds. */
  readonly template: T;
  /** Outlet devices: the outlet count known from config alone, for validating server files. */
  outletCount?(spec: Infer<T>): number | undefined;
  /**
   * Checks between keys that one key's template cannot express (SNMPv3 needs a user; a
   * `generic` profile needs its OIDs). Each problem names the key it is about.
   */
  check?(spec: Infer<T>): readonly SpecProblem[];
  /** The driver talks to the server's `host` when its section has no `host =` (the loader checks one exists). */
  readonly usesServerHost?: boolean;
  create(spec: Infer<T>, ctx: DriverContext): Made<K>;
}

/**
 * A driver type as the registry knows it: its config template and factory, with the section
 * type erased. `spec` must be a section the config loader validated against `template` (its
 * `spec` values); `defineDriver` holds the one place where it becomes `Infer<T>` again.
 * `T` is kept so a test can name a driver's section type with `SpecOf`.
 */
export interface DriverDefinition<K extends DriverKind = DriverKind, T extends Template = Template> {
  readonly kind: K;
  readonly type: string;
  readonly description: string;
  readonly template: T;
  outletCount?(spec: unknown): number | undefined;
  check?(spec: unknown): readonly SpecProblem[];
  readonly usesServerHost?: boolean;
  /**
   * Imports the implementation of a driver declared with `lazyDriver` (its protocol code and
   * libraries are loaded only when a configuration names the type). `create` throws until it
   * resolved. Absent: the implementation is loaded already and `create` works at once.
   */
  load?(): Promise<void>;
  create(spec: unknown, ctx: DriverContext): Made<K>;
}

/** The validated section type of a driver: `SpecOf<typeof snmpPduDriver>`. */
export type SpecOf<D extends { readonly template: Template }> = Infer<D['template']>;

/**
 * Declares a driver: typed against its template inside, erased for the registry outside, so
 * callers pass a validated section without casts.
 */
export function defineDriver<K extends DriverKind, T extends Template>(d: DriverDeclaration<K, T>): DriverDefinition<K, T> {
  // The seam's one cast: the loader validated the section against `d.template`.
  const typed = (spec: unknown): Infer<T> => spec as Infer<T>;
  const { outletCount, check } = d;
  return Object.freeze({
    kind: d.kind,
    type: d.type,
    description: d.description,
    template: d.template,
    ...(d.usesServerHost !== undefined && { usesServerHost: d.usesServerHost }),
    ...(outletCount && { outletCount: (spec: unknown) => outletCount.call(d, typed(spec)) }),
    ...(check && { check: (spec: unknown) => check.call(d, typed(spec)) }),
    create: (spec: unknown, ctx: DriverContext) => d.create(typed(spec), ctx),
  });
}

/**
 * What config loading, `config check` and the docs need of a driver, without its factory: a
 * light `definition.ts` exports it, and the driver's `index.ts` completes it with `create`
 * (`defineDriver({ ...declaration, create })`).
 */
export type DriverSketch<K extends DriverKind, T extends Template> = Omit<DriverDeclaration<K, T>, 'create'>;

/** Declares a driver's sketch, typed against its template (an identity that infers `K` and `T`). */
export function sketchDriver<K extends DriverKind, T extends Template>(d: DriverSketch<K, T>): DriverSketch<K, T> {
  return d;
}

/**
 * A driver whose implementation is imported on first need: the registry knows its type, template
 * and checks from the sketch at once; `load()` imports the module that completes it. Start, reload
 * and `devices probe` load the types their configuration names (src/world.ts), so a daemon with
 * only simulated devices never loads an SNMP, serial or SSH stack.
 */
export function lazyDriver<K extends DriverKind, T extends Template>(sketch: DriverSketch<K, T>, load: () => Promise<DriverDefinition<K, T>>): DriverDefinition<K, T> {
  let impl: DriverDefinition<K, T> | undefined;
  let loading: Promise<void> | undefined;
  return Object.freeze({
    ...defineDriver({
      ...sketch,
      create: (spec, ctx) => {
        if (!impl) throw new Error(`${sketch.kind} driver "${sketch.type}" is not loaded: load() it before create()`);
        return impl.create(spec, ctx);
      },
    }),
    load: () =>
      (loading ??= load().then(
        (d) => {
          // The implementation must complete this sketch (`defineDriver({ ...sketch, create })`), not another.
          if (d.kind !== sketch.kind || d.type !== sketch.type || d.template !== sketch.template)
            throw new Error(`${sketch.kind} driver "${sketch.type}": its module defines ${d.kind} driver "${d.type}"${d.template !== sketch.template ? ' with another template' : ''}`);
          impl = d;
        },
        (err: unknown) => {
          // A failed import may succeed later (a reload after the package is installed).
          loading = undefined;
          throw err;
        },
      )),
  });
}
