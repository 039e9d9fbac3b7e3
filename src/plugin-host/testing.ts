/**
 * An in-process `ctx` for testing a plugin without a daemon or a worker thread: the test plays
 * the daemon (answers `ctx.call`), emits events, and runs the plugin's commands. The same
 * `PluginContext` type the worker gives, and the same contract (contract.ts): a call to an
 * unknown method, to one above the plugin's role, or with parameters the daemon would refuse
 * rejects here as it would there, so what passes here runs unchanged in the daemon.
 *
 *   const t = testContext({ role: 'viewer', config: { wait_time: 100 }, call: async (m) => (m === 'servers' ? [] : null) });
 *   await plugin.start(t.ctx);
 *   t.emit('server.changed', { server: 'web-1', state: 'OK', previous: 'OFF', reason: '' });
 *   expect(await t.invoke('stats')).toEqual(…);
 *   await plugin.stop?.('test');
 */
import { admitCall, type PluginCallArgs, type PluginEventName, type PluginEventPayload, type PluginMethodName, type PluginMethodResult } from './contract.js';
import { COMMAND_NAME, paramSchemaProblem, paramsProblem, statusProblem, type CommandParams, type CommandRole, type PluginStatusFields } from './protocol.js';
import type { PluginContext } from './types.js';

export interface TestLog {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface TestContext {
  readonly ctx: PluginContext;
  /** Delivers an event to the plugin's handlers (as the daemon would), synchronously. */
  emit<E extends PluginEventName>(event: E, payload: PluginEventPayload<E>): void;
  /**
   * Runs a registered command by its short name (`query`, not `logger.query`). Arguments it
   * declared are checked first, as the daemon does: a bad call rejects with the daemon's message
   * (`code` OCKLE_REQUEST_INVALID) and the handler does not run.
   */
  invoke(command: string, params?: unknown): Promise<unknown>;
  readonly commands: ReadonlyMap<string, { readonly description: string; readonly role: CommandRole; readonly params?: CommandParams }>;
  readonly logs: TestLog[];
  /** What the plugin last reported with `ctx.status`, or null. */
  readonly status: () => PluginStatusFields | null;
  /** Every `ctx.call` the plugin made (also those refused). */
  readonly calls: { readonly method: string; readonly params: unknown }[];
}

export function testContext(o: {
  name?: string;
  config?: Readonly<Record<string, unknown>>;
  dataDir?: string;
  /** The plugin's role (its manifest's `role`; default operator): a call above it is refused. */
  role?: CommandRole;
  /** Plays the daemon: answers a call the contract admits (known method, within the role, valid parameters). */
  call?: (method: PluginMethodName, params: unknown) => Promise<unknown>;
}): TestContext {
  const name = o.name ?? 'test-plugin';
  const handlers = new Map<string, Set<(p: unknown) => void>>();
  const commands = new Map<string, { description: string; role: CommandRole; params?: CommandParams; handler: (p: unknown) => unknown }>();
  const logs: TestLog[] = [];
  const calls: { method: string; params: unknown }[] = [];
  let status: PluginStatusFields | null = null;
  const log = (level: TestLog['level']) => (msg: string, data?: Record<string, unknown>) => void logs.push({ level, msg, ...(data && { data }) });
  const answer = async (method: string, params: unknown): Promise<unknown> => {
    calls.push({ method, params });
    const admitted = admitCall(name, o.role ?? 'operator', method, params);
    if (!o.call) throw new Error(`test context: no answer for ctx.call("${method}")`);
    // Structured clone, like the worker boundary: a plugin must not rely on shared objects.
    return structuredClone(await o.call(admitted, structuredClone(params)));
  };
  const ctx: PluginContext = {
    name,
    config: o.config ?? {},
    dataDir: o.dataDir ?? '.',
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    // The test's answer stands for the method's result, as the daemon's reply does in the worker.
    call<M extends PluginMethodName>(method: M, ...params: PluginCallArgs<M>) {
      return answer(method, params[0]) as Promise<PluginMethodResult<M>>;
    },
    on: (event, fn) => {
      let set = handlers.get(event);
      if (!set) handlers.set(event, (set = new Set()));
      const f = fn as (p: unknown) => void;
      set.add(f);
      return () => set.delete(f);
    },
    status: (fields) => {
      const bad = statusProblem(fields);
      if (bad !== null) throw new TypeError(`ctx.status: ${bad}`);
      status = structuredClone(fields);
    },
    command: (command, opts, handler) => {
      if (!COMMAND_NAME.test(command)) throw new TypeError(`command name "${command}": use lower case letters, digits and dashes (at most 40)`);
      if (commands.has(command)) throw new TypeError(`command "${command}" is already registered`);
      const bad = opts.params === undefined ? null : paramSchemaProblem(opts.params);
      if (bad !== null) throw new TypeError(`command "${command}": ${bad}`);
      commands.set(command, { description: opts.description, role: opts.role ?? 'operator', ...(opts.params && { params: structuredClone(opts.params) }), handler });
    },
  };
  return {
    ctx,
    emit: (event, payload) => {
      for (const fn of handlers.get(event) ?? []) fn(structuredClone(payload));
    },
    invoke: async (command, params = {}) => {
      const c = commands.get(command);
      if (!c) throw new Error(`no command "${command}"; registered: ${[...commands.keys()].join(', ') || 'none'}`);
      const bad = c.params ? paramsProblem(`${name}.${command}`, c.params, params) : null;
      if (bad !== null) throw Object.assign(new Error(bad), { code: 'OCKLE_REQUEST_INVALID' });
      return structuredClone(await c.handler(structuredClone(params)));
    },
    commands,
    logs,
    status: () => status,
    calls,
  };
}
