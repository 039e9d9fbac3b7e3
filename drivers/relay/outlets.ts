/**
 * The shared relay layer: a relay outlet device is N digital outputs, a polarity, and a
 * read-back capability. Transports (GPIO, serial boards, Modbus modules) implement `RelayBoard`
 * (channels energised or not); `RelayOutlets` turns that into an outlet device: `invert` for
 * outlets wired through the normally-closed contact, and for boards that cannot report their
 * state, an assumed state kept on disk so a restart does not forget what was last written.
 *
 * An assumed state holds only while nothing could have changed the relays behind ockle's back:
 * a board whose transport failed (unplugged, write error, no answer), or whose device node is
 * not the one the states were written on (plugged back, host restarted), may have reset (most
 * USB boards come up all off) or been switched by hand, so its states are forgotten: every
 * relay reads `unknown` until ockle switches it again. A guess is never shown as a state.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceReplyError, OperationAbortedError, UnknownOutletError } from '../../src/errors.js';
import type { DeviceInfo, DriverContext, OutletCaps, OutletDevice, Power, SwitchAction } from '../types.js';

/** A relay board as its transport sees it: channels 1…n, energised (true) or not. */
export interface RelayBoard {
  /**
   * `real`: `read` answers from the hardware. `assumed`: the board cannot report. May turn
   * `real` once the board is open (an LCUS that answers its status query), never back.
   */
  readonly readBack: 'real' | 'assumed';
  /** Reads in one request. Present when the board may report; used while `readBack` is `real`. */
  read?(channels: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, boolean>>;
  open(signal: AbortSignal): Promise<void>;
  write(channel: number, energise: boolean, signal: AbortSignal): Promise<void>;
  /**
   * Boards that cannot report: proves the transport is there without sending anything to the
   * board, reopening it if it was lost, and names the connection (the device node): a board
   * unplugged and plugged back, or a host restarted, gets another name.
   * @throws DeviceUnreachableError when the board is not there.
   */
  attach?(signal: AbortSignal): Promise<string>;
  /** The name `attach` gave the open connection; null when none is open. */
  readonly connection?: string | null;
  /** Transport failures so far (port vanished, write failed, no answer, would not open); only ever grows. */
  readonly losses?: number;
  info?(): DeviceInfo;
  close(): Promise<void>;
}

export { relayCommonTemplate } from './template.js';

/**
 * The last state written to a board that cannot be read back, kept across restarts with the
 * name of the connection it was written on.
 */
export class AssumedStates {
  readonly #file: string;
  #states: (boolean | null)[];
  #connection: string | null;

  constructor(stateDir: string, id: string, channels: number) {
    const dir = join(stateDir, 'relays');
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    this.#file = join(dir, `${id}.json`);
    let saved: unknown;
    try {
      saved = JSON.parse(readFileSync(this.#file, 'utf8'));
    } catch {
      saved = null;
    }
    const list = Array.isArray((saved as { energised?: unknown })?.energised) ? (saved as { energised: unknown[] }).energised : [];
    this.#states = Array.from({ length: channels }, (_, i) => (typeof list[i] === 'boolean' ? (list[i] as boolean) : null));
    const connection = (saved as { connection?: unknown })?.connection;
    this.#connection = typeof connection === 'string' ? connection : null;
  }

  /** Energised, not energised, or null: never written by ockle. */
  get(channel: number): boolean | null {
    return this.#states[channel - 1] ?? null;
  }

  /** Records a write the board accepted. */
  set(channel: number, energised: boolean): void {
    this.#states[channel - 1] = energised;
    this.#save();
  }

  /** Forgets every state: the board may have reset or been switched while ockle could not see it. */
  forget(): void {
    if (this.#states.every((s) => s === null)) return;
    this.#states.fill(null);
    this.#save();
  }

  /**
   * The states hold on `connection` only: written on another one, they are forgotten. A file
   * from before connections were recorded is adopted as it is (a plain upgrade is a restart).
   */
  bind(connection: string): void {
    if (this.#connection === connection) return;
    if (this.#connection !== null) this.#states.fill(null);
    this.#connection = connection;
    this.#save();
  }

  /** Atomic rename, so a crash leaves the old or the new file. */
  #save(): void {
    const tmp = `${this.#file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ energised: this.#states, connection: this.#connection }) + '\n', { mode: 0o640 });
    renameSync(tmp, this.#file);
  }
}

export class RelayOutlets implements OutletDevice {
  readonly #board: RelayBoard;
  readonly #count: number;
  readonly #invert: boolean;
  readonly #assumed: AssumedStates | null;
  /** The board's transport failures already applied to the assumed states. */
  #losses: number;
  readonly #caps: { readonly real: OutletCaps; readonly assumed: OutletCaps };

  constructor(
    readonly id: string,
    o: { outlets: number; invert: boolean },
    board: RelayBoard,
    ctx: DriverContext,
  ) {
    this.#board = board;
    this.#count = o.outlets;
    this.#invert = o.invert;
    this.#assumed = board.readBack === 'assumed' ? new AssumedStates(ctx.stateDir, id, o.outlets) : null;
    this.#losses = board.losses ?? 0;
    const caps = { cycle: false, metering: false, bulkRead: true, maxConcurrency: 1 } as const;
    this.#caps = { real: { ...caps, readBack: 'real' }, assumed: { ...caps, readBack: 'assumed' } };
  }

  /** Read-back follows the board's: an LCUS learns at open whether it answers its status query. */
  get caps(): OutletCaps {
    return this.#caps[this.#board.readBack];
  }

  get outletCount(): number {
    return this.#count;
  }

  #check(outlets: readonly number[]): void {
    for (const n of outlets) if (!Number.isInteger(n) || n < 1 || n > this.#count) throw new UnknownOutletError(this.id, n, this.#count);
  }

  #power(energised: boolean | null | undefined): Power {
    if (energised === null || energised === undefined) return 'unknown';
    return energised !== this.#invert ? 'on' : 'off';
  }

  /**
   * Applies what the board's transport went through to the assumed states: any failure since
   * the last look forgets them; a `connection` other than the one they were written on too.
   */
  #settle(connection?: string | null): void {
    const a = this.#assumed;
    if (!a) return;
    const losses = this.#board.losses ?? 0;
    if (losses !== this.#losses) {
      this.#losses = losses;
      a.forget();
    }
    if (connection) a.bind(connection);
  }

  async open(signal: AbortSignal): Promise<void> {
    try {
      await this.#board.open(signal);
    } finally {
      this.#settle(this.#board.connection);
    }
  }

  async read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>> {
    this.#check(outlets);
    if (signal.aborted) throw new OperationAbortedError();
    if (this.#assumed && this.#board.readBack === 'assumed') {
      // Nothing to read, but the board must be there: its port is checked (and reopened if it
      // was lost) without a byte sent; one that cannot be reached throws like any read.
      let connection: string | undefined;
      try {
        connection = await this.#board.attach?.(signal);
      } finally {
        this.#settle(connection);
      }
      // Opening it may have shown that it reports its relays after all (LCUS status query).
      if (this.#board.readBack === 'assumed') return new Map(outlets.map((n) => [n, this.#power(this.#assumed!.get(n))]));
    }
    if (outlets.length === 0) return new Map();
    const got = await this.#board.read!(outlets, signal);
    return new Map(outlets.map((n) => [n, this.#power(got.get(n))]));
  }

  async switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    this.#check([outlet]);
    if (signal.aborted) throw new OperationAbortedError();
    if (action === 'cycle' || action === 'reset')
      throw new DeviceReplyError(this.id, `${this.id}: a relay board has no native ${action}`, { hint: 'The core cycles relays as off → cycle_delay → on.' });
    const energise = (action === 'on') !== this.#invert;
    try {
      await this.#board.write(outlet, energise, signal);
    } catch (err) {
      this.#settle();
      throw err;
    }
    if (this.#assumed && this.#board.readBack === 'assumed') {
      // Failures before this write (the port it reopened) void the other relays, not this one.
      this.#settle(this.#board.connection);
      this.#assumed.set(outlet, energise);
    }
  }

  info(): DeviceInfo {
    return this.#board.info?.() ?? {};
  }

  close(): Promise<void> {
    return this.#board.close();
  }
}
