/**
 * A client of powermand's line protocol (TCP, default port 10101), as powerman's own
 * `src/powerman/client_proto.h` defines it: on connect the daemon sends `001 VERSION` and the
 * prompt `powerman> `; each command gets lines of `3xx` information and ends with one `1xx`
 * (success) or `2xx` (failure) line, then the prompt again. Lines end in CRLF.
 *
 * powermand runs one command per client at a time (a second one gets `208 Command in progress`),
 * so this client sends one command, waits for its end line, and only then sends the next. A
 * command whose answer did not come (abort, timeout, connection lost) leaves the connection in
 * an unknown place in the conversation: it is dropped, and the next command opens a new one.
 */
import { connect, type Socket } from 'node:net';
import { DeviceReplyError, DeviceUnreachableError, OperationAbortedError, OperationTimeoutError } from '../../src/errors.js';

const PROMPT = 'powerman> ';

/** The answer to one command: the `3xx` lines (code and text) and the end line. */
export interface PmReply {
  readonly code: number;
  readonly text: string;
  readonly info: readonly { readonly code: number; readonly text: string }[];
}

export class PowermanClient {
  readonly #id: string;
  readonly #host: string;
  readonly #port: number;
  readonly #timeoutMs: number;
  #sock: Socket | null = null;
  #buf = '';
  /** Called when a complete line arrives (one waiter at a time: commands are serialised). */
  #onLine: ((line: string) => void) | null = null;
  #onGone: ((err: Error) => void) | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  /** The daemon's version from its greeting. */
  version = '';
  /** Commands sent since the client was made (for tests counting round trips). */
  commands = 0;

  constructor(id: string, host: string, port: number, timeoutMs: number) {
    this.#id = id;
    this.#host = host;
    this.#port = port;
    this.#timeoutMs = timeoutMs;
  }

  get #where(): string {
    return `${this.#id}: powermand at ${this.#host}:${this.#port}`;
  }

  /** Runs `command` after the previous one finished; the answer's end line decides nothing here. */
  request(command: string, signal: AbortSignal): Promise<PmReply> {
    const run = this.#chain.then(() => this.#request(command, signal));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #request(command: string, signal: AbortSignal): Promise<PmReply> {
    if (signal.aborted) throw new OperationAbortedError();
    if (!this.#sock) await this.#connect(signal);
    this.commands++;
    this.#sock!.write(`${command}\r\n`);
    const info: { code: number; text: string }[] = [];
    return this.#await(signal, command, (line, done) => {
      const m = /^(\d{3}) ?(.*)$/.exec(line);
      if (!m) return;
      const code = Number(m[1]);
      if (code >= 300 && code < 400) info.push({ code, text: m[2]! });
      else if (code >= 100 && code < 300) done({ code, text: m[2]!, info });
    });
  }

  /** Opens the connection and reads the greeting (`001 VERSION`), sending nothing. */
  async #connect(signal: AbortSignal): Promise<void> {
    const sock = connect({ host: this.#host, port: this.#port });
    sock.setNoDelay(true);
    sock.setEncoding('utf8');
    this.#sock = sock;
    this.#buf = '';
    sock.on('data', (chunk: string) => {
      this.#buf += chunk;
      // The prompt has no line end: drop it wherever a line would start.
      for (;;) {
        if (this.#buf.startsWith(PROMPT)) this.#buf = this.#buf.slice(PROMPT.length);
        const i = this.#buf.indexOf('\r\n');
        if (i < 0) break;
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 2);
        this.#onLine?.(line);
      }
    });
    // Only the current connection's end matters: a dropped one closes later, under a new request.
    const gone = (err: Error): void => {
      if (this.#sock !== sock) return;
      this.#sock = null;
      this.#onGone?.(err);
    };
    sock.on('error', gone);
    sock.on('close', () => gone(Object.assign(new Error('connection closed by powermand'), { code: 'ECONNRESET' })));
    await this.#await(signal, 'connect', (line, done) => {
      const m = /^001 (.*)$/.exec(line);
      if (m) {
        this.version = m[1]!.trim();
        done({ code: 1, text: line, info: [] });
      }
    });
    // A new session lists nodes as host ranges (`t[0-15]`); expansion gives one line per node.
    // `exprange` toggles, so the answer says which way it went.
    for (let i = 0; i < 2; i++) {
      this.#sock?.write('exprange\r\n');
      const r = await this.#await(signal, 'exprange', (line, done) => {
        const m = /^(\d{3}) (.*)$/.exec(line);
        if (m && Number(m[1]) < 300) done({ code: Number(m[1]), text: m[2]!, info: [] });
      });
      if (r.code === 105 && /\bON\b/.test(r.text)) return;
    }
    this.#drop();
    throw new DeviceReplyError(this.#id, `${this.#where}: host-range expansion did not turn on`, { hint: 'This powermand is older than the protocol ockle speaks (powerman 2.3 or later).' });
  }

  /** Waits for the lines of one answer; any failure on the way drops the connection. */
  #await(signal: AbortSignal, what: string, onLine: (line: string, done: (r: PmReply) => void) => void): Promise<PmReply> {
    return new Promise<PmReply>((resolve, reject) => {
      const finish = (err: Error | null, r?: PmReply): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#onLine = null;
        this.#onGone = null;
        if (err) {
          this.#drop();
          reject(err);
        } else resolve(r!);
      };
      const onAbort = (): void => finish(new OperationAbortedError());
      const timer = setTimeout(
        () =>
          finish(
            new OperationTimeoutError(this.#id, `${this.#where}: no answer to "${what}" within ${this.#timeoutMs} ms`, {
              hint: 'powermand waits for the power controller behind it; raise request_timeout above the device script’s time (a cycle’s delay included).',
            }),
          ),
        this.#timeoutMs,
      );
      signal.addEventListener('abort', onAbort, { once: true });
      this.#onGone = (e: Error) => finish(this.#transportError(e as NodeJS.ErrnoException));
      this.#onLine = (line) => onLine(line, (r) => finish(null, r));
    });
  }

  #transportError(e: NodeJS.ErrnoException): Error {
    // Any other socket error on a connection (EPIPE when powermand went away mid-write, ECONNABORTED…) ends it too.
    const why = e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ECONNRESET' ? 'connection closed' : e.code ? `connection closed (${e.code})` : e.message;
    return new DeviceUnreachableError(this.#id, `${this.#where}: ${why}`, {
      hint: 'Check that powermand runs and listens there (its `listen` line in powerman.conf; the default is 127.0.0.1:10101).',
    });
  }

  #drop(): void {
    const s = this.#sock;
    this.#sock = null;
    s?.destroy();
  }

  /** Says goodbye (`quit`) when connected, then closes. Never throws. */
  async close(): Promise<void> {
    if (!this.#sock) return;
    await this.request('quit', AbortSignal.timeout(Math.min(this.#timeoutMs, 2000))).catch(() => undefined);
    this.#drop();
  }

  /** A failed end line (2xx) as an error naming the command; the informational lines say why. */
  failure(command: string, r: PmReply): DeviceReplyError {
    const detail = r.info.map((i) => i.text).filter(Boolean).join('; ');
    return new DeviceReplyError(this.#id, `${this.#where}: "${command}" answered ${r.code} ${r.text}${detail ? ` (${detail})` : ''}`, {
      hint: 'powermand could not complete it on the power controller; `pm -d` shows that device’s state.',
    });
  }
}
