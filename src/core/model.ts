/**
 * The core's shared vocabulary: operation states, action records, status snapshots and events.
 * Faces (API, CLI, dashboard) and plugins speak only these types.
 */
import type { Power, Reading, SwitchAction } from '../../drivers/types.js';

/** Operation state of a server (Ockle's states plus UNKNOWN). */
export const OP_STATES = [
  'OK',
  'OFF',
  'SWITCHING_ON',
  'SWITCHING_OFF',
  'FAILED_TO_START',
  'FAILED_TO_STOP',
  'PERMANENTLY_FAILED_TO_START',
  'PERMANENTLY_FAILED_TO_STOP',
  'FORCED_ON',
  'FORCED_OFF',
  /** Powered, not serving, and no action is starting it (halted, hung, or booting by hand). */
  'NOT_SERVING',
  'UNKNOWN',
] as const;
export type OpState = (typeof OP_STATES)[number];

/** Result of a server's test. */
export type TestState = 'PASSED' | 'FAILED' | 'NOT_RUN';

/**
 * What an action does: switch outlets, or (`shutdown`) ask the OS to shut down through the
 * controls, cutting nothing. `config` records a change of the configuration files (who, which
 * file, the lines, secrets masked): journaled with the power actions, it switches nothing.
 * `ups` records where a UPS event stands (a power cut began, mains came back, the event ended),
 * with the servers that were on before it: it switches nothing either.
 */
export type ActionKind = SwitchAction | 'shutdown' | 'config' | 'ups';
export type ActionStatus = 'running' | 'ok' | 'failed' | 'cancelled' | 'interrupted';

/** One step of an action, as recorded in the journal. */
export interface ActionStep {
  /** ISO time. */
  readonly at: string;
  readonly server?: string;
  readonly device?: string;
  readonly outlet?: number;
  /** What happened: `switch`, `confirm`, `test`, `shutdown`, `retry`, `skip`, `wave`… */
  readonly op: string;
  readonly ok: boolean;
  readonly detail: string;
  /** A measured duration, where the step has one (`up`: boot time from switch-on to tests passing). */
  readonly ms?: number;
}

/** Who asked: `api:<token name>`, `cli:<token name>`, `web:<token name>`, `plugin:<name>`, `daemon`. */
export type Origin = string;

/** Every requested power action. Persisted by the ActionJournal; survives restarts. */
/** One outlet of one device: `pdu-a/3`. */
export interface OutletRef {
  readonly device: string;
  readonly outlet: number;
}

/**
 * The power event an action belongs to (a UPS policy's stages): which source, which event and
 * cut, which stage. The journal is the event's memory: a daemon restarted mid-event reads it
 * back to know which stages ran and which servers to bring back.
 */
export interface ActionEvent {
  /** `ups:NAME`. */
  readonly source: string;
  /** Event id: from the first cut until mains is back and the restore ran. */
  readonly id: string;
  /** 1 for the first cut of the event; mains failing again during the restore starts cut 2… */
  readonly cut: number;
  /** `start`, `tier-1`…, `low-battery`, `fsd`, `restore`, `end`. */
  readonly stage: string;
  /** Servers on when the event began (the `start` record): what the restore brings back. */
  readonly wasOn?: readonly string[];
}

export interface ActionRecord {
  readonly id: string;
  readonly kind: ActionKind;
  /** Servers named in the request; for an outlet action, the servers that own its outlets. */
  readonly targets: readonly string[];
  /** An outlet action: exactly these outlets (always forced; a server owning one is held meanwhile). */
  readonly outlets?: readonly OutletRef[];
  /** true: switch exactly the targets' outlets, ignoring dependencies. */
  readonly force: boolean;
  readonly origin: Origin;
  readonly reason: string;
  readonly requestedAt: string;
  readonly finishedAt?: string;
  readonly status: ActionStatus;
  readonly error?: { readonly code: string; readonly message: string };
  readonly steps: readonly ActionStep[];
  /**
   * Steps dropped from an old action to keep the journal within its size (its failures and the
   * boot times learned from it are kept); absent while none were.
   */
  readonly stepsDropped?: number;
  /** A stage of a power event (UPS policy). */
  readonly event?: ActionEvent;
}

/** What a face asks for. */
export interface ActionRequest {
  readonly kind: ActionKind;
  readonly targets: readonly string[];
  readonly force: boolean;
  readonly origin: Origin;
  readonly reason: string;
  /** Sequenced only: when a server is held by another action, wait for it instead of refusing. */
  readonly queue?: boolean;
  /** An outlet action: switch exactly these outlets (targets must be empty; always forced). */
  readonly outlets?: readonly OutletRef[];
  /** A stage of a power event (UPS policy), journaled with the action. */
  readonly event?: ActionEvent;
  /**
   * An outlet cycle with this off time: off, confirmed, `offMs`, on, confirmed, even where the
   * device could cycle natively (PDUDaemon's reboot with its delay). Outlet cycles only.
   */
  readonly offMs?: number;
}

export interface OutletStatus {
  /** Section name in the server file. */
  readonly name: string;
  readonly device: string;
  readonly outlet: number;
  readonly power: Power;
  readonly readBack: 'real' | 'assumed';
}
export interface TestStatus {
  readonly name: string;
  readonly type: string;
  readonly result: TestState;
  readonly detail: string;
  readonly latencyMs: number | null;
  /** ISO time of the last run, null if never run. */
  readonly at: string | null;
}
export interface ServerStatus {
  readonly name: string;
  readonly description: string;
  readonly host: string | null;
  readonly state: OpState;
  /** Why the state is what it is: `all outlets on, 2/2 tests pass`, `pdu-1 unreachable`. */
  readonly reason: string;
  readonly outlets: readonly OutletStatus[];
  readonly controls: readonly { readonly name: string; readonly type: string }[];
  readonly tests: readonly TestStatus[];
  readonly dependencies: readonly string[];
  readonly dependents: readonly string[];
  /** Servers of other gateways it depends on, `GATEWAY:SERVER` (federation, docs/mqtt.md). */
  readonly remoteDependencies: readonly string[];
  /** Servers of other gateways that depend on it, as their gateways publish it. */
  readonly remoteDependents: readonly string[];
  /** The running action that holds this server, if any. */
  readonly actionId: string | null;
  /** Paused for maintenance (no keep-alive, no automatic action) by whom, when and why; null when not. */
  readonly paused: { readonly by: string; readonly at: string; readonly reason: string } | null;
}
export interface DeviceOutletStatus {
  readonly outlet: number;
  readonly power: Power;
  readonly name: string | null;
  /** `server/section` bound to this outlet, if any. */
  readonly boundTo: string | null;
  /** The latest metering sample (metering devices), else null. */
  readonly reading: Reading | null;
}
export interface DeviceStatus {
  readonly id: string;
  readonly type: string;
  readonly description: string;
  /** null until first contact. */
  readonly reachable: boolean | null;
  readonly error: string | null;
  readonly readBack: 'real' | 'assumed';
  readonly outletCount: number;
  readonly outlets: readonly DeviceOutletStatus[];
  /** What the device said of itself when opened (model, firmware; SNMP: profile, sysObjectID). */
  readonly model: string | null;
  readonly firmware: string | null;
  readonly details: Readonly<Record<string, string>>;
  readonly lastPollAt: string | null;
  readonly lastPollMs: number | null;
}
export interface TreeView {
  readonly nodes: readonly { readonly name: string; readonly state: OpState }[];
  /** `from` depends on `to`. */
  readonly edges: readonly { readonly from: string; readonly to: string }[];
  /** Topological order: dependencies first. */
  readonly order: readonly string[];
  /** Servers of other gateways this lab depends on, or that depend on it (drawn dashed, with their gateway). */
  readonly remote: readonly RemoteServerStatus[];
}

/**
 * A server of another gateway (federation, docs/mqtt.md), as the broker tells it: its own
 * gateway's published state, or UNKNOWN (with why) while that cannot be known.
 */
export interface RemoteServerStatus {
  /** `GATEWAY:SERVER`. */
  readonly ref: string;
  readonly gateway: string;
  readonly server: string;
  /** Its gateway's op-state (OK, OFF, STARTING…), or UNKNOWN. */
  readonly state: string;
  readonly serving: boolean;
  readonly power: string;
  readonly reason: string;
  /** The action holding it on its gateway, if any. */
  readonly actionId: string | null;
  /** Servers here that depend on it. */
  readonly neededBy: readonly string[];
  /** Servers here it depends on. */
  readonly dependsOnHere: readonly string[];
}

/** What a sequenced action would do, computed without touching anything. */
export interface Plan {
  readonly kind: 'on' | 'off';
  readonly targets: readonly string[];
  /** Servers that would be switched, in order; servers already in the goal state are left out. */
  readonly servers: readonly string[];
  readonly skipped: readonly string[];
  /** Wave k: servers whose longest chain of predecessors in this plan has k members. */
  readonly waves: readonly (readonly string[])[];
  /** Per device: the order of its switch operations, and its stagger. */
  readonly devices: readonly { readonly device: string; readonly staggerMs: number; readonly order: readonly string[] }[];
  /** Expected boot (on) or shutdown (off) time per server, and where the figure comes from. */
  readonly expected: readonly { readonly server: string; readonly ms: number; readonly source: 'learned' | 'timeout' | 'none' }[];
  /** The chain of servers with the longest expected total, and that total. */
  readonly criticalPath: { readonly servers: readonly string[]; readonly ms: number };
  /**
   * Servers of other gateways the action would wait on: on, those the servers depend on (asked
   * to start unless they serve); off, those that depend on the servers (asked to stop first).
   */
  readonly remote: readonly { readonly ref: string; readonly state: string; readonly reason: string; readonly for: readonly string[]; readonly ask: boolean }[];
}

/** Typed events. Names are dotted past tense. */
export interface OckleEvents {
  'server.changed': { server: string; state: OpState; previous: OpState; reason: string };
  'outlet.changed': { device: string; outlet: number; power: Power; previous: Power };
  'test.changed': { server: string; test: string; result: TestState; previous: TestState; detail: string };
  'device.unreachable': { device: string; message: string };
  'device.reachable': { device: string };
  /** A metering poll finished: every outlet's sample, keyed by outlet number. */
  'device.metered': { device: string; at: string; readings: Readonly<Record<number, Reading>> };
  'action.started': { action: ActionRecord };
  'action.progressed': { actionId: string; step: ActionStep };
  'action.finished': { action: ActionRecord };
  'action.progress': ActionProgress;
  'config.reloaded': { ok: boolean; message: string };
  /** A worker plugin changed state (starting, running, backoff, failed, stopping, stopped). */
  'plugin.changed': { plugin: string; state: string; detail: string };
  /** A UPS reading changed (power, flags, charge, runtime, load: every poll that differs). */
  'ups.changed': { ups: UpsStatus };
  /** A UPS policy moved: an event began, a stage started or ended, mains came back, the event ended. */
  /** A server of another gateway changed as the broker tells it (state, or UNKNOWN and why). */
  'remote.changed': { server: RemoteServerStatus; previous: string | null };
  /** A sequence asks another gateway to switch one of its servers (the mqtt plugin sends it). */
  'remote.request': { requestId: string; gateway: string; server: string; action: 'on' | 'off'; reason: string; actionId: string; for: string };
  'ups.stage': { ups: string; event: string | null; stage: string; status: 'started' | 'ok' | 'failed' | 'cancelled' | 'skipped' | 'waiting' | 'info'; detail: string; actionId: string | null };
}

/** The policy stage a UPS is in. */
export type UpsStage = 'normal' | 'unknown' | 'on-battery' | 'shedding' | 'low-battery' | 'waiting-for-mains' | 'restoring';

/** A UPS as the faces see it: the source's last reading and where its policy stands. */
export interface UpsStatus {
  readonly name: string;
  readonly type: string;
  readonly description: string;
  /** mains, battery, bypass, off; unknown: the source does not answer (never taken for a cut). */
  readonly power: 'mains' | 'battery' | 'bypass' | 'off' | 'unknown';
  readonly lowBattery: boolean;
  readonly forcedShutdown: boolean;
  readonly chargePct: number | null;
  readonly runtimeS: number | null;
  readonly loadPct: number | null;
  readonly inputVolts: number | null;
  readonly flags: readonly string[];
  /** The UPS's own alarms, and ockle's (`source silent: …`). */
  readonly alarms: readonly string[];
  /** Why the source does not answer, null when it does. */
  readonly error: string | null;
  /** ISO time of the last answer, null before the first. */
  readonly lastReadAt: string | null;
  /** ISO time the power became what it is (on battery since…). */
  readonly powerSince: string | null;
  readonly stage: UpsStage;
  /** The stage in words: `on battery for 12 s; tier 1 in 18 s`. */
  readonly detail: string;
  /** The open power event, if any. */
  readonly event: { readonly id: string; readonly cut: number; readonly startedAt: string; readonly wasOn: readonly string[]; readonly done: readonly string[] } | null;
  /** The running stage action, if any. */
  readonly actionId: string | null;
  /** Servers this UPS feeds (its policy acts on these only). */
  readonly servers: readonly string[];
}

/**
 * Where a sequenced action stands, emitted whenever one of its servers starts or ends. Waves are
 * the plan's (wave k: k predecessors in the longest chain); they overlap in time, because a
 * server starts the moment its own predecessors serve, not when its whole wave may.
 */
export interface ActionProgress {
  readonly actionId: string;
  readonly kind: ActionKind;
  /** The server this event is about, and what happened to it. */
  readonly server: string;
  readonly event: 'started' | 'done' | 'failed' | 'gave-up' | 'blocked' | 'cancelled';
  /** 1-based wave of that server, of `waves`. */
  readonly wave: number;
  readonly waves: number;
  /** Lowest wave that still has servers not done (= waves once all are). */
  readonly currentWave: number;
  /** Servers that reached an end (goal, permanent failure, blocked or cancelled), of `total`. */
  readonly done: number;
  readonly total: number;
  readonly percent: number;
  /** Servers being switched or tested now. */
  readonly active: readonly string[];
}
export type EventName = keyof OckleEvents;
