/**
 * The shared relay layer: a relay outlet device is N digital outputs, a polarity, and a
 * read-back capability. Transports (GPIO, serial boards, Modbus modules) implement `RelayBoard`
 * (channels energised or not); `RelayOutlets` turns that into an outlet device: `invert` for
 * outlets wired through the normally-closed contact, and for boards that cannot report their
 * state, an assumed state kept on disk so a restart does not forget what was last written.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bool, int } from '../../src/config/types.js';
import { DeviceReplyError, OperationAbortedError, UnknownOutletError } from '../../src/errors.js';
import type { DeviceInfo, DriverContext, OutletDevice, Power, SwitchAction } from '../types.js';

/** A relay board as its transport sees it: channels 1…n, energised (true) or not. */
export interface RelayBoard {
  readonly readBack: 'real' | 'assumed';
  /** Reads in one request. Present exactly when `readBack` is `real`. */
  read?(channels: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, boolean>>;
  open(signal: AbortSignal): Promise<void>;
  write(channel: number, energise: boolean, signal: AbortSignal): Promise<void>;
  info?(): DeviceInfo;
  close(): Promise<void>;
}

/** Keys every relay device has. */
export const relayCommonTemplate = {
  outlets: int({ min: 1, max: 64, required: true, help: 'Number of relays (outlets 1…N are relays 1…N).' }),
  invert: bool({
    default: false,
    help: 'The servers are wired through the normally-closed contact: an energised relay means power OFF.',
  }),
};

/** The last state written to a board that cannot be read back, kept across restarts. */
export class AssumedStates {
  readonly #file: string;
  #states: (boolean | null)[];

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
  }

  /** Energised, not energised, or null: never written by ockle. */
  get(channel: number): boolean | null {
    return this.#states[channel - 1] ?? null;
  }

  /** Records a write the board accepted (atomic rename, so a crash leaves the old or the new file). */
  set(channel: number, energised: boolean): void {
    this.#states[channel - 1] = energised;
    const tmp = `${this.#file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ energised: this.#states }) + '\n', { mode: 0o640 });
    renameSync(tmp, this.#file);
  }
}

export class RelayOutlets implements OutletDevice {
  readonly caps: OutletDevice['caps'];
  readonly #board: RelayBoard;
  readonly #count: number;
  readonly #invert: boolean;
  readonly #assumed: AssumedStates | null;

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
    this.caps = { cycle: false, metering: false, bulkRead: true, readBack: board.readBack, maxConcurrency: 1 };
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

  open(signal: AbortSignal): Promise<void> {
    return this.#board.open(signal);
  }

  async read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>> {
    this.#check(outlets);
    if (signal.aborted) throw new OperationAbortedError();
    if (this.#assumed) return new Map(outlets.map((n) => [n, this.#power(this.#assumed!.get(n))]));
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
    await this.#board.write(outlet, energise, signal);
    this.#assumed?.set(outlet, energise);
  }

  info(): DeviceInfo {
    return this.#board.info?.() ?? {};
  }

  close(): Promise<void> {
    return this.#board.close();
  }
}
