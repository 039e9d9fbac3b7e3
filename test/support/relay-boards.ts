/**
 * Serial relay board emulators for the far end of a pty pair, one per protocol, written from
 * the boards' documented protocols (not from the driver's codecs). Knobs: stop answering,
 * corrupt the next reply, and for LCUS whether the board answers the `FF` status query (the
 * 4-channel LCUS does, one `CHn: ON|OFF` line per relay; LCUS-1 boards ignore the byte).
 */
import { SerialPort } from 'serialport';

export type Protocol = 'lcus' | 'numato' | 'kmtronic';

export class BoardEmulator {
  readonly relays: boolean[];
  /** Every command the board accepted, e.g. `3:on`. */
  readonly accepted: string[] = [];
  /** Frames the board rejected (bad checksum, unknown command). */
  rejected = 0;
  /** Every byte the board received, switch frames, queries and noise alike. */
  received = 0;
  /** LCUS: `FF` status queries received (answered or not). */
  queries = 0;
  silent = false;
  garbleNext = false;
  /** The byte the garbling hits; by default the last but one of the reply. */
  garbleAt: number | null = null;
  /** LCUS: answer the `FF` status query, as the 4-channel LCUS does. */
  statusQuery = false;
  #port: SerialPort | null = null;
  #buf = Buffer.alloc(0);

  constructor(
    readonly protocol: Protocol,
    readonly path: string,
    channels: number,
    initial: boolean[] = [],
  ) {
    this.relays = Array.from({ length: channels }, (_, i) => initial[i] ?? false);
  }

  async start(): Promise<this> {
    const port = new SerialPort({ path: this.path, baudRate: 9600, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    port.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      this.#buf = Buffer.concat([this.#buf, chunk]);
      this.#consume();
    });
    port.on('error', () => {});
    this.#port = port;
    return this;
  }

  async stop(): Promise<void> {
    const p = this.#port;
    this.#port = null;
    if (p?.isOpen) await new Promise<void>((r) => p.close(() => r()));
  }

  #send(bytes: Buffer): void {
    if (this.silent || !this.#port) return;
    if (this.garbleNext) {
      this.garbleNext = false;
      const at = this.garbleAt ?? bytes.length - 2;
      bytes = Buffer.from(bytes.map((b, i) => (i === at ? b ^ 0x5a : b)));
    }
    this.#port.write(bytes);
  }

  #consume(): void {
    for (;;) {
      if (this.protocol === 'lcus') {
        // Bytes are taken in order: FF is the status query, A0 starts a switch frame, anything
        // else is skipped.
        const first = this.#buf[0];
        if (first === undefined) return;
        if (first === 0xff) {
          this.#buf = this.#buf.subarray(1);
          this.queries++;
          if (this.statusQuery) this.#send(Buffer.from(this.relays.map((r, i) => `CH${i + 1}: ${r ? 'ON' : 'OFF'}\r\n`).join(''), 'latin1'));
          continue;
        }
        if (first !== 0xa0) {
          this.#buf = this.#buf.subarray(1);
          continue;
        }
        if (this.#buf.length < 4) return;
        const [, ch, state, sum] = this.#buf.subarray(0, 4);
        this.#buf = this.#buf.subarray(4);
        if (((0xa0 + ch! + state!) & 0xff) !== sum || ch! < 1 || ch! > this.relays.length || state! > 1) {
          this.rejected++;
          continue;
        }
        this.relays[ch! - 1] = state === 1;
        this.accepted.push(`${ch}:${state === 1 ? 'on' : 'off'}`);
      } else if (this.protocol === 'kmtronic') {
        const start = this.#buf.indexOf(0xff);
        if (start < 0 || this.#buf.length - start < 3) return;
        const [, ch, state] = this.#buf.subarray(start, start + 3);
        this.#buf = this.#buf.subarray(start + 3);
        if (ch === 9 && state === 0) this.#send(Buffer.from(this.relays.map((r) => (r ? 1 : 0))));
        else if (ch! >= 1 && ch! <= this.relays.length && state! <= 1) {
          this.relays[ch! - 1] = state === 1;
          this.accepted.push(`${ch}:${state === 1 ? 'on' : 'off'}`);
        } else this.rejected++;
      } else {
        const end = this.#buf.indexOf(0x0d);
        if (end < 0) return;
        const cmd = this.#buf.subarray(0, end).toString('ascii');
        this.#buf = this.#buf.subarray(end + 1);
        const sw = /^relay (on|off) ([0-9A-V])$/.exec(cmd);
        if (sw) {
          const idx = Number.parseInt(sw[2]!, 32);
          if (idx < this.relays.length) {
            this.relays[idx] = sw[1] === 'on';
            this.accepted.push(`${idx + 1}:${sw[1]}`);
          } else this.rejected++;
          this.#send(Buffer.from(`${cmd}\n\r>`, 'ascii'));
        } else if (/^relay read ([0-9A-V])$/.test(cmd)) {
          const idx = Number.parseInt(cmd.slice(11), 32);
          this.#send(Buffer.from(`${cmd}\n\r${this.relays[idx] ? 'on' : 'off'}\n\r>`, 'ascii'));
        } else if (cmd === 'relay readall') {
          let mask = 0n;
          this.relays.forEach((r, i) => (mask |= r ? 1n << BigInt(i) : 0n));
          const digits = Math.max(2, Math.ceil(this.relays.length / 4));
          this.#send(Buffer.from(`${cmd}\n\r${mask.toString(16).toUpperCase().padStart(digits, '0')}\n\r>`, 'ascii'));
        } else {
          this.rejected++;
          this.#send(Buffer.from(`${cmd}\n\r>`, 'ascii'));
        }
      }
    }
  }
}
