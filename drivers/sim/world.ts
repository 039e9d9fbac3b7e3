/**
 * The simulated lab behind the `sim` drivers: PDUs/relay boards with outlets, and one machine
 * per server that boots when powered and halts when asked. Device state is persisted to
 * `<stateDir>/sim/<id>.json` (with a write counter and log), so the hardware keeps its state
 * across daemon restarts like a real PDU, and tests can prove that no write happened.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Power, SwitchAction } from '../types.js';

export type DeviceFault = 'unreachable' | 'slow' | 'refuse_switch' | 'stuck';
export type MachineFault = 'never_boots' | 'ignores_shutdown' | 'refuses_shutdown';

interface SimOutlet {
  on: boolean;
  /** ms timestamp of the last off→on. */
  onSince: number;
  energyWh: number;
  /** ms timestamp up to which energy was integrated. */
  meteredAt: number;
}
interface SimDeviceState {
  outlets: SimOutlet[];
  writes: number;
  log: { outlet: number; action: SwitchAction; at: string }[];
}
interface SimMachine {
  bootMs: number;
  shutdownMs: number;
  haltAt: number | null;
  faults: Set<MachineFault>;
  outlets: readonly { device: string; outlet: number }[];
}

/** A device's state file is written once its changes pause this long… */
const QUIET_MS = 50;
/** …or this long after its first unsaved change, whichever comes first. */
const MAX_UNSAVED_MS = 500;

/** Long ago: outlets that start on have machines that are already booted. */
const LONG_AGO = 0;

export class SimWorld {
  readonly #dir: string;
  readonly #now: () => number;
  readonly #devices = new Map<string, SimDeviceState>();
  readonly #deviceFaults = new Map<string, Set<DeviceFault>>();
  readonly #machines = new Map<string, SimMachine>();
  readonly #dirty = new Set<string>();

  constructor(o: { stateDir: string; now?: () => number }) {
    this.#dir = join(o.stateDir, 'sim');
    this.#now = o.now ?? (() => Date.now());
  }

  now(): number {
    return this.#now();
  }

  /** Registers a device, loading its persisted state or starting from `initial`. Idempotent. */
  device(id: string, outlets: number, initial: 'on' | 'off'): void {
    if (this.#devices.has(id)) return;
    let state: SimDeviceState | undefined;
    try {
      const raw = JSON.parse(readFileSync(join(this.#dir, `${id}.json`), 'utf8')) as SimDeviceState;
      if (Array.isArray(raw.outlets) && raw.outlets.length === outlets) state = raw;
    } catch {
      // no hardware file yet: fresh device
    }
    const now = this.#now();
    state ??= {
      outlets: Array.from({ length: outlets }, () => ({ on: initial === 'on', onSince: LONG_AGO, energyWh: 0, meteredAt: now })),
      writes: 0,
      log: [],
    };
    this.#devices.set(id, state);
    this.#save(id);
  }

  /**
   * Persists a device's state once its changes pause for 50 ms, and at most 500 ms after the
   * first unsaved one: a burst of switches (a sequence of a thousand servers) costs a write per
   * device at its end, not one per change nor one per 50 ms. Those writes and renames go through
   * the thread pool: the simulated hardware's own disk is not the gateway's work, and done in the
   * loop (sixteen files, each a write and a rename) they took 5–6 ms of a thousand-server
   * sequence's critical path. One batch of writes at a time, in order, so an older state never
   * lands after a newer one; `close()` waits for them, then writes what changed since,
   * synchronously: a clean stop always leaves the last hardware state on disk, and nothing is in
   * flight once it returns (a test may remove the directory).
   */
  #save(id: string): void {
    const now = this.#now();
    this.#dirty.add(id);
    this.#lastChange = now;
    if (this.#timer) return;
    this.#firstChange = now;
    this.#arm(QUIET_MS);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const now = this.#now();
      const quietFor = now - this.#lastChange;
      const waited = now - this.#firstChange;
      // (A wall clock stepped back makes these negative: then it is written now.)
      if (quietFor >= 0 && waited >= 0 && quietFor < QUIET_MS && waited < MAX_UNSAVED_MS)
        return this.#arm(Math.min(QUIET_MS - quietFor, MAX_UNSAVED_MS - waited));
      this.#persistSoon();
    }, ms);
  }
  #timer: NodeJS.Timeout | null = null;
  #lastChange = 0;
  #firstChange = 0;
  /** The writes under way in the thread pool, one batch after another. */
  #writing: Promise<void> = Promise.resolve();

  /** The state of each changed device, as it is now. */
  #take(): { id: string; file: string; text: string }[] {
    const out = [];
    for (const id of [...this.#dirty]) {
      this.#dirty.delete(id);
      const s = this.#devices.get(id);
      if (s) out.push({ id, file: join(this.#dir, `${id}.json`), text: JSON.stringify(s) });
    }
    return out;
  }

  /** Writes the changed devices through the thread pool, after the writes under way (see #save). */
  #persistSoon(): void {
    const jobs = this.#take();
    if (jobs.length === 0) return;
    this.#writing = this.#writing.then(async () => {
      try {
        mkdirSync(this.#dir, { recursive: true });
      } catch {
        // each write below fails alone, and is tried again
      }
      for (const j of jobs) {
        try {
          await writeFile(`${j.file}.tmp`, j.text);
          await rename(`${j.file}.tmp`, j.file);
        } catch {
          // A full or failing disk: the simulated hardware keeps its state in memory (as real
          // hardware would), and the file is written again later. Never a throw from a timer.
          await unlink(`${j.file}.tmp`).catch(() => undefined);
          this.#retryLater(j.id);
        }
      }
    });
  }

  #retryLater(id: string): void {
    this.#dirty.add(id);
    if (this.#retrying) return;
    this.#retrying = true;
    setTimeout(() => {
      this.#retrying = false;
      this.#persistSoon();
    }, 1000).unref();
  }

  /**
   * Waits for the writes under way, then writes every changed device now, synchronously (a sim
   * device's close: nothing of this world is in flight when it returns).
   */
  async close(): Promise<void> {
    // (A batch started while waiting joins the chain: wait for that one too.)
    for (let w = this.#writing; ; w = this.#writing) {
      await w;
      if (w === this.#writing) break;
    }
    this.flush();
  }

  /** Writes every changed device now, synchronously. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const j of this.#take()) {
      try {
        mkdirSync(this.#dir, { recursive: true });
        writeFileSync(`${j.file}.tmp`, j.text);
        renameSync(`${j.file}.tmp`, j.file);
      } catch {
        // A full or failing disk: kept in memory, written again later (as above).
        this.#retryLater(j.id);
      }
    }
  }
  #retrying = false;

  #outlet(id: string, n: number): SimOutlet {
    const o = this.#devices.get(id)?.outlets[n - 1];
    if (!o) throw new Error(`sim device ${id} has no outlet ${n}`);
    return o;
  }

  /** What the hardware says, bypassing every fault: for tests. */
  outlet(id: string, n: number): Power {
    return this.#outlet(id, n).on ? 'on' : 'off';
  }

  /** Count and recent log of switch commands the device accepted. */
  writes(id: string): { count: number; log: readonly { outlet: number; action: SwitchAction; at: string }[] } {
    const s = this.#devices.get(id);
    return { count: s?.writes ?? 0, log: s?.log ?? [] };
  }

  /** Records an accepted switch command (the write counter counts commands, even stuck ones). */
  recordWrite(id: string, outlet: number, action: SwitchAction): void {
    const s = this.#devices.get(id)!;
    s.writes++;
    s.log.push({ outlet, action, at: new Date(this.#now()).toISOString() });
    while (s.log.length > 100) s.log.shift();
    this.#save(id);
  }

  /** Changes an outlet's power as the hardware would. */
  setPower(id: string, n: number, on: boolean): void {
    const o = this.#outlet(id, n);
    this.#integrate(o, 0);
    if (on && !o.on) o.onSince = this.#now();
    o.on = on;
    this.#save(id);
  }

  #integrate(o: SimOutlet, watts: number): void {
    const now = this.#now();
    if (o.on && watts > 0) o.energyWh += (watts * (now - o.meteredAt)) / 3_600_000;
    o.meteredAt = now;
  }

  /** Metering: the outlet's load while on, energy integrated over time. */
  meter(id: string, n: number, loadWatts: number): { watts: number; amps: number; volts: number; energyWh: number } {
    const o = this.#outlet(id, n);
    this.#integrate(o, loadWatts);
    const watts = o.on ? loadWatts : 0;
    return { watts, amps: Math.round((watts / 230) * 1000) / 1000, volts: 230, energyWh: Math.round(o.energyWh * 1000) / 1000 };
  }

  setDeviceFaults(id: string, faults: readonly DeviceFault[]): void {
    this.#deviceFaults.set(id, new Set(faults));
  }
  deviceFaults(id: string): ReadonlySet<DeviceFault> {
    return this.#deviceFaults.get(id) ?? new Set();
  }

  /** Registers (or widens) the machine of a server. The largest boot/shutdown time wins. */
  machineFor(
    name: string,
    outlets: readonly { device: string; outlet: number }[],
    o: { bootMs?: number; shutdownMs?: number; faults?: readonly MachineFault[] },
  ): void {
    const m = this.#machines.get(name) ?? { bootMs: 0, shutdownMs: 0, haltAt: null, faults: new Set(), outlets };
    m.bootMs = Math.max(m.bootMs, o.bootMs ?? 0);
    m.shutdownMs = Math.max(m.shutdownMs, o.shutdownMs ?? 0);
    for (const f of o.faults ?? []) m.faults.add(f);
    this.#machines.set(name, m);
  }

  setMachineFaults(name: string, faults: readonly MachineFault[]): void {
    const m = this.#machines.get(name);
    if (m) m.faults = new Set(faults);
  }

  /** The machine as tests see it. `poweredForMs` is null without power. */
  machine(name: string): { powered: boolean; up: boolean; halted: boolean; poweredForMs: number | null; bootMs: number } {
    const m = this.#machines.get(name);
    if (!m) return { powered: false, up: false, halted: false, poweredForMs: null, bootMs: 0 };
    // Probed many times per boot (a sequence of a thousand servers): one pass, no arrays.
    let powered = m.outlets.length > 0;
    let since = -Infinity;
    for (const o of m.outlets) {
      const out = this.#devices.get(o.device)?.outlets[o.outlet - 1];
      if (out?.on !== true) {
        powered = false;
        break;
      }
      if (out.onSince > since) since = out.onSince;
    }
    if (!powered) {
      m.haltAt = null; // losing power clears a halt; the next power-on boots again
      return { powered: false, up: false, halted: false, poweredForMs: null, bootMs: m.bootMs };
    }
    const now = this.#now();
    if (m.haltAt !== null && m.haltAt < since) m.haltAt = null;
    const halted = m.haltAt !== null && now >= m.haltAt;
    const poweredForMs = now - since;
    const up = !halted && !m.faults.has('never_boots') && poweredForMs >= m.bootMs;
    return { powered, up, halted, poweredForMs, bootMs: m.bootMs };
  }

  /** Probes per machine, by result: what tests count (keep-alive acts after exactly N failed runs). */
  readonly probes = new Map<string, { passed: number; failed: number }>();
  countProbe(name: string, passed: boolean): void {
    const c = this.probes.get(name) ?? { passed: 0, failed: 0 };
    if (passed) c.passed++;
    else c.failed++;
    this.probes.set(name, c);
  }

  /** A controller asked the OS to shut down. */
  requestHalt(name: string): void {
    const m = this.#machines.get(name);
    if (!m) throw new Error(`sim machine ${name} is unknown`);
    if (m.faults.has('refuses_shutdown')) throw new Error(`sim ${name} refused the shutdown request`);
    if (m.faults.has('ignores_shutdown')) return;
    if (m.haltAt === null) m.haltAt = this.#now() + m.shutdownMs;
  }
}
