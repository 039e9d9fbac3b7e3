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
  /**
   * A status request some boards of the family answer and others ignore (the 4-channel LCUS
   * answers `FF`; LCUS-1 boards do not): read-back is real only where the board answers it.
   */
  readonly statusQuery?: ReadAll;
}

export class BadFrameError extends Error {}

/**
 * LCUS-1/2/4/8 (CH340 USB chip): `A0 channel state checksum`, checksum = sum of the first three
 * bytes mod 256. The boards do not answer a switch; most cannot report their relays (read-back
 * assumed), but the 4-channel LCUS answers the one byte `FF` with a line per relay (below).
 */
export const lcus: SerialCodec = {
  name: 'lcus',
  title: 'LCUS / CH340 USB relay boards (A0 ch state sum; FF status on LCUS-4)',
  readBack: 'assumed',
  maxChannels: 8,
  write: (ch, on) => {
    const state = on ? 1 : 0;
    return Buffer.from([0xa0, ch, state, (0xa0 + ch + state) & 0xff]);
  },
  statusQuery: {
    request: () => Buffer.from([0xff]),
    parse: (buf, channels) => parseLcusStatus(buf.toString('latin1'), channels),
  },
};

/** One relay line of an LCUS status reply, after any white space: `CH1: ON`, `CH2:OFF`. */
const LCUS_LINE = /[\s\0]*CH(\d{1,2})[ \t]*:[ \t]*(ON|OFF)/iy;
/** What may end a reply still arriving: the first part of a relay line. */
const LCUS_PARTIAL = /^[\s\0]*(?:C(?:H(?:\d{1,2}(?:[ \t]*(?::(?:[ \t]*(?:O(?:F)?)?)?)?)?)?)?)?$/i;

/**
 * The 4-channel LCUS's answer to `FF`: one `CHn: ON` or `CHn: OFF` per relay, usually ended by
 * CR LF. Firmwares differ in spacing (`CH1:OFF \r\n`, `CH1: OFF\r\n`, no separator at all), so
 * any white space is accepted between lines and around the colon. The reply is whole once
 * relays 1…channels have been named (a board with more relays names them too; they are
 * ignored); anything that is not a relay line, or the start of one, is a malformed reply.
 */
export function parseLcusStatus(text: string, channels: number): boolean[] | null {
  const seen = new Map<number, boolean>();
  LCUS_LINE.lastIndex = 0;
  let end = 0;
  for (let m = LCUS_LINE.exec(text); m; m = LCUS_LINE.exec(text)) {
    seen.set(Number(m[1]), m[2]!.toUpperCase() === 'ON');
    end = LCUS_LINE.lastIndex;
  }
  const states = Array.from({ length: channels }, (_, i) => seen.get(i + 1));
  if (states.every((s) => s !== undefined)) return states as boolean[];
  if (!LCUS_PARTIAL.test(text.slice(end))) throw new BadFrameError(`unexpected status reply ${JSON.stringify(text)}`);
  return null;
}

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
