/**
 * A client of the NUT (Network UPS Tools) network protocol, as upsd speaks it on TCP port
 * 3493: one command per line, one answer per command (`OK …`, `ERR <CODE>`, a single reply line,
 * or a `BEGIN LIST …` … `END LIST …` block). Words are separated by spaces; a word with spaces,
 * quotes or backslashes is quoted, with `\"` and `\\` escapes (NUT's docs/net-protocol.txt,
 * "Command reference"; upsd parses requests with its own parseconf).
 *
 * Hand-written on purpose: the npm NUT clients (node-nut and its forks) are unmaintained,
 * have no abort or timeout per request and log their commands, password included. The part of
 * the protocol ockle needs is a dozen lines of grammar.
 *
 * One request at a time per connection (upsd answers in order and a LIST answer spans many
 * lines), queued. A request whose answer did not come (abort, timeout, connection lost) leaves
 * the conversation in an unknown place: the connection is dropped, and the next request opens
 * a new one and logs in again before it is sent.
 *
 * STARTTLS is left out: upsd needs a certificate set up for it and most installs listen on the
 * LAN or on loopback without it; ockle warns when a password crosses a non-loopback link.
 */
import { connect, isIP, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Secret } from '../../src/config/types.js';
import { DeviceReplyError, DeviceUnreachableError, OperationAbortedError, type OckleErrorOptions } from '../../src/errors.js';

/** upsd answered `ERR <nutCode>` where the answer itself is the trouble (refused, unknown UPS). */
export class NutReplyError extends DeviceReplyError {
  /** The NUT error word: `ACCESS-DENIED`, `UNKNOWN-UPS`, `INVALID-ARGUMENT`… */
  readonly nutCode: string;
  constructor(device: string, nutCode: string, message: string, options?: OckleErrorOptions) {
    super(device, message, options);
    this.nutCode = nutCode;
  }
}

/** upsd answered, but the UPS behind it did not (`DATA-STALE`, `DRIVER-NOT-CONNECTED`). */
export class NutUnavailableError extends DeviceUnreachableError {
  readonly nutCode: string;
  constructor(device: string, nutCode: string, message: string, options?: OckleErrorOptions) {
    super(device, message, options);
    this.nutCode = nutCode;
  }
}

/** The UPS itself does not answer upsd: not a power cut, a silent source. */
const UNAVAILABLE: Readonly<Record<string, string>> = {
  'DATA-STALE': 'upsd is connected to the UPS driver but has no fresh data from the UPS (its cable or the UPS itself stopped answering); check the driver’s log and the link to the UPS.',
  'DRIVER-NOT-CONNECTED': 'upsd has no driver for this UPS running; start it (`upsdrvctl start`, or the nut-driver service) and check ups.conf.',
};

/** What to do about each refusal upsd may send to the commands ockle uses. */
const HINTS: Readonly<Record<string, string>> = {
  'ACCESS-DENIED': 'Check username and password against upsd.users on the NUT server; the user needs `upsmon secondary` (or `upsmon primary` for mode = primary), and upsd must be reloaded after a change.',
  'UNKNOWN-UPS': 'The UPS name is not in upsd’s ups.conf: `upsc -l HOST` lists the names upsd serves; set ups = one of them.',
  'INVALID-USERNAME': 'The username is not valid for upsd; use a user name from upsd.users.',
  'INVALID-PASSWORD': 'upsd refused the password as invalid (empty?); set the user’s password from upsd.users.',
  'USERNAME-REQUIRED': 'Set username and password (a user with `upsmon secondary` in upsd.users).',
  'PASSWORD-REQUIRED': 'Set password for the user.',
  'ALREADY-LOGGED-IN': 'The connection was already logged in to a UPS; this is a bug in ockle, please report it.',
  'FEATURE-NOT-CONFIGURED': 'upsd lacks the configuration for this feature.',
};

/** One request: the words sent (never logged, never shown) and how it is named in messages. */
export interface NutCommand {
  readonly words: readonly (string | Secret)[];
  /** How messages name it: `LIST VAR ups-1`; for PASSWORD the verb alone. */
  readonly label: string;
  /** A LIST command: the answer is the lines between `BEGIN LIST <list>` and `END LIST <list>`. */
  readonly list?: string;
  /** Take any single line as the answer (LOGOUT: `OK Goodbye`, or `Goodbye...` before NUT 2.6). Otherwise it must start with OK. */
  readonly anyAnswer?: boolean;
}

export interface NutClientOptions {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** The UPS name on upsd (`[name]` in its ups.conf). */
  readonly ups: string;
  readonly username?: string | undefined;
  readonly password?: Secret | undefined;
  /** Also ask for primary rights (`PRIMARY`, or `MASTER` before NUT 2.8.0) after LOGIN. */
  readonly primary: boolean;
  /** Time limit of one request (and of connecting). */
  readonly timeoutMs: number;
  readonly log: Logger;
}

/** Encodes one word for upsd: quoted with escapes when it holds spaces, quotes or backslashes. */
export function quoteWord(w: string): string {
  if (/[\r\n\0]/.test(w)) throw new RangeError('a NUT protocol word cannot hold a line break or NUL');
  if (w !== '' && !/[\s"\\]/.test(w)) return w;
  return `"${w.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Splits one answer line into words, undoing quotes and backslash escapes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (i >= line.length) break;
    let w = '';
    if (line[i] === '"') {
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length) i++;
        w += line[i++];
      }
      i++; // the closing quote (a missing one ends the word at the line's end)
    } else {
      while (i < line.length && line[i] !== ' ' && line[i] !== '\t') {
        if (line[i] === '\\' && i + 1 < line.length) i++;
        w += line[i++];
      }
    }
    words.push(w);
  }
  return words;
}

/** A NUT network client for one UPS on one upsd: logs in once per connection and keeps it. */
export class NutClient {
  readonly #o: NutClientOptions;
  #sock: Socket | null = null;
  #buf = '';
  #onLine: ((line: string) => void) | null = null;
  #onGone: ((err: Error) => void) | null = null;
  /** The queue: each request runs after the previous one settled; it never rejects. */
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  /** Requests written to upsd since the client was made (login steps included). */
  requests = 0;
  /** Connections opened since the client was made. */
  connections = 0;

  constructor(o: NutClientOptions) {
    this.#o = o;
    if (o.password && !isLoopback(o.host))
      o.log.warn({ device: o.id, host: o.host }, 'the NUT password crosses the network in the clear (upsd STARTTLS is not used by ockle); keep upsd on a trusted link');
  }

  get where(): string {
    return `${this.#o.id}: upsd at ${this.#o.host}:${this.#o.port} (UPS "${this.#o.ups}")`;
  }

  /** Whether a connection is open now (logged in, once the request that opened it got past LOGIN). */
  get connected(): boolean {
    return this.#sock !== null;
  }

  /**
   * Runs one command after the previous one finished, connecting and logging in first when
   * the connection is not open. Returns the answer's words (a LIST: the words of each line
   * between BEGIN and END).
   * @throws NutReplyError (ERR answers), NutUnavailableError, DeviceUnreachableError, OperationAbortedError
   */
  request(cmd: NutCommand, signal: AbortSignal): Promise<string[][]> {
    return new Promise<string[][]>((resolve, reject) => {
      const aborted = (): OperationAbortedError => new OperationAbortedError(`${this.where}: ${cmd.label} aborted before it was sent`);
      if (signal.aborted) return reject(aborted());
      // Aborted while it waits its turn: rejected at once, and skipped when its turn comes.
      const onAbort = (): void => reject(aborted());
      signal.addEventListener('abort', onAbort, { once: true });
      this.#chain = this.#chain.then(async () => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return;
        try {
          if (this.#closed) throw new OperationAbortedError(`${this.where}: the client is closed`);
          if (!this.#sock) await this.#session(signal);
          resolve(await this.#send(cmd, signal));
        } catch (e) {
          reject(e as Error);
        }
      });
    });
  }

  /** Connects, then USERNAME, PASSWORD, LOGIN (and PRIMARY) when a username is set. */
  async #session(signal: AbortSignal): Promise<void> {
    await this.#connect(signal);
    const { ups, username, password, primary } = this.#o;
    try {
      if (username !== undefined) {
        await this.#send({ words: ['USERNAME', username], label: 'USERNAME' }, signal);
        if (password) await this.#send({ words: ['PASSWORD', password], label: 'PASSWORD' }, signal);
        // LOGIN counts ockle among the UPS's monitors (NUMLOGINS): upsmon primary waits for it to log out.
        await this.#send({ words: ['LOGIN', ups], label: `LOGIN ${ups}` }, signal);
        if (primary) {
          try {
            await this.#send({ words: ['PRIMARY', ups], label: `PRIMARY ${ups}` }, signal);
          } catch (e) {
            // NUT before 2.8.0 knows the same check as MASTER only (net-protocol.txt, revision table).
            if (!(e instanceof NutReplyError && e.nutCode === 'UNKNOWN-COMMAND')) throw e;
            await this.#send({ words: ['MASTER', ups], label: `MASTER ${ups}` }, signal);
          }
        }
      }
    } catch (e) {
      this.#drop();
      throw e;
    }
    this.#o.log.debug({ device: this.#o.id, ups, user: username, primary }, 'connected to upsd');
  }

  #connect(signal: AbortSignal): Promise<void> {
    const sock = connect({ host: this.#o.host, port: this.#o.port });
    sock.setNoDelay(true);
    sock.setEncoding('utf8');
    this.#sock = sock;
    this.#buf = '';
    this.connections++;
    // A dropped socket's late events (its data, its close) must not reach the next connection's waiter.
    sock.on('data', (chunk: string) => {
      if (this.#sock !== sock) return;
      this.#buf += chunk;
      for (let i = this.#buf.indexOf('\n'); i >= 0; i = this.#buf.indexOf('\n')) {
        const line = this.#buf.slice(0, i).replace(/\r$/, '');
        this.#buf = this.#buf.slice(i + 1);
        this.#onLine?.(line);
      }
    });
    const gone = (err: Error): void => {
      if (this.#sock !== sock) return;
      this.#sock = null;
      this.#onGone?.(err);
    };
    sock.on('error', gone);
    sock.on('close', () => gone(Object.assign(new Error('connection closed by upsd'), { code: 'ECONNRESET' })));
    return this.#await(signal, 'connect', (done) => {
      sock.once('connect', () => done([]));
      return () => undefined;
    }).then(() => undefined);
  }

  /** Writes one command and collects its answer. */
  #send(cmd: NutCommand, signal: AbortSignal): Promise<string[][]> {
    const line = cmd.words.map((w) => quoteWord(typeof w === 'string' ? w : w.reveal())).join(' ');
    return this.#await(signal, cmd.label, (done, fail) => {
      const sock = this.#sock;
      if (!sock) {
        fail(this.#transportError(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }), cmd.label));
        return () => undefined;
      }
      const rows: string[][] = [];
      let inList = false;
      // What came back is quoted in the error, unless the command carried a secret (a peer that is
      // not upsd may echo the line it got).
      const carriesSecret = cmd.words.some((w) => typeof w !== 'string');
      const unexpected = (l: string): DeviceReplyError =>
        new DeviceReplyError(this.#o.id, `${this.where}: unexpected answer to ${cmd.label}${carriesSecret ? '' : `: ${JSON.stringify(l.slice(0, 80))}`}`, {
          hint: 'Is this port a NUT upsd (3493)?',
        });
      this.#onLine = (l) => {
        const words = splitWords(l);
        if (!inList && words[0] === 'ERR') return fail(this.#errorFor(words[1] ?? 'UNKNOWN', cmd.label));
        if (cmd.list === undefined) {
          if (words[0] === 'OK' || cmd.anyAnswer) return done([words]);
          return fail(unexpected(l));
        }
        const tail = words.slice(2).join(' ');
        if (!inList && words[0] === 'BEGIN' && words[1] === 'LIST' && tail === cmd.list) inList = true;
        else if (inList && words[0] === 'END' && words[1] === 'LIST' && tail === cmd.list) done(rows);
        else if (inList) rows.push(words);
        else fail(unexpected(l));
      };
      this.requests++;
      sock.write(`${line}\n`);
      return () => (this.#onLine = null);
    });
  }

  /** Waits for one answer (or for the connection); any failure on the way drops the connection. */
  #await(signal: AbortSignal, what: string, start: (done: (rows: string[][]) => void, fail: (e: Error) => void) => () => void): Promise<string[][]> {
    return new Promise<string[][]>((resolve, reject) => {
      let stop: () => void = () => undefined;
      let settled = false;
      const finish = (err: Error | null, rows?: string[][]): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        stop();
        this.#onGone = null;
        if (err === null) return resolve(rows!);
        // A refusal leaves the conversation in step; anything else may not.
        if (!(err instanceof NutReplyError || err instanceof NutUnavailableError)) this.#drop();
        reject(err);
      };
      const onAbort = (): void => finish(new OperationAbortedError(`${this.where}: ${what} aborted`));
      const timer = setTimeout(
        () =>
          finish(
            new DeviceUnreachableError(this.#o.id, `${this.where}: no answer to ${what} within ${this.#o.timeoutMs} ms`, {
              hint: 'upsd is hung or overloaded, or a firewall drops the packets; raise request_timeout if upsd is only slow.',
            }),
          ),
        this.#o.timeoutMs,
      );
      signal.addEventListener('abort', onAbort, { once: true });
      this.#onGone = (e) => finish(this.#transportError(e as NodeJS.ErrnoException, what));
      stop = start(
        (rows) => finish(null, rows),
        (e) => finish(e),
      );
    });
  }

  #errorFor(code: string, label: string): Error {
    const msg = `${this.where}: upsd refused ${label}: ERR ${code}`;
    const unavailable = UNAVAILABLE[code];
    if (unavailable !== undefined) return new NutUnavailableError(this.#o.id, code, msg, { hint: unavailable });
    return new NutReplyError(this.#o.id, code, msg, { hint: HINTS[code] ?? 'See the NUT error list in upsd’s net-protocol documentation; upsd’s log says more.' });
  }

  #transportError(e: NodeJS.ErrnoException, what: string): DeviceUnreachableError {
    const why = e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ECONNRESET' ? 'connection closed' : (e.code ?? e.message);
    return new DeviceUnreachableError(this.#o.id, `${this.where}: ${why} (during ${what})`, {
      hint: 'Check that upsd runs and listens there (LISTEN in upsd.conf; upsd listens on localhost only by default) and that no firewall blocks the port.',
    });
  }

  #drop(): void {
    const s = this.#sock;
    this.#sock = null;
    s?.destroy();
  }

  /**
   * Logs out (`LOGOUT`, so an upsmon primary waiting for its secondaries can go on) and closes.
   * Idempotent; never throws; later requests are refused.
   */
  async close(): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      if (this.#closed) return;
      this.#closed = true;
      if (!this.#sock) return;
      await this.#send({ words: ['LOGOUT'], label: 'LOGOUT', anyAnswer: true }, AbortSignal.timeout(Math.min(this.#o.timeoutMs, 2000))).catch(() => undefined);
      this.#drop();
    });
    await this.#chain;
  }
}

/** 127.0.0.0/8, ::1 and localhost: where a clear-text password stays on the machine. */
function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
