/**
 * A Modbus relay module for tests: `modbus-serial`'s own ServerTCP (on 127.0.0.1) or
 * ServerSerial (on a pty) answering for N relays as coils, or as command registers the way
 * register-based boards do. Faults: an exception code for every request, or no reply at all.
 */
import { connect, createServer, type Socket } from 'node:net';
import modbusSerial from 'modbus-serial';

export interface ModbusModule {
  readonly port: number;
  readonly coils: boolean[];
  /** Vector calls served (modbus-serial calls getCoil once per coil of a request). */
  requests: number;
  /** TCP only: the function code of every request frame the module received, in order. */
  frames: number[];
  writes: { addr: number; value: boolean | number }[];
  /** Reply to everything with this exception code. */
  exception: number | null;
  /** Never reply (the client times out). */
  silent: boolean;
  /** Most requests ever in progress at once (each takes `serveMs`): a serial bus must never exceed 1. */
  peak: number;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

export async function modbusModule(o: {
  relays: number;
  unitId?: number;
  transport?: { tcp: true } | { path: string };
  mode?: 'coils' | 'registers';
  /** registers: value that energises / releases a relay, and what an energised one reads. */
  registerOn?: number;
  registerOff?: number;
  initial?: boolean[];
  /** Time each request takes to serve, so that overlapping requests can be seen (default 0). */
  serveMs?: number;
}): Promise<ModbusModule> {
  const m: ModbusModule = {
    port: 0,
    coils: Array.from({ length: o.relays }, (_, i) => o.initial?.[i] ?? false),
    requests: 0,
    frames: [],
    writes: [],
    exception: null,
    silent: false,
    peak: 0,
    close: async () => {},
  };
  let inProgress = 0;
  // One request for several coils (FC 1 of 2+ coils) reaches this vector as one getCoil call per
  // coil, all made in the same synchronous loop of modbus-serial's handler: those are one
  // transaction, served together, and count once towards `peak`.
  let transaction: Promise<void> | null = null;
  const gate = async (): Promise<void> => {
    m.requests++;
    if (m.silent) return new Promise<void>(() => {});
    if (m.exception !== null) throw Object.assign(new Error('exception'), { modbusErrorCode: m.exception });
    if (!o.serveMs) return;
    if (transaction) return transaction;
    m.peak = Math.max(m.peak, ++inProgress);
    const t = (transaction = new Promise<void>((r) => setTimeout(r, o.serveMs)).then(() => void inProgress--));
    queueMicrotask(() => {
      if (transaction === t) transaction = null;
    });
    return t;
  };
  const at = (addr: number): number => {
    if (addr < 0 || addr >= o.relays) throw Object.assign(new Error('bad address'), { modbusErrorCode: 2 });
    return addr;
  };
  const vector = {
    getCoil: async (addr: number) => {
      await gate();
      if (o.mode === 'registers') throw Object.assign(new Error('no coils'), { modbusErrorCode: 1 });
      return m.coils[at(addr)]!;
    },
    setCoil: async (addr: number, value: boolean) => {
      await gate();
      if (o.mode === 'registers') throw Object.assign(new Error('no coils'), { modbusErrorCode: 1 });
      m.coils[at(addr)] = value;
      m.writes.push({ addr, value });
    },
    getHoldingRegister: async (addr: number) => {
      await gate();
      return m.coils[at(addr)] ? 1 : 0;
    },
    setRegister: async (addr: number, value: number) => {
      await gate();
      at(addr);
      if (value === (o.registerOn ?? 1)) m.coils[addr] = true;
      else if (value === (o.registerOff ?? 0)) m.coils[addr] = false;
      else throw Object.assign(new Error('bad value'), { modbusErrorCode: 3 });
      m.writes.push({ addr, value });
    },
    getInputRegister: () => 0,
    getDiscreteInput: () => false,
  };
  const unitID = o.unitId ?? 1;
  if (!o.transport || 'tcp' in o.transport) {
    const port = await freePort();
    const server = new modbusSerial.ServerTCP(vector, { host: '127.0.0.1', port, unitID });
    server.on('socketError', () => {});
    await new Promise<void>((resolve) => server.on('initialized', () => resolve()));
    // A counting relay in front of the server: it reads each Modbus/TCP frame's length from the
    // MBAP header and records its function code, so a test can count real requests.
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = connect(port, '127.0.0.1');
      sockets.add(client).add(upstream);
      let buf = Buffer.alloc(0);
      client.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 8 && buf.length >= 6 + buf.readUInt16BE(4)) {
          m.frames.push(buf[7]!);
          buf = buf.subarray(6 + buf.readUInt16BE(4));
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk) => client.write(chunk));
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const proxyPort = (proxy.address() as { port: number }).port;
    return Object.assign(m, {
      port: proxyPort,
      close: async () => {
        for (const s of sockets) s.destroy();
        await new Promise((r) => proxy.close(r));
        await new Promise<void>((r) => server.close(() => r()));
      },
    });
  }
  const server = new modbusSerial.ServerSerial(vector, { path: o.transport.path, baudRate: 9600, unitID });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.on('initialized', () => resolve()));
  return Object.assign(m, { close: () => new Promise<void>((r) => server.close(() => r())) });
}
