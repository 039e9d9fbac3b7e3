/**
 * A small SNMP v1/v2c agent on 127.0.0.1 for tests and benchmarks: a real UDP peer speaking BER
 * (GET, GETNEXT, GETBULK, SET), serving data loaded from snmpsim `.snmprec` files, `snmpwalk -On`
 * output or plain tables, with the device's behaviour wired in through `onSet` (a write to a
 * control column changes the status column, the way the PDU does it) and faults injectable:
 * silence (timeouts), a read-only community, an agent limit on varbinds per request, a restart.
 *
 * Independent of the driver's SNMP library on purpose: the encoder and decoder here are written
 * from RFC 3416 / RFC 1157 with `asn1-ber`, so a bug in one side is not mirrored in the other.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { Ber } from 'asn1-ber';

export const T = {
  Integer: 0x02,
  OctetString: 0x04,
  Null: 0x05,
  Oid: 0x06,
  IpAddress: 0x40,
  Counter32: 0x41,
  Gauge32: 0x42,
  TimeTicks: 0x43,
  Opaque: 0x44,
  Counter64: 0x46,
  NoSuchObject: 0x80,
  NoSuchInstance: 0x81,
  EndOfMibView: 0x82,
} as const;

export const ErrorStatus = {
  noError: 0,
  tooBig: 1,
  noSuchName: 2,
  badValue: 3,
  readOnly: 4,
  genErr: 5,
  noAccess: 6,
  wrongType: 7,
  wrongValue: 10,
  noCreation: 11,
  notWritable: 17,
  authorizationError: 16,
} as const;

export interface Value {
  type: number;
  value: number | bigint | string | Buffer | null;
}

const PDU = { get: 0xa0, getNext: 0xa1, response: 0xa2, set: 0xa3, getBulk: 0xa5 } as const;

/** Numeric OID comparison. */
export function compareOid(a: string, b: string): number {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = Number(x[i]) - Number(y[i]);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

const strip = (oid: string): string => oid.replace(/^\./, '');

/** Parses snmpsim `.snmprec` (`oid|tag|value`; tag `4x` = hex, `2:numeric` = variation: its `initial=`). */
export function parseSnmprec(text: string): Map<string, Value> {
  const out = new Map<string, Value>();
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [oid, rawTag, ...rest] = line.split('|');
    let raw = rest.join('|');
    const [tagPart, variation] = rawTag!.split(':');
    const hex = tagPart!.endsWith('x');
    const type = Number(tagPart!.replace(/x$/, ''));
    if (variation) {
      const m = /(?:^|,)initial=([^,]*)/.exec(raw);
      const min = /(?:^|,)min=([^,]*)/.exec(raw);
      raw = m ? m[1]! : (min?.[1] ?? '0');
    }
    out.set(strip(oid!), decodeText(type, raw, hex));
  }
  return out;
}

function decodeText(type: number, raw: string, hex: boolean): Value {
  switch (type) {
    case T.OctetString:
    case T.Opaque:
      return { type, value: hex ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'latin1') };
    case T.Oid:
      return { type, value: strip(raw) };
    case T.IpAddress:
      return { type, value: hex ? [...Buffer.from(raw, 'hex')].join('.') : raw };
    case T.Null:
      return { type, value: null };
    case T.Counter64:
      return { type, value: BigInt(raw) };
    default:
      return { type, value: Number(raw) };
  }
}

/** Parses `snmpwalk -On` output (`.oid = TYPE: value`). */
export function parseSnmpwalk(text: string): Map<string, Value> {
  const out = new Map<string, Value>();
  for (const line of text.split('\n')) {
    const m = /^(\.?[0-9.]+) = (?:([A-Za-z0-9-]+): )?(.*)$/.exec(line);
    if (!m) continue;
    const oid = strip(m[1]!);
    const kind = m[2];
    const v = m[3]!.trim();
    if (/^No (Such|more)/.test(v)) continue;
    const num = (s: string): number => Number(/\((-?\d+)\)/.exec(s)?.[1] ?? /^-?\d+/.exec(s)?.[0] ?? '0');
    switch (kind) {
      case 'INTEGER':
        out.set(oid, { type: T.Integer, value: num(v) });
        break;
      case 'STRING':
        out.set(oid, { type: T.OctetString, value: Buffer.from(v.replace(/^"(.*)"$/, '$1'), 'utf8') });
        break;
      case 'Hex-STRING':
        out.set(oid, { type: T.OctetString, value: Buffer.from(v.replace(/\s+/g, ''), 'hex') });
        break;
      case 'OID':
        out.set(oid, { type: T.Oid, value: strip(v) });
        break;
      case 'Gauge32':
        out.set(oid, { type: T.Gauge32, value: num(v) });
        break;
      case 'Counter32':
        out.set(oid, { type: T.Counter32, value: num(v) });
        break;
      case 'Counter64':
        out.set(oid, { type: T.Counter64, value: BigInt(/\d+/.exec(v)?.[0] ?? '0') });
        break;
      case 'Timeticks':
        out.set(oid, { type: T.TimeTicks, value: num(v) });
        break;
      case 'IpAddress':
        out.set(oid, { type: T.IpAddress, value: v });
        break;
      case undefined:
        // `= 161500`: an untyped number (TimeTicks printed with -Ot) or `= ""`.
        out.set(oid, /^-?\d+$/.test(v) ? { type: T.TimeTicks, value: Number(v) } : { type: T.OctetString, value: Buffer.from(v.replace(/^"(.*)"$/, '$1')) });
        break;
      default:
        out.set(oid, { type: T.OctetString, value: Buffer.from(v) });
    }
  }
  return out;
}

export function loadRecording(file: string): Map<string, Value> {
  const text = readFileSync(file, 'latin1');
  return file.endsWith('.snmpwalk') ? parseSnmpwalk(text) : parseSnmprec(text);
}

export interface AgentOptions {
  readonly data: Map<string, Value>;
  /** Communities that may read; `write` ones may also set. */
  readonly read?: readonly string[];
  readonly write?: readonly string[];
  /**
   * Called for each SET varbind, after the community check. Return an error status to refuse;
   * otherwise the hook applies the change (the agent stores nothing by itself).
   */
  readonly onSet?: (oid: string, v: Value, agent: TestAgent) => number | undefined;
  /** Agent limit: a request with more varbinds gets tooBig. */
  readonly maxVarbinds?: number;
  /** Agent limit on a GETBULK answer: it is truncated to this many varbinds (RFC 3416 4.2.3). */
  readonly maxBulkVarbinds?: number;
}

export class TestAgent {
  readonly data: Map<string, Value>;
  #sorted: string[] | null = null;
  #parsed: number[][] | null = null;
  #position: Map<string, number> | null = null;
  #socket: Socket | null = null;
  #port = 0;
  /** Requests received (any type), and SET varbinds applied. */
  requests = 0;
  sets: { oid: string; value: Value }[] = [];
  /** Faults: drop every request (timeout), delay replies. */
  silent = false;
  delayMs = 0;
  read: string[];
  write: string[];
  readonly #o: AgentOptions;

  constructor(o: AgentOptions) {
    this.#o = o;
    this.data = o.data;
    this.read = [...(o.read ?? ['public'])];
    this.write = [...(o.write ?? ['private'])];
  }

  get port(): number {
    return this.#port;
  }

  async start(port = 0): Promise<this> {
    const s = createSocket('udp4');
    s.on('message', (msg, rinfo) => {
      this.requests++;
      if (this.silent) return;
      let reply: Buffer | null;
      try {
        reply = this.#handle(msg);
      } catch {
        reply = null; // undecodable: a real agent drops it
      }
      if (!reply) return;
      const send = (): void => {
        if (this.#socket === s) s.send(reply, rinfo.port, rinfo.address);
      };
      if (this.delayMs > 0) setTimeout(send, this.delayMs);
      else send();
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, '127.0.0.1', () => resolve());
    });
    this.#socket = s;
    this.#port = s.address().port;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.#socket;
    this.#socket = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** Stops and starts again on the same port (an agent restarting). */
  async restart(downMs = 0): Promise<void> {
    const port = this.#port;
    await this.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.start(port);
  }

  set(oid: string, v: Value): void {
    if (!this.data.has(oid)) this.#sorted = null;
    this.data.set(oid, v);
  }
  get(oid: string): Value | undefined {
    return this.data.get(oid);
  }
  int(oid: string): number | undefined {
    const v = this.data.get(oid)?.value;
    return typeof v === 'number' ? v : undefined;
  }

  #keys(): string[] {
    if (!this.#sorted) {
      this.#sorted = [...this.data.keys()].sort(compareOid);
      this.#parsed = this.#sorted.map((k) => k.split('.').map(Number));
      this.#position = new Map(this.#sorted.map((k, i) => [k, i]));
    }
    return this.#sorted;
  }

  /** The first OID after `oid`: O(1) for an OID the agent holds (walks), binary search otherwise. */
  #next(oid: string): string | undefined {
    const keys = this.#keys();
    const at = this.#position!.get(oid);
    if (at !== undefined) return keys[at + 1];
    const x = oid.split('.').map(Number);
    const cmp = (y: number[]): number => {
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return y[i]! - x[i]!;
      return y.length - x.length;
    };
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmp(this.#parsed![mid]!) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return keys[lo];
  }

  #handle(msg: Buffer): Buffer | null {
    const r = new Ber.Reader(msg);
    r.readSequence();
    const version = r.readInt()!;
    const community = r.readString(Ber.OctetString, true) as unknown as Buffer;
    const pduType = r.peek()!;
    r.readSequence(pduType);
    const reqId = r.readInt()!;
    const a = r.readInt()!;
    const b = r.readInt()!;
    r.readSequence();
    const vbs: { oid: string; v: Value }[] = [];
    const end = r.offset + r.length;
    while (r.offset < end) {
      r.readSequence();
      const oid = r.readOID()!;
      vbs.push({ oid, v: readValue(r) });
    }
    const c = community.toString('latin1');
    const canWrite = this.write.includes(c);
    if (!canWrite && !this.read.includes(c)) return null; // bad community: silence, as agents do
    const v1 = version === 0;
    let errorStatus = 0;
    let errorIndex = 0;
    let out: { oid: string; v: Value }[] = [];
    const fail = (status: number, index: number): void => {
      errorStatus = status;
      errorIndex = index;
      out = vbs;
    };
    if (this.#o.maxVarbinds !== undefined && vbs.length > this.#o.maxVarbinds) {
      fail(ErrorStatus.tooBig, 0);
      out = [];
    } else if (pduType === PDU.get) {
      for (const [i, { oid }] of vbs.entries()) {
        const v = this.data.get(oid);
        if (!v) {
          if (v1) {
            fail(ErrorStatus.noSuchName, i + 1);
            break;
          }
          const parentKnown = this.#keys().some((k) => k.startsWith(oid.replace(/\.\d+$/, '.')));
          out.push({ oid, v: { type: parentKnown ? T.NoSuchInstance : T.NoSuchObject, value: null } });
        } else out.push({ oid, v });
      }
    } else if (pduType === PDU.getNext || pduType === PDU.getBulk) {
      const nonRep = pduType === PDU.getBulk ? Math.max(0, a) : vbs.length;
      const maxRep = pduType === PDU.getBulk ? Math.max(0, b) : 0;
      const step = (oid: string): { oid: string; v: Value } => {
        const n = this.#next(oid);
        return n ? { oid: n, v: this.data.get(n)! } : { oid, v: { type: T.EndOfMibView, value: null } };
      };
      for (let i = 0; i < Math.min(nonRep, vbs.length); i++) {
        const s = step(vbs[i]!.oid);
        if (v1 && s.v.type === T.EndOfMibView) {
          fail(ErrorStatus.noSuchName, i + 1);
          break;
        }
        out.push(s);
      }
      if (pduType === PDU.getBulk) {
        const cursors = vbs.slice(nonRep).map((x) => x.oid);
        for (let rep = 0; rep < maxRep && cursors.length > 0; rep++) {
          let any = false;
          for (let j = 0; j < cursors.length; j++) {
            const s = step(cursors[j]!);
            out.push(s);
            if (s.v.type !== T.EndOfMibView) any = true;
            cursors[j] = s.oid;
          }
          if (!any || out.length >= (this.#o.maxBulkVarbinds ?? 1000)) break;
        }
      }
      if (this.#o.maxBulkVarbinds !== undefined) out = out.slice(0, nonRep + this.#o.maxBulkVarbinds);
    } else if (pduType === PDU.set) {
      if (!canWrite) fail(v1 ? ErrorStatus.noSuchName : ErrorStatus.noAccess, 1);
      else
        for (const [i, { oid, v }] of vbs.entries()) {
          const refused = this.#o.onSet ? this.#o.onSet(oid, v, this) : this.data.has(oid) ? undefined : ErrorStatus.notWritable;
          if (refused) {
            fail(v1 && refused > 5 ? ErrorStatus.badValue : refused, i + 1);
            break;
          }
          if (!this.#o.onSet) this.set(oid, v);
          this.sets.push({ oid, value: v });
          out.push({ oid, v });
        }
    } else return null;
    return encodeResponse(version, community, reqId, errorStatus, errorIndex, out);
  }
}

function readValue(r: InstanceType<typeof Ber.Reader>): Value {
  const tag = r.peek()!;
  switch (tag) {
    case T.Integer:
    case T.Counter32:
    case T.Gauge32:
    case T.TimeTicks:
      return { type: tag, value: readUnsignedAware(r, tag) };
    case T.OctetString:
    case T.Opaque:
      return { type: tag, value: r.readString(tag, true) as unknown as Buffer };
    case T.Oid:
      return { type: tag, value: r.readOID()! };
    case T.IpAddress: {
      const buf = r.readString(tag, true) as unknown as Buffer;
      return { type: tag, value: [...buf].join('.') };
    }
    default: {
      // NULL and the v2 exceptions: tag, zero length.
      r.readByte();
      const len = r.readByte()!;
      for (let i = 0; i < len; i++) r.readByte();
      return { type: tag, value: null };
    }
  }
}

function readUnsignedAware(r: InstanceType<typeof Ber.Reader>, tag: number): number {
  if (tag === T.Integer) return r.readInt()!;
  const buf = r.readString(tag, true) as unknown as Buffer;
  let v = 0;
  for (const byte of buf) v = v * 256 + byte;
  return v;
}

function writeValue(w: InstanceType<typeof Ber.Writer>, v: Value): void {
  switch (v.type) {
    case T.Integer:
      w.writeInt(v.value as number, T.Integer);
      return;
    case T.Counter32:
    case T.Gauge32:
    case T.TimeTicks: {
      // Unsigned 32: minimal big-endian bytes with a leading 0 when the top bit is set.
      let n = Math.max(0, Math.floor(v.value as number)) >>> 0;
      const bytes: number[] = [];
      do {
        bytes.unshift(n & 0xff);
        n = Math.floor(n / 256);
      } while (n > 0);
      if (bytes[0]! & 0x80) bytes.unshift(0);
      w.writeBuffer(Buffer.from(bytes), v.type);
      return;
    }
    case T.Counter64: {
      let n = BigInt(v.value as bigint);
      const bytes: number[] = [];
      do {
        bytes.unshift(Number(n & 0xffn));
        n >>= 8n;
      } while (n > 0n);
      if (bytes[0]! & 0x80) bytes.unshift(0);
      w.writeBuffer(Buffer.from(bytes), v.type);
      return;
    }
    case T.OctetString:
    case T.Opaque:
      w.writeBuffer(Buffer.isBuffer(v.value) ? v.value : Buffer.from(String(v.value)), v.type);
      return;
    case T.Oid:
      w.writeOID(v.value as string, T.Oid);
      return;
    case T.IpAddress:
      w.writeBuffer(Buffer.from(String(v.value).split('.').map(Number)), T.IpAddress);
      return;
    default:
      w.writeByte(v.type);
      w.writeByte(0);
  }
}

const OID_CACHE = new Map<string, Buffer>();

/** BER content octets of an OID (X.690 8.19): first two arcs as 40·a+b, then base-128 arcs. */
function oidBytes(oid: string): Buffer {
  let b = OID_CACHE.get(oid);
  if (b) return b;
  const arcs = oid.split('.').map(Number);
  const out: number[] = [];
  const push = (n: number): void => {
    const tmp = [n & 0x7f];
    for (n = Math.floor(n / 128); n > 0; n = Math.floor(n / 128)) tmp.unshift((n & 0x7f) | 0x80);
    out.push(...tmp);
  };
  push(arcs[0]! * 40 + (arcs[1] ?? 0));
  for (const a of arcs.slice(2)) push(a);
  b = Buffer.from(out);
  if (OID_CACHE.size < 100_000) OID_CACHE.set(oid, b);
  return b;
}

function encodeResponse(version: number, community: Buffer, reqId: number, status: number, index: number, vbs: { oid: string; v: Value }[]): Buffer {
  const w = new Ber.Writer();
  w.startSequence();
  w.writeInt(version);
  w.writeBuffer(community, Ber.OctetString);
  w.startSequence(PDU.response);
  w.writeInt(reqId);
  w.writeInt(status);
  w.writeInt(index);
  w.startSequence();
  for (const { oid, v } of vbs) {
    w.startSequence();
    // Pre-encoded OID bytes: asn1-ber's writeOID dominated the agent's CPU in the benchmark,
    // where twenty agents share one process.
    w.writeBuffer(oidBytes(oid), T.Oid);
    writeValue(w, v);
    w.endSequence();
  }
  w.endSequence();
  w.endSequence();
  w.endSequence();
  return w.buffer;
}
