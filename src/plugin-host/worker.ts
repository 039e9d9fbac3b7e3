/**
 * The bootstrap of a plugin's worker thread: loads the plugin module, gives it a `ctx` whose
 * calls become messages to the host, sends heartbeats while the thread's event loop is free,
 * and reports a plugin that throws instead of dying silently.
 */
import { serialize } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import type { PluginCallArgs, PluginMethodName, PluginMethodResult } from './contract.js';
import { COMMAND_NAME, LIMITS, paramSchemaProblem, statusProblem, type HostMessage, type WorkerMessage } from './protocol.js';
import type { PluginContext, PluginModule } from './types.js';

const port = parentPort!;
const data = workerData as { module: string; heartbeatMs: number };
/** A WorkerMessage without its `v` (each variant on its own, so a misspelt field is caught). */
type Body = WorkerMessage extends infer M ? (M extends WorkerMessage ? Omit<M, 'v'> : never) : never;
const send = (m: Body): void => port.postMessage({ v: 1, ...m });

let nextId = 1;
const pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
const handlers = new Map<string, Set<(payload: unknown) => void>>();
const commands = new Map<string, (params: unknown) => unknown>();
let plugin: PluginModule | null = null;

// Log lines: a token bucket (LIMITS.logBurst, then LIMITS.logPerSecond); beyond it lines are
// dropped and counted, and the count is told once a heartbeat. Long messages and data are cut.
let tokens: number = LIMITS.logBurst;
let refilled = Date.now();
let droppedLines = 0;
const log = (level: 'debug' | 'info' | 'warn' | 'error') => (msg: string, extra?: Record<string, unknown>) => {
  const now = Date.now();
  tokens = Math.min(LIMITS.logBurst, tokens + ((now - refilled) * LIMITS.logPerSecond) / 1000);
  refilled = now;
  if (tokens < 1) {
    droppedLines++;
    return;
  }
  tokens--;
  const text = String(msg);
  let data = extra;
  if (extra) {
    let json: string | undefined;
    try {
      json = JSON.stringify(extra);
    } catch {
      json = undefined;
    }
    if (json === undefined || json.length > LIMITS.logDataBytes) data = { data: json === undefined ? 'not serialisable: dropped' : `${json.length} bytes: dropped (at most ${LIMITS.logDataBytes})` };
  }
  const cut = text.length > LIMITS.logMessageChars ? `${text.slice(0, LIMITS.logMessageChars)}… (${text.length} characters)` : text;
  send({ type: 'log', level, msg: cut, ...(data && { data }) });
};

/** Bytes `value` takes as a message (what the structured clone copies); throws if it cannot be cloned. */
function messageSize(value: unknown): number {
  if (typeof value === 'string') return value.length * 2;
  try {
    return serialize(value).length;
  } catch (err) {
    throw new Error(`it could not be cloned: ${(err as Error).message}`);
  }
}

/** Sends one request; settles with the host's reply. Names and results are the wire's (checked by the host). */
function request(method: string, params: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size: number;
    try {
      size = messageSize(params);
    } catch (err) {
      return reject(new TypeError(`ctx.call ${method}: the parameters cannot be sent: ${(err as Error).message}`));
    }
    if (size > LIMITS.callBytes) return reject(new RangeError(`ctx.call ${method}: the parameters take ${size} bytes (at most ${LIMITS.callBytes})`));
    const id = nextId++;
    pending.set(id, { resolve, reject });
    send({ type: 'request', id, method, params });
  });
}

function subscribe(event: string, fn: (payload: unknown) => void): () => void {
  let set = handlers.get(event);
  if (!set) {
    handlers.set(event, (set = new Set()));
    send({ type: 'subscribe', events: [...handlers.keys()] });
  }
  set.add(fn);
  return () => set.delete(fn);
}

/**
 * The plugin's `ctx`. Its typing is the contract's (contract.ts); at runtime it passes any name
 * to the host, which refuses what the contract does not serve (fixtures and benchmarks serve
 * names of their own through a bare PluginHost). The two casts below are that boundary: a reply
 * is the result of the method asked for, an event's payload that of its name.
 */
function makeCtx(name: string, config: Readonly<Record<string, unknown>>, dataDir: string): PluginContext {
  return {
    name,
    config,
    dataDir,
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    call<M extends PluginMethodName>(method: M, ...params: PluginCallArgs<M>) {
      return request(method, params[0]) as Promise<PluginMethodResult<M>>;
    },
    on: (event, fn) => subscribe(event, fn as (payload: unknown) => void),
    status: (fields) => {
      const bad = statusProblem(fields);
      if (bad !== null) throw new TypeError(`ctx.status: ${bad}`);
      send({ type: 'status', status: { ...fields } });
    },
    command: (command, opts, handler) => {
      if (!COMMAND_NAME.test(command)) throw new TypeError(`command name "${command}": use lower case letters, digits and dashes (at most 40)`);
      if (commands.has(command)) throw new TypeError(`command "${command}" is already registered`);
      const bad = opts.params === undefined ? null : paramSchemaProblem(opts.params);
      if (bad !== null) throw new TypeError(`command "${command}": ${bad}`);
      commands.set(command, handler);
      // A plain copy: the schema crosses to the host as data.
      const params = opts.params === undefined ? undefined : (JSON.parse(JSON.stringify(opts.params)) as typeof opts.params);
      send({ type: 'command', command, description: opts.description, role: opts.role ?? 'operator', ...(params && { params }) });
    },
  };
}

const memory = (): { heap: number; external: number } => {
  // In a worker these are this thread's own: its V8 heap, and the memory its Buffers and
  // ArrayBuffers hold outside it (rss would be the whole process).
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external + m.arrayBuffers };
};
const heartbeat = setInterval(() => {
  if (droppedLines > 0) {
    send({ type: 'log', level: 'warn', msg: `dropped ${droppedLines} log lines (a plugin may log ${LIMITS.logPerSecond} lines a second, ${LIMITS.logBurst} at once)` });
    droppedLines = 0;
  }
  send({ type: 'heartbeat', mem: memory() });
}, data.heartbeatMs);
// Memory is looked at more often than the heartbeat, so that a plugin allocating fast is
// stopped near its limit, not seconds past it: only a change worth telling is sent.
const memLimit = (data as { maxMemoryBytes?: number }).maxMemoryBytes;
if (memLimit) {
  setInterval(() => {
    const m = memory();
    if (m.heap + m.external > memLimit) send({ type: 'heartbeat', mem: m });
  }, 100).unref();
}

port.on('message', (m: HostMessage) => {
  void (async () => {
    switch (m.type) {
      case 'start':
        try {
          plugin = (await import(data.module)) as PluginModule;
          await plugin.start(makeCtx(m.name, m.config, m.dataDir));
          send({ type: 'ready' });
        } catch (err) {
          send({ type: 'failed', phase: 'start', message: (err as Error)?.message ?? String(err) });
        }
        break;
      case 'stop':
        try {
          await plugin?.stop?.(m.reason);
        } catch (err) {
          send({ type: 'failed', phase: 'stop', message: (err as Error)?.message ?? String(err) });
        }
        clearInterval(heartbeat);
        send({ type: 'stopped' });
        break;
      case 'event':
        for (const fn of handlers.get(m.name) ?? []) {
          try {
            fn(m.payload);
          } catch (err) {
            send({ type: 'failed', phase: 'event', message: (err as Error)?.message ?? String(err) });
          }
        }
        break;
      case 'invoke': {
        const handler = commands.get(m.command);
        try {
          if (!handler) throw new Error(`no command "${m.command}"`);
          const result: unknown = await handler(m.params ?? {});
          let size = 0;
          try {
            size = messageSize(result ?? null);
          } catch (err) {
            throw new Error(`the result ${(err as Error).message.replace(/^it /, '')}`);
          }
          if (size > LIMITS.resultBytes)
            throw new Error(`the result takes ${(size / 1_048_576).toFixed(1)} MB (a command may answer at most ${LIMITS.resultBytes / 1_048_576} MB): ask for less`);
          send({ type: 'command-result', id: m.id, ok: true, result: result ?? null });
        } catch (err) {
          const e = err as { message?: unknown; code?: unknown };
          const error = { message: typeof e?.message === 'string' ? e.message : String(err), ...(typeof e?.code === 'string' && { code: e.code }) };
          try {
            send({ type: 'command-result', id: m.id, ok: false, error });
          } catch {
            send({ type: 'command-result', id: m.id, ok: false, error: { message: error.message } });
          }
        }
        break;
      }
      case 'reply': {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (!p) break;
        if (m.ok) p.resolve(m.result);
        else p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
        break;
      }
    }
  })();
});
