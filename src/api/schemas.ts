/**
 * The JSON schemas of the action request bodies (used by the routes and by the OpenAPI
 * document), and the compilers fastify builds route validators with.
 */
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

const actionBody = {
  type: 'object',
  additionalProperties: false,
  required: ['action'],
  properties: {
    action: { type: 'string', enum: ['on', 'off', 'cycle', 'reset', 'shutdown'] },
    force: { type: 'boolean', default: false },
    reason: { type: 'string', maxLength: 200, default: '' },
    queue: { type: 'boolean', default: false },
  },
} as const;
const multiActionBody = {
  ...actionBody,
  required: ['action'],
  properties: {
    ...actionBody.properties,
    targets: { type: 'array', minItems: 1, maxItems: 100, items: { type: 'string', minLength: 1, maxLength: 64 } },
    all: { type: 'boolean', default: false },
  },
} as const;
/** An outlet action: always forced (no sequencing for a bare outlet), never queued. */
const outletActionBody = {
  type: 'object',
  additionalProperties: false,
  required: ['action'],
  properties: {
    action: actionBody.properties.action,
    reason: actionBody.properties.reason,
  },
} as const;
/** Pause or resume servers for maintenance. */
const maintenanceBody = {
  type: 'object',
  additionalProperties: false,
  required: ['action'],
  properties: {
    action: { type: 'string', enum: ['pause', 'resume'] },
    targets: multiActionBody.properties.targets,
    all: { type: 'boolean' },
    reason: actionBody.properties.reason,
  },
} as const;
/** A file's version: sha256 of its bytes in hex, or `absent` for no file. */
const configVersion = { type: 'string', pattern: '^([0-9a-f]{64}|absent)$', description: 'sha256 of the file’s bytes (hex) as GET /api/config/files/PATH answered it, or "absent" for no file' } as const;
const configText = { type: 'string', maxLength: 256 * 1024, description: 'The whole file; a secret’s value written as [secret] keeps the stored one' } as const;
/** PUT /api/config/files/PATH: replace the whole file. */
const configFileBody = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'text'],
  properties: { version: configVersion, text: configText },
} as const;
/** POST /api/config/files/PATH: create a file that does not exist. */
const configCreateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['text'],
  properties: { text: configText },
} as const;
const iniName = { type: 'string', minLength: 1, maxLength: 100 } as const;
/** POST /api/config/edit: structured edits of one file, applied in order. */
const configEditBody = {
  type: 'object',
  additionalProperties: false,
  required: ['file', 'version', 'edits'],
  properties: {
    file: { type: 'string', maxLength: 200, description: 'ockle.ini, devices/NAME.ini or servers/NAME.ini' },
    version: configVersion,
    edits: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['op', 'section'],
        properties: {
          op: { type: 'string', enum: ['set', 'unset', 'add-section', 'remove-section'] },
          section: iniName,
          key: iniName,
          value: { type: 'string', maxLength: 4096 },
        },
      },
    },
  },
} as const;
export const schemas = { actionBody, multiActionBody, outletActionBody, maintenanceBody, configFileBody, configCreateBody, configEditBody };

type Compilers = Required<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>>;
/** What @fastify/ajv-compiler and @fastify/fast-json-stringify-compiler build: schemas and options in, a per-route compiler out. */
type Factory<F> = (externalSchemas: unknown, options: unknown) => (route: unknown) => F;
interface Validator {
  (data: unknown, cxt?: unknown): unknown;
  errors?: unknown;
  schemaEnv?: unknown;
}

/** fastify's own compilers, loaded the way fastify loads them (they are its dependencies, not ockle's). */
const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));

/**
 * fastify's default compilers (Ajv for requests, fast-json-stringify for responses), each
 * route's compiled on its first request instead of at start. Compiling every route schema
 * (and its HEAD twin) at `ready`, and loading Ajv to do it, held up the API's first answer by
 * ~200 ms here. Validation, coercion, defaults and error messages are the same: the same
 * compiler with the same options does the work. One set per fastify instance.
 */
export function lazyCompilers(): Compilers & { compilePending(signal?: AbortSignal): Promise<void> } {
  /** Validators built but not compiled yet. */
  const pending = new Set<() => void>();
  return {
    buildValidator: ((externalSchemas: unknown, options: unknown) => {
      let compile: ((route: unknown) => Validator) | undefined;
      return (route: unknown) => {
        let fn: Validator | undefined;
        const ready = (): Validator => {
          pending.delete(ready);
          compile ??= (fromFastify('@fastify/ajv-compiler') as () => Factory<Validator>)()(externalSchemas, options);
          return (fn ??= compile(route));
        };
        pending.add(ready);
        const validate: Validator = (data, cxt) => {
          const f = fn ?? ready();
          const result = f(data, cxt);
          validate.errors = f.errors;
          return result;
        };
        // Tells fastify to pass the request as the parent, so that Ajv may coerce the root value as it does eagerly.
        validate.schemaEnv = true;
        return validate;
      };
    }) as Compilers['buildValidator'],
    buildSerializer: ((externalSchemas: unknown, options: unknown) => {
      let compile: ((route: unknown) => (data: unknown) => string) | undefined;
      return (route: unknown) => {
        let fn: ((data: unknown) => string) | undefined;
        return (data: unknown) => {
          compile ??= (fromFastify('@fastify/fast-json-stringify-compiler') as { SerializerSelector: () => Factory<(data: unknown) => string> }).SerializerSelector()(externalSchemas, options);
          fn ??= compile(route);
          return fn(data);
        };
      };
    }) as Compilers['buildSerializer'],
    /**
     * Compiles the validators no request has needed yet, one per turn of the event loop (the
     * first also loads Ajv and its URI parser: ~150–300 ms here, once), so that the first
     * request of a route does not pay for it either. For idle time after the start.
     */
    async compilePending(signal?: AbortSignal): Promise<void> {
      for (const ready of pending) {
        if (signal?.aborted) return;
        ready();
        await new Promise((r) => setImmediate(r));
      }
    },
  };
}
