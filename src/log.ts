/**
 * The pino root logger. JSON to stdout (journald keeps it); pretty when stdout is a terminal.
 * Secrets are `Secret` objects that serialise as `[secret]`; the redact paths are a second
 * line of defence for anything that slips through as a plain string.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Key names whose values are never logged, at any depth up to 3. */
export const REDACT_KEYS = [
  'password',
  'community',
  'read_community',
  'write_community',
  'auth_key',
  'priv_key',
  'token',
  'authorization',
  'secret',
] as const;

export const REDACT_PATHS: string[] = REDACT_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]).concat([
  'req.headers.authorization',
  'headers.authorization',
]);

export interface LogOptions {
  level?: string;
  /** Where JSON lines go (tests pass a sink); default stdout. */
  destination?: DestinationStream;
  /** Pretty-print; default: when stdout is a TTY and no destination was given. */
  pretty?: boolean;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const base: LoggerOptions = {
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[secret]' },
    base: { name: 'ockle' },
  };
  const pretty = opts.pretty ?? (opts.destination === undefined && process.stdout.isTTY === true);
  if (opts.destination) return pino(base, opts.destination);
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' } },
    });
  }
  return pino(base);
}

/** A logger that drops everything (for tests and tools that want silence). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
