/**
 * The shapes the runtime's parts share: what the composition root hands in (RuntimeDevice,
 * RuntimeServer), what each device and server slot holds, and what a reload carries over.
 */
import type { Controller, OutletDevice, Power, Reading, Tester } from '../../drivers/types.js';
import type { DeviceQueue } from './device-queue.js';
import type { OpState, TestState } from './model.js';
import type { LastAction } from './op-state.js';
import type { ServerPolicy } from './sequence.js';

export interface RuntimeDevice {
  readonly id: string;
  readonly type: string;
  readonly description: string;
  readonly device: OutletDevice;
  readonly queue: DeviceQueue;
  readonly pollIntervalMs: number;
  /** Off time when a cycle is emulated (device without native cycle). */
  readonly cycleDelayMs: number;
  /** How long an outlet may take to read back the requested state after a switch. */
  readonly confirmTimeoutMs: number;
  /** Minimum time between two switch-ons on this device (inrush current). */
  readonly staggerMs: number;
}

export interface RuntimeServer {
  readonly name: string;
  readonly description: string;
  readonly host: string | undefined;
  readonly testIntervalMs: number;
  readonly policy: ServerPolicy;
  readonly outlets: readonly RuntimeOutlet[];
  readonly controls: readonly { readonly name: string; readonly type: string; readonly controller: Controller; readonly timeoutMs?: number }[];
  readonly tests: readonly { readonly name: string; readonly type: string; readonly tester: Tester; readonly timeoutMs: number }[];
  readonly dependencies: readonly string[];
}

export interface RuntimeOutlet {
  /** The outlet's section name in the server's file. */
  readonly name: string;
  readonly device: string;
  readonly outlet: number;
}

export interface TestSlot {
  result: TestState;
  detail: string;
  latencyMs: number | null;
  at: number | null;
}

export interface DeviceSlot {
  readonly d: RuntimeDevice;
  power: Power[]; // index 0 = outlet 1
  reachable: boolean | null;
  error: string | null;
  lastPollAt: number | null;
  lastPollMs: number | null;
  readings: ReadonlyMap<number, Reading>;
  timer: NodeJS.Timeout | null;
  polling: Promise<void> | null;
  /** Earliest time of the next switch-on (stagger). */
  nextOnAt: number;
}

export interface ServerSlot {
  readonly s: RuntimeServer;
  /** What derivation needs that never changes for this server (computed once, not per derivation). */
  readonly fixed: {
    /** Its outlets whose power says something (not those of on-only devices such as Wake-on-LAN). */
    readonly power: readonly RuntimeServer['outlets'][number][];
    readonly devices: readonly string[];
    readonly assumed: readonly boolean[];
    readonly names: { readonly outlets: readonly string[]; readonly tests: readonly string[] };
  };
  tests: TestSlot[];
  state: OpState;
  reason: string;
  last: LastAction | null;
  actionId: string | null;
  /** Set when a sequence did not start/stop this server because another one failed. */
  blockedBy: string | null;
  /** The action that left blockedBy (shown after it ends: "not started in action 12: …"). */
  blockedIn: { readonly id: string; readonly kind: 'on' | 'off' } | null;
  timer: NodeJS.Timeout | null;
  testing: Promise<void> | null;
}

/** What a device slot knows, handed from one runtime to the next by a reload that kept the device. */
export interface DeviceCarry {
  readonly power: readonly Power[];
  readonly reachable: boolean | null;
  readonly error: string | null;
  readonly lastPollAt: number | null;
  readonly lastPollMs: number | null;
  readonly readings: ReadonlyMap<number, Reading>;
  /** Outlet → when it was seen turning on. */
  readonly onSince: ReadonlyMap<number, number>;
}

/** What a server slot knows (its tests' last results), for a server a reload did not change. */
export interface ServerCarry {
  /** Absent when the server's tests changed: they start NOT_RUN. */
  readonly tests?: readonly TestSlot[];
  /** The state it showed: the new runtime's first derivation reports only real changes. */
  readonly state: OpState;
}

export interface RuntimeCarry {
  readonly devices: ReadonlyMap<string, DeviceCarry>;
  readonly servers: ReadonlyMap<string, ServerCarry>;
  /** When the first runtime of this process started (uptime, "on since start"). */
  readonly startedAt: number;
}
