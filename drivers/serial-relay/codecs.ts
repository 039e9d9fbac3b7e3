/**
 * Serial relay board protocols as data-driven codecs: the bytes that switch a relay, the reply
 * a board sends to it (if any), and how all relays are read in one request (if the board can).
 */

export interface ReadAll {
  readonly request: (channels: number) => Buffer;
  /** The states, once `buf` holds a whole reply; null while more bytes are needed; throws on a malformed reply. */
  readonly parse: (buf: Buffer, channels: number) => boolean[] | null;
}

export interface SerialCodec {
  readonly name: string;
  readonly title: string;
  readonly readBack: 'real' | 'assumed';
  readonly maxChannels: number;
  readonly write: (channel: number, energise: boolean) => Buffer;
  /** Bytes of the board's reply to a write: true once complete; throws on a malformed reply. */
  readonly writeReply?: (buf: Buffer, channel: number, energise: boolean) => boolean;
  readonly readAll?: ReadAll;
}

export class BadFrameError extends Error {}

/**
 * LCUS-1/2/4/8 (CH340 USB chip): `A0 channel state checksum`, checksum = sum of the first three
 * bytes mod 256. The boards do not answer and cannot report their relays: read-back is assumed.
 */
export const lcus: SerialCodec = {
  name: 'lcus',
  title: 'LCUS / CH340 USB relay boards (A0 ch state sum)',
  readBack: 'assumed',
  maxChannels: 8,
  write: (ch, on) => {
    const state = on ? 1 : 0;
    return Buffer.from([0xa0, ch, state, (0xa0 + ch + state) & 0xff]);
  },
};

/** Numato relay index: 0–9, then A–V (relay n is index n-1). */
const numatoIndex = (ch: number): string => (ch - 1 < 10 ? String(ch - 1) : String.fromCharCode(55 + ch - 1));

/**
 * Numato Lab USB relay modules (ASCII over a CDC port): `relay on N\r`, `relay off N\r`,
 * `relay readall\r`. The module echoes each command and ends its reply with `\n\r>`; readall
 * answers a hex bit mask, relay 0 in the lowest bit.
 */
export const numato: SerialCodec = {
  name: 'numato',
  title: 'Numato Lab USB relay modules (ASCII: relay on N, relay readall)',
  readBack: 'real',
  maxChannels: 32,
  write: (ch, on) => Buffer.from(`relay ${on ? 'on' : 'off'} ${numatoIndex(ch)}\r`, 'ascii'),
  writeReply: (buf, ch, on) => {
    const text = buf.toString('latin1');
    if (!text.includes('>')) return false;
    if (!text.startsWith(`relay ${on ? 'on' : 'off'} ${numatoIndex(ch)}`)) throw new BadFrameError(`unexpected reply ${JSON.stringify(text)}`);
    return true;
  },
  readAll: {
    request: () => Buffer.from('relay readall\r', 'ascii'),
    parse: (buf, channels) => {
      const text = buf.toString('latin1');
      if (!text.includes('>')) return null;
      const m = /^relay readall\n\r([0-9A-Fa-f]+)\n\r>$/.exec(text);
      if (!m) throw new BadFrameError(`unexpected reply ${JSON.stringify(text)}`);
      const mask = BigInt(`0x${m[1]}`);
      return Array.from({ length: channels }, (_, i) => ((mask >> BigInt(i)) & 1n) === 1n);
    },
  },
};

/**
 * KMTronic USB/RS-485 relay boards: `FF ch state` switches (no reply); `FF 09 00` asks for the
 * state of all relays, answered with one byte per relay (0 off, 1 on).
 */
export const kmtronic: SerialCodec = {
  name: 'kmtronic',
  title: 'KMTronic USB relay boards (FF ch state; FF 09 00 status)',
  readBack: 'real',
  maxChannels: 8,
  write: (ch, on) => Buffer.from([0xff, ch, on ? 1 : 0]),
  readAll: {
    request: () => Buffer.from([0xff, 0x09, 0x00]),
    parse: (buf, channels) => {
      if (buf.length < channels) return null;
      if (buf.length > channels || buf.some((b) => b > 1)) throw new BadFrameError(`unexpected status bytes ${buf.toString('hex')}`);
      return [...buf].map((b) => b === 1);
    },
  },
};

export const CODECS: readonly SerialCodec[] = [lcus, numato, kmtronic];
