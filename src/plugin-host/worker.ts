/**
 * The bootstrap of a plugin's worker thread: loads the plugin module, gives it a `ctx` whose
 * calls become messages to the host, sends heartbeats while the thread's event loop is free,
 * and reports a plugin that throws instead of dying silently.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { COMMAND_NAME, type HostMessage, type WorkerMessage } from './protocol.js';
import type { PluginContext, PluginModule } from './types.js';

const port = parentPort!;
const data = workerData as { module: string; heartbeatMs: number };
const send = (m: Omit<WorkerMessage, 'v'>): void => port.postMessage({ v: 1, ...m });

let nextId = 1;
const pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
const handlers = new Map<string, Set<(payload: unknown) => void>>();
const commands = new Map<string, (params: unknown) => unknown>();
let plugin: PluginModule | null = null;

const log = (level: 'debug' | 'info' | 'warn' | 'error') => (msg: string, extra?: Record<string, unknown>) => send({ type: 'log', level, msg, ...(extra && { data: extra }) } as Omit<WorkerMessage, 'v'>);

function makeCtx(name: string, config: Readonly<Record<string, unknown>>, dataDir: string): PluginContext {
  return {
    name,
    config,
    dataDir,
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    call: (method, params) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        send({ type: 'request', id, method, params } as Omit<WorkerMessage, 'v'>);
      }),
    on: (event, fn) => {
      let set = handlers.get(event);
      if (!set) {
        handlers.set(event, (set = new Set()));
        send({ type: 'subscribe', events: [...handlers.keys()] } as Omit<WorkerMessage, 'v'>);
      }
      set.add(fn as (p: unknown) => void);
      return () => set.delete(fn as (p: unknown) => void);
    },
    command: (command, opts, handler) => {
      if (!COMMAND_NAME.test(command)) throw new TypeError(`command name "${command}": use lower case letters, digits and dashes (at most 40)`);
      if (commands.has(command)) throw new TypeError(`command "${command}" is already registered`);
      commands.set(command, handler);
      send({ type: 'command', command, description: opts.description, role: opts.role ?? 'operator' } as Omit<WorkerMessage, 'v'>);
    },
  };
}

const heartbeat = setInterval(() => send({ type: 'heartbeat' }), data.heartbeatMs);

port.on('message', (m: HostMessage) => {
  void (async () => {
    switch (m.type) {
      case 'start':
        try {
          plugin = (await import(data.module)) as PluginModule;
          await plugin.start(makeCtx(m.name, m.config, m.dataDir));
          send({ type: 'ready' });
        } catch (err) {
          send({ type: 'failed', phase: 'start', message: (err as Error)?.message ?? String(err) } as Omit<WorkerMessage, 'v'>);
        }
        break;
      case 'stop':
        try {
          await plugin?.stop?.(m.reason);
        } catch (err) {
          send({ type: 'failed', phase: 'stop', message: (err as Error)?.message ?? String(err) } as Omit<WorkerMessage, 'v'>);
        }
        clearInterval(heartbeat);
        send({ type: 'stopped' });
        break;
      case 'event':
        for (const fn of handlers.get(m.name) ?? []) {
          try {
            fn(m.payload);
          } catch (err) {
            send({ type: 'failed', phase: 'event', message: (err as Error)?.message ?? String(err) } as Omit<WorkerMessage, 'v'>);
          }
        }
        break;
      case 'invoke': {
        const handler = commands.get(m.command);
        try {
          if (!handler) throw new Error(`no command "${m.command}"`);
          const result: unknown = await handler(m.params ?? {});
          send({ type: 'command-result', id: m.id, ok: true, result: result ?? null } as Omit<WorkerMessage, 'v'>);
        } catch (err) {
          const e = err as { message?: unknown; code?: unknown };
          const error = { message: typeof e?.message === 'string' ? e.message : String(err), ...(typeof e?.code === 'string' && { code: e.code }) };
          try {
            send({ type: 'command-result', id: m.id, ok: false, error } as Omit<WorkerMessage, 'v'>);
          } catch {
            send({ type: 'command-result', id: m.id, ok: false, error: { message: error.message } } as Omit<WorkerMessage, 'v'>);
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
