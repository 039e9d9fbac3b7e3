/**
 * `serial-relay`: USB and RS-485 relay boards on a serial port (package `serialport`), one
 * protocol per codec. One operation at a time per port; every reply is parsed against a
 * timeout. The port is checked before each operation: a board whose device node vanished or
 * was replaced (unplugged, plugged back) loses its port, which is reopened once the board is
 * back; a port that cannot be opened, or that fails an operation, makes the board unreachable.
 */
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { SerialPort } from 'serialport';

/** serialport, loaded when a board's port is first opened (not for a daemon with no serial board, nor for the CLI). */
let SerialPortClass: typeof SerialPort | null = null;
async function serialPortClass(): Promise<typeof SerialPort> {
  SerialPortClass ??= (await import('serialport')).SerialPort;
  return SerialPortClass;
}
import type { Infer } from '../../src/config/types.js';
import { DeviceReplyError, DeviceUnreachableError, OperationAbortedError } from '../../src/errors.js';
import { defineDriver, type DeviceInfo } from '../types.js';
import { RelayOutlets, type RelayBoard } from '../relay/outlets.js';
import { BadFrameError, CODECS, type ReadAll, type SerialCodec } from './codecs.js';
import { serialRelaySketch, serialTemplate } from './definition.js';

export { serialTemplate };

type Spec = Infer<typeof serialTemplate>;

/** The device node behind `path` (links followed), as a name that changes when the node is made anew; null when there is none. */
async function nodeOf(path: string): Promise<string | null> {
  try {
    const st = await stat(path);
    return `${st.dev}:${st.ino}:${st.rdev}:${Math.round(st.ctimeMs)}`;
  } catch {
    return null;
  }
}

export class SerialRelayBoard implements RelayBoard {
  readonly #codec: SerialCodec;
  readonly #s: Spec;
  readonly #log: Logger | undefined;
  /** How all relays are read in one request (the codec's own, or the LCUS status query where enabled); null: never. */
  readonly #reader: ReadAll | null;
  /** status_query = auto on a 4-relay LCUS: each open asks whether the board answers the status query. */
  readonly #probe: boolean;
  /** The board reports its relays (a protocol that always does, or an LCUS that answered the status query: for good). */
  #reports: boolean;
  #port: SerialPort | null = null;
  /** The port the status query was asked on, answered or not (an aborted question is asked again). */
  #asked: SerialPort | null = null;
  /** The device node the open port was opened on (see `nodeOf`). */
  #node: string | null = null;
  #losses = 0;
  #rx = Buffer.alloc(0);
  #onData: (() => void) | null = null;

  constructor(
    readonly id: string,
    spec: Spec,
    log?: Logger,
  ) {
    this.#s = spec;
    this.#log = log;
    this.#codec = CODECS.find((c) => c.name === spec.protocol)!;
    const mode = spec.status_query;
    const status = this.#codec.statusQuery && (mode === 'yes' || (mode === 'auto' && spec.outlets === 4)) ? this.#codec.statusQuery : null;
    this.#reader = this.#codec.readAll ?? status;
    this.#reports = this.#codec.readBack === 'real' || (status !== null && mode === 'yes');
    this.#probe = !this.#reports && status !== null;
    if (this.#reader) this.read = (channels, signal) => this.#read(channels, signal);
  }

  get readBack(): 'real' | 'assumed' {
    return this.#reports ? 'real' : 'assumed';
  }

  /** Transport failures so far: the port vanished or was replaced, a write failed, a reply never came, or the port would not open. */
  get losses(): number {
    return this.#losses;
  }

  read?: RelayBoard['read'];

  /** Forgets a port that failed; the next operation opens the device again. */
  #drop(port: SerialPort): void {
    if (this.#port === port) {
      this.#port = null;
      this.#node = null;
      this.#losses++;
    }
    if (port.isOpen) port.close(() => {});
  }

  async #ensure(signal: AbortSignal): Promise<SerialPort> {
    if (signal.aborted) throw new OperationAbortedError();
    const open = this.#port;
    if (open?.isOpen) {
      // Still the board it was opened on? A board pulled out leaves no node (or the by-id link
      // is gone); one pulled out and put back is a new node, while this port talks to the dead one.
      if ((await nodeOf(this.#s.path)) === this.#node) return this.#probed(open, signal);
      this.#drop(open);
    }
    if (signal.aborted) throw new OperationAbortedError();
    const path = this.#s.path;
    const Port = await serialPortClass();
    if (signal.aborted) throw new OperationAbortedError();
    const port = new Port({ path, baudRate: this.#s.baud, autoOpen: false });
    const node = await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())))
      .then(() => nodeOf(path))
      .catch((err: unknown) => {
        this.#losses++;
        throw new DeviceUnreachableError(this.id, `${this.id}: cannot open ${path}: ${(err as Error).message}`, {
          hint: `Check the USB cable and that ${path} exists (the board may be unplugged); use its /dev/serial/by-id/… path, and check the daemon user is in the dialout group.`,
        });
      });
    if (node === null) {
      this.#losses++;
      if (port.isOpen) port.close(() => {});
      throw new DeviceUnreachableError(this.id, `${this.id}: ${path} vanished as it was opened`, { hint: `Check the USB cable and that ${path} exists.` });
    }
    port.on('data', (chunk: Buffer) => {
      this.#rx = Buffer.concat([this.#rx, chunk]);
      this.#onData?.();
    });
    // Unplugged: the port closes; the next operation reopens it.
    port.on('close', () => {
      if (this.#port !== port) return;
      this.#port = null;
      this.#node = null;
      this.#losses++;
    });
    port.on('error', () => {});
    this.#port = port;
    this.#node = node;
    return this.#probed(port, signal);
  }

  /**
   * status_query = auto: one status query on each port opened, answered or not within
   * request_timeout. A board that answers reports its relays from now on; one that does not
   * keeps assumed states (an LCUS without the query ignores the byte: it is not a switch frame).
   */
  async #probed(port: SerialPort, signal: AbortSignal): Promise<SerialPort> {
    if (!this.#probe || this.#reports || this.#asked === port) return port;
    const q = this.#codec.statusQuery!;
    const count = this.#s.outlets;
    const states = await this.#exchange(port, 'status query', q.request(count), (buf) => q.parse(buf, count), signal, true);
    this.#asked = port;
    if (states) {
      this.#reports = true;
      this.#log?.info({ device: this.id }, 'the board answers the status query: its relays are read from it');
    } else this.#log?.info({ device: this.id }, 'the board does not answer the status query: relay states are assumed (status_query = no skips the question)');
    return port;
  }

  /** Sends `bytes` on the open (or reopened) port, then (if `done` is given) waits until the reply is complete. */
  async #transact<T>(what: string, bytes: Buffer, done: ((buf: Buffer) => T | null) | null, signal: AbortSignal): Promise<T | null> {
    if (signal.aborted) throw new OperationAbortedError();
    return this.#exchange(await this.#ensure(signal), what, bytes, done, signal);
  }

  /**
   * One request on `port`. `quiet`: a reply that does not come, or that is not understood, is
   * null rather than an error, and leaves the port open (a question the board may not know).
   */
  async #exchange<T>(port: SerialPort, what: string, bytes: Buffer, done: ((buf: Buffer) => T | null) | null, signal: AbortSignal, quiet = false): Promise<T | null> {
    if (signal.aborted) throw new OperationAbortedError();
    this.#rx = Buffer.alloc(0); // drop anything stale
    // The write is bounded too: on a port whose far end vanished (a USB board pulled out before
    // the kernel closed the device), drain may never call back.
    let writeTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve, reject) => port.write(bytes, (err) => (err ? reject(err) : port.drain((e) => (e ? reject(e) : resolve()))))),
      new Promise<never>((_, reject) => (writeTimer = setTimeout(() => reject(new Error(`not sent within ${this.#s.request_timeout} ms`)), this.#s.request_timeout))),
    ])
      .catch((err: unknown) => {
        // A port we cannot write to is replaced on the next operation.
        this.#drop(port);
        throw new DeviceUnreachableError(this.id, `${this.id}: ${what}: write to ${this.#s.path} failed: ${(err as Error).message}`, {
          hint: `Is the board still plugged in? Check the USB cable and that ${this.#s.path} exists.`,
        });
      })
      .finally(() => clearTimeout(writeTimer));
    if (!done) return null;
    return new Promise<T | null>((resolve, reject) => {
      const finish = (fn: () => void): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        port.off('close', onClose);
        this.#onData = null;
        fn();
      };
      const check = (): void => {
        try {
          const r = done(this.#rx);
          if (r !== null) finish(() => resolve(r));
        } catch (err) {
          const msg = err instanceof BadFrameError ? err.message : String(err);
          if (quiet) finish(() => resolve(null));
          else finish(() => reject(new DeviceReplyError(this.id, `${this.id}: ${what}: ${msg}`, { hint: `Is protocol = ${this.#s.protocol} right for this board, and the baud rate?` })));
        }
      };
      const timer = setTimeout(
        () =>
          finish(() => {
            if (quiet) return resolve(null);
            // No answer: the device node may be stale (a board replugged before the kernel told
            // us); reopen it on the next operation rather than talk into a dead descriptor.
            this.#drop(port);
            reject(
              new DeviceUnreachableError(this.id, `${this.id}: ${what}: no complete reply within ${this.#s.request_timeout} ms${this.#rx.length ? ` (got ${this.#rx.toString('hex')})` : ''}`, {
                hint: `Check protocol and baud, and that the board is powered (USB boards often need their own supply for the relays)${this.#codec.readAll ? '' : '; a board that never answers the FF status query needs status_query = no'}.`,
              }),
            );
          }),
        this.#s.request_timeout,
      );
      const onAbort = (): void => finish(() => reject(new OperationAbortedError()));
      const onClose = (): void =>
        finish(() => reject(new DeviceUnreachableError(this.id, `${this.id}: ${what}: ${this.#s.path} closed (unplugged?)`, { hint: 'Plug the board back in; ockle reopens the port by itself.' })));
      signal.addEventListener('abort', onAbort, { once: true });
      port.once('close', onClose);
      this.#onData = check;
      check();
    });
  }

  async open(signal: AbortSignal): Promise<void> {
    await this.#ensure(signal);
  }

  /** Proves the port is there (reopening it if it was lost) without sending a byte; names its device node. */
  async attach(signal: AbortSignal): Promise<string> {
    await this.#ensure(signal);
    return this.#node!;
  }

  get connection(): string | null {
    return this.#port?.isOpen ? this.#node : null;
  }

  async #read(channels: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, boolean>> {
    const r = this.#reader!;
    const count = this.#s.outlets;
    const states = await this.#transact(this.#codec.readAll ? 'read all relays' : 'status query', r.request(count), (buf) => r.parse(buf, count), signal);
    return new Map(channels.map((n) => [n, states![n - 1]!]));
  }

  async write(channel: number, energise: boolean, signal: AbortSignal): Promise<void> {
    const reply = this.#codec.writeReply;
    await this.#transact(`switch relay ${channel}`, this.#codec.write(channel, energise), reply ? (buf) => (reply(buf, channel, energise) ? true : null) : null, signal);
    // A board that does not answer a switch but can report (KMTronic): the status request goes
    // down the same line after the command, so its answer means the command was taken. (An
    // LCUS that answers the status query is read back by the core's confirm read instead.)
    if (!reply && this.#codec.readAll) await this.#read([channel], signal);
  }

  info(): DeviceInfo {
    return {
      model: this.#codec.title,
      details: { protocol: this.#codec.name, path: this.#s.path, readBack: this.#reports ? (this.#codec.readAll ? 'read' : 'status query') : 'assumed' },
    };
  }

  async close(): Promise<void> {
    const port = this.#port;
    this.#port = null;
    this.#node = null;
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
  }
}

export const serialRelayDriver = defineDriver({
  ...serialRelaySketch,
  create: (spec, ctx) => new RelayOutlets(ctx.id, spec, new SerialRelayBoard(ctx.id, spec, ctx.log), ctx),
});
