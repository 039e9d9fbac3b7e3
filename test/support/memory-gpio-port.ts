/** A GpioPort for tests, without a Raspberry Pi: the sysfs port's in-memory twin. */
import type { GpioPort, Level } from '../../drivers/gpio-relay/port.js';

/** The in-memory twin: levels and directions in maps, every level change recorded. */
export class MemoryGpioPort implements GpioPort {
  readonly levels = new Map<number, Level>();
  readonly outputs = new Set<number>();
  /** Every level change, as `line:level`, in order (a take that keeps the level adds nothing). */
  readonly changes: string[] = [];

  constructor(initial: Record<number, Level> = {}, outputs: readonly number[] = []) {
    for (const [k, v] of Object.entries(initial)) this.levels.set(Number(k), v);
    for (const o of outputs) this.outputs.add(o);
  }

  async take(line: number): Promise<Level> {
    const level = this.levels.get(line) ?? 0;
    this.outputs.add(line);
    return level;
  }
  async read(line: number): Promise<Level> {
    return this.levels.get(line) ?? 0;
  }
  async write(line: number, level: Level): Promise<void> {
    if ((this.levels.get(line) ?? 0) !== level) this.changes.push(`${line}:${level}`);
    this.levels.set(line, level);
  }
  async release(): Promise<void> {}
}
