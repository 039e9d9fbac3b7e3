/**
 * The facade the faces (API, CLI through the API, dashboard, plugins) use. The daemon's
 * runtime implements it; faces never reach past it into drivers.
 */
import type { EventBus } from './event-bus.js';
import type {
  ActionRecord,
  ActionRequest,
  DeviceStatus,
  OckleEvents,
  Plan,
  ServerStatus,
  TreeView,
} from './model.js';
import type { ConfigProblem } from '../errors.js';

export interface ActionQuery {
  readonly limit?: number;
  readonly server?: string;
  readonly status?: ActionRecord['status'];
  /** Only the stages and notes of this power event source (`ups:NAME`). */
  readonly source?: string;
}

export interface Health {
  /** `starting`: the API answers, the devices' first reads are under way (changes wait for them). */
  readonly status: 'ok' | 'degraded' | 'starting';
  readonly version: string;
  readonly uptimeS: number;
  readonly servers: number;
  readonly devices: number;
  readonly unreachableDevices: readonly string[];
  /** The action journal: whether it can be written (no new action is accepted while it cannot), and what was repaired at start. */
  readonly journal: { readonly writable: boolean; readonly error: string | null; readonly repairs: readonly string[] };
}

export interface Gateway {
  readonly events: EventBus<OckleEvents>;
  health(): Health;
  servers(): readonly ServerStatus[];
  /** @throws UnknownServerError */
  server(name: string): ServerStatus;
  tree(): TreeView;
  devices(): readonly DeviceStatus[];
  /** Newest first. */
  actions(query?: ActionQuery): readonly ActionRecord[];
  /** @throws OckleError OCKLE_ACTION_UNKNOWN */
  action(id: string): ActionRecord;
  /**
   * Validates and starts an action; returns its record (status `running`) at once.
   * @throws UnknownServerError, ActionBusyError, OckleError OCKLE_ACTION_NO_SEQUENCER
   */
  request(req: ActionRequest): ActionRecord;
  /** What a sequenced action would do, computed without touching anything. @throws UnknownServerError */
  plan(kind: 'on' | 'off', targets: readonly string[] | 'all'): Plan;
  /**
   * Cancels a running action: nothing new is scheduled; operations on the wire finish.
   * @throws OckleError OCKLE_ACTION_UNKNOWN
   */
  cancel(id: string, origin: string): ActionRecord;
  /** Resolves when the action has finished (or at once if it has), or when `signal` aborts (then with its current record). */
  waitFor(id: string, signal?: AbortSignal): Promise<ActionRecord>;
  /**
   * Runs a server's tests now (a run already under way is awaited instead of a second one) and
   * answers with its status. Never switches anything. @throws UnknownServerError
   */
  test(server: string): Promise<ServerStatus>;
  /**
   * Pauses servers for maintenance ('all': every server): no keep-alive restart and no automatic
   * action (one a plugin asks) until resumed; operators may still act. Kept across restarts.
   * Answers the servers whose pause changed. @throws UnknownServerError, OCKLE_STATE_UNWRITABLE
   */
  pause(targets: readonly string[] | 'all', origin: string, reason: string): readonly string[];
  /** Ends the maintenance of servers ('all': every paused one); answers those that were paused. */
  resume(targets: readonly string[] | 'all'): readonly string[];
  /** Problems (errors and warnings) of the loaded configuration, for `config check` faces. */
  configProblems(): readonly ConfigProblem[];
}
