/**
 * `serial-relay`: USB and RS-485 relay boards on a serial port (package `serialport`), one
 * protocol per codec. One operation at a time per port; every reply is parsed against a
 * timeout; when a USB board is unplugged the port closes, its outlets read unknown, and the
 * port is reopened on the next operation once the board is back.
 */
import { SerialPort } from 'serialport';
import { duration, int, select, str, type Infer } from '../../src/config/types.js';
import { DeviceReplyError, DeviceUnreachableError, OperationAbortedError } from '../../src/errors.js';
import { defineDriver, type DeviceInfo } from '../types.js';
import { relayCommonTemplate, RelayOutlets, type RelayBoard } from '../relay/outlets.js';
import { BadFrameError, CODECS, type SerialCodec } from './codecs.js';

export const serialTemplate = {
  ...relayCommonTemplate,
  path: str({ required: true, restart: true, help: 'Serial device; prefer the stable /dev/serial/by-id/… path over /dev/ttyUSB0.' }),
  protocol: select({ choices: CODECS.map((c) => c.name) as [string, ...string[]], required: true, help: 'Board protocol: lcus, numato or kmtronic (see docs/relays.md).' }),
  baud: int({ min: 300, max: 921_600, default: 9600, help: 'Baud rate (LCUS and KMTronic: 9600; Numato: any, it is a CDC port).' }),
  request_timeout: duration({ min: 20, max: 30_000, default: 500, help: 'How long one reply may take.' }),
};
type Spec = Infer<typeof serialTemplate>;

export class SerialRelayBoard implements RelayBoard {
  readonly readBack: 'real' | 'assumed';
  readonly #codec: SerialCodec;
  readonly #s: Spec;
  #port: SerialPort | null = null;
  #rx = Buffer.alloc(0);
  #onData: (() => void) | null = null;

  constructor(
    readonly id: string,
    spec: Spec,
  ) {
    this.#s = spec;
    this.#codec = CODECS.find((c) => c.name === spec.protocol)!;
    this.readBack = this.#codec.readBack;
    if (this.#codec.readAll) this.read = (channels, signal) => this.#read(channels, signal);
  }

  read?: RelayBoard['read'];

  async #ensure(signal: AbortSignal): Promise<SerialPort> {
    if (this.#port?.isOpen) return this.#port;
    if (signal.aborted) throw new OperationAbortedError();
    const port = new SerialPort({ path: this.#s.path, baudRate: this.#s.baud, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve()))).catch((err: unknown) => {
      throw new DeviceUnreachableError(this.id, `${this.id}: cannot open ${this.#s.path}: ${(err as Error).message}`, {
        hint: 'Is the board plugged in? Use its /dev/serial/by-id/… path (stable across replugs), and check the daemon user is in the dialout group.',
      });
    });
    port.on('data', (chunk: Buffer) => {
      this.#rx = Buffer.concat([this.#rx, chunk]);
      this.#onData?.();
    });
    // Unplugged: the port closes; the next operation reopens it.
    port.on('close', () => {
      if (this.#port === port) this.#port = null;
    });
    port.on('error', () => {});
    this.#port = port;
    return port;
  }

  /** Sends `bytes`, then (if `done` is given) waits until the reply is complete. */
  async #transact<T>(what: string, bytes: Buffer, done: ((buf: Buffer) => T | null) | null, signal: AbortSignal): Promise<T | null> {
    if (signal.aborted) throw new OperationAbortedError();
    const port = await this.#ensure(signal);
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
        if (this.#port === port) this.#port = null;
        port.destroy();
        throw new DeviceUnreachableError(this.id, `${this.id}: ${what}: write to ${this.#s.path} failed: ${(err as Error).message}`, { hint: 'Is the board still plugged in?' });
      })
      .finally(() => clearTimeout(writeTimer));
    if (!done) return null;
    return new Promise<T>((resolve, reject) => {
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
          finish(() => reject(new DeviceReplyError(this.id, `${this.id}: ${what}: ${msg}`, { hint: `Is protocol = ${this.#s.protocol} right for this board, and the baud rate?` })));
        }
      };
      const timer = setTimeout(
        () =>
          finish(() => {
            // No answer: the device node may be stale (a board replugged before the kernel told
            // us); reopen it on the next operation rather than talk into a dead descriptor.
            if (this.#port === port) this.#port = null;
            port.destroy();
            reject(
              new DeviceUnreachableError(this.id, `${this.id}: ${what}: no complete reply within ${this.#s.request_timeout} ms${this.#rx.length ? ` (got ${this.#rx.toString('hex')})` : ''}`, {
                hint: 'Check protocol and baud, and that the board is powered (USB boards often need their own supply for the relays).',
              }),
            );
          }),
        this.#s.request_timeout,
      );
      const onAbort = (): void => finish(() => reject(new OperationAbortedError()));
      const onClose = (): void => finish(() => reject(new DeviceUnreachableError(this.id, `${this.id}: ${what}: ${this.#s.path} closed (unplugged?)`, { hint: 'Plug the board back in; ockle reopens the port by itself.' })));
      signal.addEventListener('abort', onAbort, { once: true });
      port.once('close', onClose);
      this.#onData = check;
      check();
    });
  }

  async open(signal: AbortSignal): Promise<void> {
    await this.#ensure(signal);
  }

  async #read(channels: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, boolean>> {
    const r = this.#codec.readAll!;
    const count = this.#s.outlets;
    const states = await this.#transact('read all relays', r.request(count), (buf) => r.parse(buf, count), signal);
    return new Map(channels.map((n) => [n, states![n - 1]!]));
  }

  async write(channel: number, energise: boolean, signal: AbortSignal): Promise<void> {
    const reply = this.#codec.writeReply;
    await this.#transact(`switch relay ${channel}`, this.#codec.write(channel, energise), reply ? (buf) => (reply(buf, channel, energise) ? true : null) : null, signal);
    // A board that does not answer a switch but can report (KMTronic): the status request goes
    // down the same line after the command, so its answer means the command was taken.
    if (!reply && this.#codec.readAll) await this.#read([channel], signal);
  }

  info(): DeviceInfo {
    return { model: this.#codec.title, details: { protocol: this.#codec.name, path: this.#s.path } };
  }

  async close(): Promise<void> {
    const port = this.#port;
    this.#port = null;
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
  }
}

export const serialRelayDriver = defineDriver({
  kind: 'outlet',
  type: 'serial-relay',
  description: 'USB or RS-485 relay board on a serial port (LCUS/CH340, Numato, KMTronic).',
  template: serialTemplate,
  outletCount: (spec) => spec.outlets,
  check: (spec) => {
    const codec = CODECS.find((c) => c.name === spec.protocol)!;
    return spec.outlets > codec.maxChannels
      ? [{ key: 'outlets', message: `protocol ${codec.name} drives at most ${codec.maxChannels} relays`, hint: `Use outlets = 1–${codec.maxChannels}, or one device file per board.` }]
      : [];
  },
  create: (spec, ctx) => new RelayOutlets(ctx.id, spec, new SerialRelayBoard(ctx.id, spec), ctx),
});
