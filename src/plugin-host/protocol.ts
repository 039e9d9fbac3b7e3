/**
 * The message contract between the plugin host (main thread) and a plugin's worker thread.
 * Every message carries the protocol version; every request has an id and gets exactly one
 * reply (or the sender's timeout). Anything a worker sends is checked with `parseWorkerMessage`
 * before it is used: a malformed message is that plugin's bug, never the host's crash.
 */
export const PROTOCOL_VERSION = 1;

/** Host → worker. */
export type HostMessage =
  | { readonly v: 1; readonly type: 'start'; readonly name: string; readonly config: Readonly<Record<string, unknown>>; readonly dataDir: string }
  | { readonly v: 1; readonly type: 'stop'; readonly reason: string }
  | { readonly v: 1; readonly type: 'event'; readonly name: string; readonly payload: unknown }
  | { readonly v: 1; readonly type: 'reply'; readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly v: 1; readonly type: 'reply'; readonly id: number; readonly ok: false; readonly error: { readonly code: string; readonly message: string } }
  /** Runs one of the plugin's registered commands; answered by exactly one `command-result` with the same id. */
  | { readonly v: 1; readonly type: 'invoke'; readonly id: number; readonly command: string; readonly params: unknown };

/** A plugin's own status: a few named values (`{connection: 'connected', lastError: null}`). */
export type PluginStatusFields = Readonly<Record<string, string | number | boolean | null>>;

/** Why `status` is not a valid PluginStatusFields (at most 16 fields, texts of at most 500 characters), or null. */
export function statusProblem(status: unknown): string | null {
  if (typeof status !== 'object' || status === null || Array.isArray(status)) return 'status must be an object of named values';
  const entries = Object.entries(status);
  if (entries.length > 16) return `status has ${entries.length} fields (at most 16)`;
  for (const [k, v] of entries) {
    if (!PARAM_NAME.test(k)) return `status field "${k}": a name is a letter, then letters, digits, _ and - (at most 40)`;
    if (!(v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.length <= 500))) return `status field "${k}": a string (at most 500 characters), a finite number, a boolean or null`;
  }
  return null;
}

/** Who may run a registered command through the API (the token's role). */
export type CommandRole = 'viewer' | 'operator' | 'admin';

/** The JSON type of one command argument. */
export type CommandParamType = 'string' | 'number' | 'boolean';
/** One argument a command takes: its JSON type, what it means, whether it must be given. */
export interface CommandParam {
  readonly type: CommandParamType;
  readonly help?: string;
  readonly required?: boolean;
}
/**
 * The arguments of a command, by name (`{ last: { type: 'string', required: true } }`): the host
 * checks a call's JSON object against it before the plugin sees it. A command without one takes
 * any JSON object.
 */
export type CommandParams = Readonly<Record<string, CommandParam>>;

/** Worker → host. */
export type WorkerMessage =
  | { readonly v: 1; readonly type: 'ready' }
  /** `mem`: the worker's own memory (its V8 heap, and external and ArrayBuffer memory), in bytes. */
  | { readonly v: 1; readonly type: 'heartbeat'; readonly mem?: { readonly heap: number; readonly external: number } }
  | { readonly v: 1; readonly type: 'stopped' }
  | { readonly v: 1; readonly type: 'log'; readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly msg: string; readonly data?: Readonly<Record<string, unknown>> }
  | { readonly v: 1; readonly type: 'subscribe'; readonly events: readonly string[] }
  | { readonly v: 1; readonly type: 'request'; readonly id: number; readonly method: string; readonly params: unknown }
  | { readonly v: 1; readonly type: 'failed'; readonly phase: 'start' | 'stop' | 'event'; readonly message: string }
  /** What the plugin is doing (`ctx.status`): shown with its state in `GET /api/plugins` and `ockle plugins`. */
  | { readonly v: 1; readonly type: 'status'; readonly status: PluginStatusFields }
  /** `params`: the arguments it takes (absent: any JSON object). */
  | { readonly v: 1; readonly type: 'command'; readonly command: string; readonly description: string; readonly role: CommandRole; readonly params?: CommandParams }
  | { readonly v: 1; readonly type: 'command-result'; readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly v: 1; readonly type: 'command-result'; readonly id: number; readonly ok: false; readonly error: { readonly code?: string; readonly message: string } };

/**
 * What a plugin may send the main thread, so that one in a loop cannot take power control down.
 * The worker's bootstrap keeps to these (dropping beyond them with a count); the host enforces
 * them again for a plugin that posts messages itself.
 */
export const LIMITS = {
  /** Log lines: a burst of this many, then `logPerSecond`. */
  logBurst: 1000,
  logPerSecond: 200,
  /** Characters of one log message, and bytes of its data (JSON). */
  logMessageChars: 2000,
  logDataBytes: 4096,
  /** Bytes of a command's result, and of a ctx.call's parameters (serialised). */
  resultBytes: 4 * 1024 * 1024,
  callBytes: 1024 * 1024,
} as const;

/** A command name: lower case, digits and dashes (the host prefixes it with `PLUGIN.`). */
export const COMMAND_NAME = /^[a-z][a-z0-9-]{0,39}$/;
const ROLES = new Set(['viewer', 'operator', 'admin']);

/** An argument name: a letter, then letters, digits, `_` and `-` (at most 40). */
export const PARAM_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,39}$/;
const PARAM_TYPES = new Set<string>(['string', 'number', 'boolean']);
/** At most this many arguments per command, and characters of an argument's help. */
export const PARAM_LIMITS = { count: 32, helpChars: 500 } as const;

/** Why `params` is not a valid CommandParams, or null when it is. */
export function paramSchemaProblem(params: unknown): string | null {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return 'params must be an object of arguments, e.g. { last: { type: "string" } }';
  const entries = Object.entries(params);
  if (entries.length > PARAM_LIMITS.count) return `params has ${entries.length} arguments (at most ${PARAM_LIMITS.count})`;
  for (const [name, p] of entries) {
    if (!PARAM_NAME.test(name)) return `argument "${name}": a name is a letter, then letters, digits, _ and - (at most 40)`;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) return `argument "${name}": give { type: "string" | "number" | "boolean", help?, required? }`;
    const { type, help, required, ...rest } = p as Record<string, unknown>;
    if (!PARAM_TYPES.has(type as string)) return `argument "${name}": type must be "string", "number" or "boolean", not ${JSON.stringify(type)}`;
    if (help !== undefined && (typeof help !== 'string' || help.length > PARAM_LIMITS.helpChars)) return `argument "${name}": help must be text of at most ${PARAM_LIMITS.helpChars} characters`;
    if (required !== undefined && typeof required !== 'boolean') return `argument "${name}": required must be true or false`;
    const extra = Object.keys(rest);
    if (extra.length > 0) return `argument "${name}": unknown field "${extra[0]}" (type, help and required are known)`;
  }
  return null;
}

/**
 * Checks the JSON params of a call of command `command` against its arguments: an object, no
 * unknown argument, each of its type, every required one given. Returns why not (naming the
 * argument), or null.
 */
export function paramsProblem(command: string, schema: CommandParams, params: unknown): string | null {
  const names = Object.keys(schema);
  const takes = names.length === 0 ? 'it takes no arguments' : `it takes: ${names.map((n) => `${n} (${schema[n]!.type}${schema[n]!.required ? ', required' : ''})`).join(', ')}`;
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return `command ${command} takes a JSON object of arguments; ${takes}`;
  for (const [name, value] of Object.entries(params)) {
    const p = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (!p) return `command ${command} has no argument "${name}"; ${takes}`;
    const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    if (type !== p.type || (type === 'number' && !Number.isFinite(value))) return `command ${command}: argument "${name}" must be a ${p.type}, not ${type === 'string' ? `the string ${JSON.stringify(value).slice(0, 60)}` : type}`;
  }
  for (const [name, p] of Object.entries(schema))
    if (p.required && !Object.hasOwn(params, name)) return `command ${command} needs argument "${name}" (${p.type}${p.help ? `: ${p.help}` : ''})`;
  return null;
}

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

/** The message, if it is a well-formed WorkerMessage; otherwise why not. */
export function parseWorkerMessage(m: unknown): { ok: true; msg: WorkerMessage } | { ok: false; why: string } {
  if (typeof m !== 'object' || m === null) return { ok: false, why: 'not an object' };
  const o = m as Record<string, unknown>;
  if (o.v !== PROTOCOL_VERSION) return { ok: false, why: `protocol version ${JSON.stringify(o.v)}, expected ${PROTOCOL_VERSION}` };
  switch (o.type) {
    case 'ready':
    case 'heartbeat':
    case 'stopped':
      return { ok: true, msg: o as WorkerMessage };
    case 'log':
      return LEVELS.has(o.level as string) && typeof o.msg === 'string' && (o.data === undefined || (typeof o.data === 'object' && o.data !== null))
        ? { ok: true, msg: o as WorkerMessage }
        : { ok: false, why: 'log needs level (debug|info|warn|error) and msg' };
    case 'subscribe':
      return Array.isArray(o.events) && o.events.every((e) => typeof e === 'string') ? { ok: true, msg: o as WorkerMessage } : { ok: false, why: 'subscribe needs events: string[]' };
    case 'request':
      return Number.isSafeInteger(o.id) && typeof o.method === 'string' ? { ok: true, msg: o as WorkerMessage } : { ok: false, why: 'request needs a numeric id and a method' };
    case 'failed':
      return ['start', 'stop', 'event'].includes(o.phase as string) && typeof o.message === 'string' ? { ok: true, msg: o as WorkerMessage } : { ok: false, why: 'failed needs phase and message' };
    case 'status': {
      const bad = statusProblem(o.status);
      return bad === null ? { ok: true, msg: o as WorkerMessage } : { ok: false, why: bad };
    }
    case 'command': {
      if (!(typeof o.command === 'string' && COMMAND_NAME.test(o.command) && typeof o.description === 'string' && ROLES.has(o.role as string)))
        return { ok: false, why: 'command needs a name (lower case, digits, dashes; at most 40), a description and a role (viewer|operator|admin)' };
      const bad = o.params === undefined ? null : paramSchemaProblem(o.params);
      return bad === null ? { ok: true, msg: o as WorkerMessage } : { ok: false, why: `command ${o.command}: ${bad}` };
    }
    case 'command-result':
      return Number.isSafeInteger(o.id) && typeof o.ok === 'boolean' && (o.ok || (typeof o.error === 'object' && o.error !== null && typeof (o.error as { message?: unknown }).message === 'string'))
        ? { ok: true, msg: o as WorkerMessage }
        : { ok: false, why: 'command-result needs a numeric id, ok, and error.message when not ok' };
    default:
      return { ok: false, why: `unknown message type ${JSON.stringify(o.type)}` };
  }
}
