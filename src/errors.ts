/**
 * Every error ockle raises on purpose. Each has a stable `code` (`OCKLE_<AREA>_<WHAT>`),
 * a message that says what happened and where, and a `hint` that says what to do.
 * `docs/errors.md` mirrors the table below; `test/errors.test.ts` keeps the two in sync.
 * Messages never contain a secret.
 */

/** Code → meaning and fix. The single source for docs/errors.md. */
export const ERROR_CODES = {
  OCKLE_CONFIG_INVALID: {
    meaning: 'The configuration has one or more problems; each is listed with file:line.',
    fix: 'Correct every listed line, then run `ockle config check`.',
    status: 400,
  },
  OCKLE_CONFIG_UNREADABLE: {
    meaning: 'A configuration directory or file could not be read.',
    fix: 'Check the path given with --config and the file permissions.',
    status: 500,
  },
  OCKLE_CONFIG_UNWRITABLE: {
    meaning: 'ockle could not write a configuration file (a read-only directory, permissions, a full disk); the file was left as it was and nothing was applied.',
    fix: 'Give the ockle user write access to the config directory (the message has the system’s reason), or edit the file by hand and reload.',
    status: 500,
  },
  OCKLE_CONFIG_CONFLICT: {
    meaning: 'A configuration file changed since the version an edit was based on (another user or editor saved it first; the answer has its current version and what changed), or since the daemon loaded it; nothing was written.',
    fix: 'Read the file again (`GET /api/config/files/PATH`, or reload the page), redo the change on the current version; for a plugin toggle, reload first (`systemctl reload ockle`).',
    status: 409,
  },
  OCKLE_CONFIG_PATH: {
    meaning: 'A configuration edit named a path ockle does not edit: outside the config directory (`..`, an absolute path, a symbolic link leading out), not an .ini file, or not ockle.ini, devices/NAME.ini or servers/NAME.ini.',
    fix: 'Name a file relative to the config directory: ockle.ini, devices/NAME.ini or servers/NAME.ini.',
    status: 400,
  },
  OCKLE_TREE_CYCLE: {
    meaning: 'Server dependencies form a cycle, so no start order exists.',
    fix: 'Remove one of the dependencies named in the cycle.',
    status: 400,
  },
  OCKLE_TREE_UNKNOWN_SERVER: {
    meaning: 'A request named a server that is not configured.',
    fix: 'Use `ockle status` to list the configured servers.',
    status: 404,
  },
  OCKLE_DEVICE_UNREACHABLE: {
    meaning: 'A device did not answer (connection refused, no route, no reply).',
    fix: 'Check the device address, port, cabling and credentials in its devices/*.ini file.',
    status: 502,
  },
  OCKLE_DEVICE_REPLY: {
    meaning: 'A device answered with something ockle cannot use (error status, bad value, bad checksum).',
    fix: 'Check the device type/profile in its devices/*.ini file; the message names the reply.',
    status: 502,
  },
  OCKLE_DEVICE_REFUSED: {
    meaning: 'A device refused a switch command, or the outlet did not reach the requested state.',
    fix: 'Check the outlet is not locked on the device and that the write credentials are right.',
    status: 502,
  },
  OCKLE_DEVICE_TIMEOUT: {
    meaning: 'A device operation did not finish within its timeout.',
    fix: 'Raise `timeout` in the device file if the device is slow, or check the link.',
    status: 504,
  },
  OCKLE_DEVICE_UNKNOWN_OUTLET: {
    meaning: 'An operation named an outlet number the device does not have.',
    fix: 'Use an outlet number between 1 and the device’s outlet count.',
    status: 400,
  },
  OCKLE_CONTROL_FAILED: {
    meaning: 'A control (SSH, command, BMC soft-off) could not deliver the shutdown request, or the far end refused it.',
    fix: 'Read the detail (exit code, stderr, authentication); fix the credentials, command or host key in the server file.',
    status: 502,
  },
  OCKLE_CONTROL_TIMEOUT: {
    meaning: 'A control did not finish within its `timeout`.',
    fix: 'Check the host answers; raise `timeout` in the control section if the request is slow to be accepted.',
    status: 504,
  },
  OCKLE_OPERATION_ABORTED: {
    meaning: 'An operation was cancelled before it finished (cancel, shutdown).',
    fix: 'Nothing to fix; re-run the action if it is still wanted.',
    status: 409,
  },
  OCKLE_ACTION_BUSY: {
    meaning: 'A server named in the request is already part of a running action.',
    fix: 'Wait for the named action to finish, or cancel it, then retry.',
    status: 409,
  },
  OCKLE_ACTION_NO_SEQUENCER: {
    meaning: 'A sequenced (non-forced) power action was requested but no sequencer plugin is running.',
    fix: 'Enable the auto-control plugin, or pass force to switch the outlets directly.',
    status: 409,
  },
  OCKLE_ACTION_UNKNOWN: {
    meaning: 'No action has the given id.',
    fix: 'Use `ockle actions` to list recent actions.',
    status: 404,
  },
  OCKLE_SERVER_BLOCKED: {
    meaning: 'A server was not switched because one of its outlets cannot be read (its device is unreachable, or the outlet reads unknown or switching); nothing was written.',
    fix: 'Bring the named device back (`ockle devices` shows why it is unreachable), then run the action again; `--force` switches the readable outlets alone.',
    status: 409,
  },
  OCKLE_SERVER_PAUSED: {
    meaning: 'An automatic action (asked by a plugin: keep-alive, a power policy, a timer) named a server an operator paused for maintenance; nothing was switched.',
    fix: '`ockle resume SERVER` when the maintenance is over; operators can still act on a paused server.',
    status: 409,
  },
  OCKLE_STATE_UNWRITABLE: {
    meaning: 'A pause or resume could not be recorded in the state directory (full, or not writable), so it was not applied.',
    fix: 'Free space in the state directory or fix its permissions, then retry.',
    status: 507,
  },
  OCKLE_JOURNAL_UNWRITABLE: {
    meaning: 'The action journal cannot be written (the state directory is full, or failing), so no new action is accepted: an action that cannot be recorded is not run.',
    fix: 'Free space in the state directory (`df -h` on it); ockle accepts actions again as soon as it can write, without a restart.',
    status: 507,
  },
  OCKLE_SEQUENCE_START_FAILED: {
    meaning: 'A sequenced power-on ended with servers that did not come up (their dependents were not started).',
    fix: 'Look at the action’s steps (`ockle action ID`): each failed server says why; fix it and run the action again.',
    status: 502,
  },
  OCKLE_SHUTDOWN_NOT_CONFIRMED: {
    meaning: 'A shutdown (controls only) was accepted by the server’s controls, but its tests still passed shutdown_timeout later: the OS did not go down. Nothing was cut.',
    fix: 'Look at the host (a hung shutdown, an inhibitor); `ockle off SERVER` cuts the power after asking again, `--force` cuts it at once.',
    status: 502,
  },
  OCKLE_SEQUENCE_STOP_FAILED: {
    meaning: 'A sequenced power-off ended with servers that did not go down (their dependencies were left on).',
    fix: 'Look at the action’s steps; a server still serving after shutdown_timeout is left on when on_shutdown_timeout = fail.',
    status: 502,
  },
  OCKLE_PLUGIN_UNAVAILABLE: {
    meaning: 'The plugin that owns a command is not running (starting, restarting after a crash, failed or stopped), or stopped before it answered.',
    fix: 'Check `ockle plugins`; a failed plugin starts again with `ockle plugins restart NAME`.',
    status: 503,
  },
  OCKLE_PLUGIN_BROKEN: {
    meaning: 'The plugin was found but cannot be loaded (its package.json, main file or apiVersion is wrong), so it cannot be enabled.',
    fix: 'Read the message: it names the file and line; fix or reinstall the plugin (`ockle config check` lists the problem), then enable it again.',
    status: 409,
  },
  OCKLE_COMMAND_FAILED: {
    meaning: 'A plugin command ran and reported an error (the message is the plugin’s).',
    fix: 'Read the message and the plugin’s log lines; check the command’s parameters (`ockle cmd` lists the commands).',
    status: 502,
  },
  OCKLE_COMMAND_TIMEOUT: {
    meaning: 'A plugin command did not answer within its deadline.',
    fix: 'Try again with a smaller request (for example a shorter time range); check the plugin is not hung (`ockle plugins`).',
    status: 504,
  },
  OCKLE_REQUEST_INVALID: {
    meaning: 'An API request body, query or CLI argument is not valid.',
    fix: 'Correct the field named in the message.',
    status: 400,
  },
  OCKLE_AUTH_REQUIRED: {
    meaning: 'The request carried no valid bearer token.',
    fix: 'Send `Authorization: Bearer <token>`; the CLI reads OCKLE_TOKEN, --token-file, or the daemon’s local token file.',
    status: 401,
  },
  OCKLE_AUTH_FORBIDDEN: {
    meaning: 'The token is valid but its role may not do this.',
    fix: 'Use a token with the role named in the message (viewer < operator < admin).',
    status: 403,
  },
  OCKLE_AUTH_THROTTLED: {
    meaning: 'Too many failed authentications came from this address within [api] auth_window; its further failures are refused for the rest of the window (a valid token still works).',
    fix: 'Wait the seconds of Retry-After, and find the client sending a wrong or revoked token (the daemon log names its address).',
    status: 429,
  },
  OCKLE_API_HOST: {
    meaning: 'The request’s Host header names a host this gateway does not answer to (a guard against DNS rebinding).',
    fix: 'Reach the API by loopback, its address, or a name in [api] names (add the name you use, then reload).',
    status: 421,
  },
  OCKLE_API_CROSS_SITE: {
    meaning: 'A request that changes state carried neither Content-Type: application/json nor an X-Ockle-Client header, as a page on another site could send it.',
    fix: 'Send Content-Type: application/json (also with no body) or X-Ockle-Client: api.',
    status: 403,
  },
  OCKLE_TLS_UNTRUSTED: {
    meaning: 'The CLI reached an HTTPS API whose certificate is neither trusted by the system nor the one pinned by fingerprint.',
    fix: 'Compare `ockle api fingerprint` on the gateway with the fingerprint in the message; if the certificate changed on purpose, store the new one (OCKLE_FINGERPRINT or the api-cert.sha256 file beside the token).',
    status: 502,
  },
  OCKLE_NOT_FOUND: {
    meaning: 'No such API route or object.',
    fix: 'Check the URL; the API description lists every route.',
    status: 404,
  },
  OCKLE_DAEMON_UNREACHABLE: {
    meaning: 'The CLI could not reach the daemon’s API.',
    fix: 'Start the daemon (`npm start` or `systemctl start ockle`) or pass --url.',
    status: 503,
  },
  OCKLE_INTERNAL_ERROR: {
    meaning: 'An unexpected error inside ockle (a bug).',
    fix: 'Report it with the log lines around it.',
    status: 500,
  },
} as const satisfies Record<string, { meaning: string; fix: string; status: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface OckleErrorOptions extends ErrorOptions {
  /** What the user should do about it. */
  hint?: string;
}

/** Base of every deliberate ockle error. Compare with `instanceof` or `code`, never the message. */
export class OckleError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  constructor(code: ErrorCode, message: string, options: OckleErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint ?? ERROR_CODES[code].fix;
  }
  /** HTTP status the API answers with for this error. */
  get status(): number {
    return ERROR_CODES[this.code].status;
  }
  toJSON(): { code: ErrorCode; message: string; hint?: string } {
    return this.hint === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, hint: this.hint };
  }
}

/** One problem found in the configuration. `file` is relative to the config directory. */
export interface ConfigProblem {
  file: string;
  line?: number;
  section?: string;
  key?: string;
  message: string;
  hint?: string;
  severity: 'error' | 'warning';
}

/** Formats a problem as `file:line: message. hint` (the form `ockle config check` prints). */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}`;
  const tag = p.severity === 'warning' ? 'warning: ' : '';
  return `${where}: ${tag}${p.message}${p.hint ? ` ${p.hint}` : ''}`;
}

/** The configuration failed validation; `problems` holds every problem found, not only the first. */
export class ConfigError extends OckleError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    const errors = problems.filter((p) => p.severity === 'error');
    super(
      'OCKLE_CONFIG_INVALID',
      `configuration has ${errors.length} error${errors.length === 1 ? '' : 's'}:\n` +
        errors.map((p) => `  ${formatProblem(p)}`).join('\n'),
    );
    this.problems = problems;
  }
}

export class DependencyCycleError extends OckleError {
  readonly cycle: readonly string[];
  constructor(cycle: readonly string[]) {
    super('OCKLE_TREE_CYCLE', `dependency cycle: ${cycle.join(' → ')}`);
    this.cycle = cycle;
  }
}

export class UnknownServerError extends OckleError {
  constructor(name: string, known: readonly string[]) {
    super('OCKLE_TREE_UNKNOWN_SERVER', `no server "${name}" (configured: ${known.join(', ') || 'none'})`);
  }
}

/** Base for errors a device caused; `device` is the device id from config. */
export class DeviceError extends OckleError {
  readonly device: string;
  constructor(code: ErrorCode, device: string, message: string, options?: OckleErrorOptions) {
    super(code, message, options);
    this.device = device;
  }
}
export class DeviceUnreachableError extends DeviceError {
  constructor(device: string, message: string, options?: OckleErrorOptions) {
    super('OCKLE_DEVICE_UNREACHABLE', device, message, options);
  }
}
export class DeviceReplyError extends DeviceError {
  constructor(device: string, message: string, options?: OckleErrorOptions) {
    super('OCKLE_DEVICE_REPLY', device, message, options);
  }
}
export class DeviceRefusedError extends DeviceError {
  constructor(device: string, message: string, options?: OckleErrorOptions) {
    super('OCKLE_DEVICE_REFUSED', device, message, options);
  }
}
export class OperationTimeoutError extends DeviceError {
  constructor(device: string, message: string, options?: OckleErrorOptions) {
    super('OCKLE_DEVICE_TIMEOUT', device, message, options);
  }
}
/**
 * An SNMP request the agent answered with an error status, or did not answer. Carries what an
 * operator needs to act: the device, the outlet (when one), the OID and the agent's status name.
 */
export class SnmpError extends DeviceError {
  readonly oid: string | undefined;
  readonly outlet: number | undefined;
  /** The RFC 3416 error-status name (`notWritable`, `noAccess`…), or `timeout`. */
  readonly snmpStatus: string;
  constructor(code: ErrorCode, device: string, message: string, o: { oid?: string; outlet?: number; snmpStatus: string } & OckleErrorOptions) {
    const { oid, outlet, snmpStatus, ...options } = o;
    super(code, device, message, options);
    this.oid = oid;
    this.outlet = outlet;
    this.snmpStatus = snmpStatus;
  }
}
export class UnknownOutletError extends DeviceError {
  constructor(device: string, outlet: number, count: number) {
    super('OCKLE_DEVICE_UNKNOWN_OUTLET', device, `device "${device}" has no outlet ${outlet} (it has 1–${count})`);
  }
}
/** A control's shutdown request failed; `detail` carries exit code or protocol error. */
export class ControlError extends OckleError {
  constructor(message: string, options?: OckleErrorOptions) {
    super('OCKLE_CONTROL_FAILED', message, options);
  }
}
/** A device error met while a control asked for a shutdown, as a control failure (aborts stay aborts). */
export function asControlError(err: unknown): OckleError {
  const e = toOckleError(err);
  if (e.code === 'OCKLE_OPERATION_ABORTED' || e.code === 'OCKLE_CONTROL_FAILED') return e;
  return new ControlError(e.message, { ...(e.hint && { hint: e.hint }), cause: err });
}
export class ControlTimeoutError extends OckleError {
  constructor(message: string, options?: OckleErrorOptions) {
    super('OCKLE_CONTROL_TIMEOUT', message, options);
  }
}
export class OperationAbortedError extends OckleError {
  constructor(message = 'operation aborted', options?: OckleErrorOptions) {
    super('OCKLE_OPERATION_ABORTED', message, options);
  }
}
export class ActionBusyError extends OckleError {
  readonly actionId: string;
  constructor(server: string, actionId: string) {
    super('OCKLE_ACTION_BUSY', `server "${server}" is busy with action ${actionId}`, {
      hint: `Wait for ${actionId} to finish or cancel it (ockle cancel ${actionId}), then retry.`,
    });
    this.actionId = actionId;
  }
}
/** A server whose outlets cannot all be read is not switched: a guess is never a reason to write. */
export class ServerBlockedError extends OckleError {
  readonly server: string;
  constructor(server: string, why: string) {
    super('OCKLE_SERVER_BLOCKED', `blocked: ${why}`, {
      hint: 'Nothing was switched. Bring the device back (`ockle devices`), then run the action again.',
    });
    this.server = server;
  }
}
export class RequestValidationError extends OckleError {
  constructor(message: string, options?: OckleErrorOptions) {
    super('OCKLE_REQUEST_INVALID', message, options);
  }
}

/** Wraps anything thrown into an OckleError (unknown errors become OCKLE_INTERNAL_ERROR). */
export function toOckleError(err: unknown): OckleError {
  if (err instanceof OckleError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new OckleError('OCKLE_INTERNAL_ERROR', message, { cause: err });
}
