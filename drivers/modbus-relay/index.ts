/**
 * `modbus-relay`: relay modules on Modbus TCP or Modbus RTU (RS-485), through `modbus-serial`.
 * Coils are read with one FC1 request for all relays and written with FC5; modules that expose
 * relays as holding registers (a command value per relay, FC3/FC6) use `mode = registers`.
 * One transaction at a time per bus: several modules on one RS-485 line (different unit ids)
 * share the port and take turns. Timeouts and exception codes become typed errors with hints.
 */
import type modbusSerial from 'modbus-serial';
import type { Infer } from '../../src/config/types.js';
import { DeviceRefusedError, DeviceReplyError, DeviceUnreachableError, OckleError, OperationAbortedError } from '../../src/errors.js';
import { defineDriver, type DeviceInfo, type DriverContext } from '../types.js';
import { RelayOutlets, type RelayBoard } from '../relay/outlets.js';
import { modbusRelaySketch, modbusTemplate } from './definition.js';

export { modbusTemplate };

type Spec = Infer<typeof modbusTemplate>;

// A CommonJS package whose types declare an ES default export: at run time the default import
// is module.exports, which is the class and also carries itself as `.default`.
type Client = InstanceType<(typeof modbusSerial)['default']>;
// Loaded when a bus first connects: a daemon with no Modbus module (and the CLI) never pays
// for modbus-serial and the serialport it pulls in.
let ModbusRTU: (typeof modbusSerial)['default'] | null = null;
async function modbusClient(): Promise<Client> {
  ModbusRTU ??= ((await import('modbus-serial')) as unknown as { default: typeof modbusSerial }).default.default;
  return new ModbusRTU();
}

/** One TCP connection or one RTU port, shared by every module on it; one transaction at a time. */
class Bus {
  #client: Client | null = null;
  #connecting: Promise<void> | null = null;
  #tail: Promise<unknown> = Promise.resolve();
  users = 0;

  constructor(readonly connect: (c: Client) => Promise<void>) {}

  get client(): Client | null {
    return this.#client;
  }

  #ensure(): Promise<Client> {
    const c = this.#client;
    if (c?.isOpen) return Promise.resolve(c);
    this.#connecting ??= (async () => {
      this.#client ??= await modbusClient();
      await this.connect(this.#client);
    })().finally(() => (this.#connecting = null));
    return this.#connecting.then(() => this.#client!);
  }

  /** Runs `fn` alone on the bus (after the transactions before it). */
  run<T>(fn: (c: Client) => Promise<T>, signal: AbortSignal): Promise<T> {
    const turn = this.#tail.then(async () => {
      if (signal.aborted) throw new OperationAbortedError();
      return fn(await this.#ensure());
    });
    this.#tail = turn.catch(() => {});
    return turn;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      const c = this.#client;
      if (!c?.isOpen) return resolve();
      c.close(() => resolve());
    });
  }
}

const EXCEPTIONS: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  10: 'gateway path unavailable',
  11: 'gateway target failed to respond',
};

export class ModbusRelayBoard implements RelayBoard {
  readonly readBack = 'real' as const;
  readonly #bus: Bus;
  readonly #s: Spec;
  readonly #where: string;

  constructor(
    readonly id: string,
    spec: Spec,
    ctx: DriverContext,
  ) {
    this.#s = spec;
    const key = spec.transport === 'tcp' ? `modbus:tcp:${spec.host}:${spec.port}` : `modbus:rtu:${spec.path}`;
    this.#where = spec.transport === 'tcp' ? `${spec.host}:${spec.port} unit ${spec.unit_id}` : `${spec.path} unit ${spec.unit_id}`;
    this.#bus = ctx.shared(key, () =>
      spec.transport === 'tcp'
        ? new Bus((c) => c.connectTCP(spec.host!, { port: spec.port }))
        : new Bus((c) => c.connectRTUBuffered(spec.path!, { baudRate: spec.baud, parity: spec.parity, stopBits: spec.stop_bits, dataBits: 8 })),
    );
    this.#bus.users++;
  }

  #error(err: unknown, what: string): OckleError {
    if (err instanceof OckleError) return err;
    const e = err as { name?: string; message?: string; modbusCode?: number; errno?: string; code?: string };
    const at = `${this.id}: ${what} (${this.#where})`;
    if (e.name === 'TransactionTimedOutError' || e.message === 'Timed out')
      return new DeviceUnreachableError(this.id, `${at}: no Modbus reply within ${this.#s.request_timeout} ms`, {
        hint:
          this.#s.transport === 'rtu'
            ? 'Check unit_id, baud and parity, and the RS-485 wiring (A/B swapped is common); a module answers only its own unit id.'
            : 'Check unit_id (a gateway drops requests for units it does not know) and that the module is powered.',
      });
    if (typeof e.modbusCode === 'number') {
      const name = EXCEPTIONS[e.modbusCode] ?? `exception ${e.modbusCode}`;
      const hint =
        e.modbusCode === 1
          ? `The module does not support this function code: try mode = ${this.#s.mode === 'coils' ? 'registers' : 'coils'}.`
          : e.modbusCode === 2
            ? `Addresses ${this.#s.first_address}–${this.#s.first_address + this.#s.outlets - 1} are not all on this module: check first_address (0-based) and outlets.`
            : e.modbusCode === 3
              ? 'The module refused the value: check register_on / register_off against its manual.'
              : 'The module reported a failure; the request changed nothing it confirmed.';
      const Cls = e.modbusCode <= 3 ? DeviceRefusedError : DeviceReplyError;
      return new Cls(this.id, `${at}: Modbus exception ${e.modbusCode} (${name})`, { hint });
    }
    return new DeviceUnreachableError(this.id, `${at}: ${e.message ?? String(err)}`, {
      hint: this.#s.transport === 'tcp' ? 'Check host and port, and that nothing else holds the module’s only TCP connection.' : 'Check path and that no other program holds the port.',
    });
  }

  async open(signal: AbortSignal): Promise<void> {
    await this.#bus.run(async () => undefined, signal).catch((err: unknown) => {
      throw this.#error(err, 'connect');
    });
  }

  /** One request for the span of relays asked for (all of them on a poll). */
  async read(channels: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, boolean>> {
    const lo = Math.min(...channels);
    const count = Math.max(...channels) - lo + 1;
    const s = this.#s;
    const start = s.first_address + lo - 1;
    const values = await this.#bus
      .run(async (c) => {
        c.setID(s.unit_id);
        c.setTimeout(s.request_timeout);
        if (s.mode === 'coils') return (await c.readCoils(start, count)).data.slice(0, count);
        return (await c.readHoldingRegisters(start, count)).data.map((v: number) => v === s.register_read_on);
      }, signal)
      .catch((err: unknown) => {
        throw this.#error(err, `read ${s.mode} ${start}–${start + count - 1}`);
      });
    if (values.length < count) throw new DeviceReplyError(this.id, `${this.id}: asked for ${count} ${s.mode}, got ${values.length}`);
    return new Map(channels.map((n) => [n, Boolean(values[n - lo])]));
  }

  async write(channel: number, energise: boolean, signal: AbortSignal): Promise<void> {
    const s = this.#s;
    const addr = s.first_address + channel - 1;
    await this.#bus
      .run(async (c) => {
        c.setID(s.unit_id);
        c.setTimeout(s.request_timeout);
        if (s.mode === 'coils') await c.writeCoil(addr, energise);
        else await c.writeRegister(addr, energise ? s.register_on : s.register_off);
      }, signal)
      .catch((err: unknown) => {
        throw this.#error(err, `write ${s.mode === 'coils' ? 'coil' : 'register'} ${addr}`);
      });
  }

  info(): DeviceInfo {
    return { model: `Modbus ${this.#s.transport.toUpperCase()} relay module (${this.#s.mode})`, details: { bus: this.#where } };
  }

  async close(): Promise<void> {
    if (--this.#bus.users <= 0) await this.#bus.close();
  }
}

export const modbusRelayDriver = defineDriver({
  ...modbusRelaySketch,
  create: (spec, ctx) => new RelayOutlets(ctx.id, spec, new ModbusRelayBoard(ctx.id, spec, ctx), ctx),
});
