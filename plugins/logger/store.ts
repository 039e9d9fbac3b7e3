/**
 * The logger's SQLite database: outlet samples (state and metering) and UPS samples (power,
 * charge, runtime, load, input voltage) at `log_resolution`, every outlet, server and UPS
 * change, and every finished action. Plain SQL over node-sqlite3-wasm
 * (SQLite compiled to WebAssembly, writing the file directly): no native addon to build on a
 * Raspberry Pi, and any SQLite tool can read the file.
 */
import sqlite from 'node-sqlite3-wasm';

const { Database } = sqlite;
type Db = InstanceType<typeof Database>;

/**
 * Bumped only for a change an older logger could not live with. The UPS table came without a
 * bump: CREATE IF NOT EXISTS adds it to an older file, and an older logger leaves a table it does
 * not know alone.
 */
export const SCHEMA_VERSION = 1;

export interface Sample {
  readonly device: string;
  readonly outlet: number;
  readonly power: string;
  readonly watts?: number | undefined;
  readonly amps?: number | undefined;
  readonly volts?: number | undefined;
  readonly energyWh?: number | undefined;
}

/** One UPS reading. A silent source is sampled with its power `unknown` and no values (not the last ones it gave). */
export interface UpsSample {
  readonly ups: string;
  /** mains, battery, bypass, off, unknown. */
  readonly power: string;
  readonly stage: string;
  readonly chargePct: number | null;
  readonly runtimeS: number | null;
  readonly loadPct: number | null;
  readonly inputVolts: number | null;
}

export interface UpsPoint {
  /** Bucket start, ms since the epoch. */
  readonly t: number;
  /** Means over the bucket's samples from an answering source (null: none answered). */
  readonly chargePct: number | null;
  readonly runtimeS: number | null;
  readonly loadPct: number | null;
  readonly inputVolts: number | null;
  /** Fraction of the answered samples that were on battery (0–1; null: none answered). */
  readonly onBattery: number | null;
  /** Fraction of the bucket's samples when the source was silent (0–1). */
  readonly silent: number;
}
export interface UpsSeries {
  readonly ups: string;
  readonly points: readonly UpsPoint[];
}

export interface ActionRow {
  readonly id: string;
  readonly kind: string;
  readonly origin: string;
  readonly reason: string;
  readonly targets: readonly string[];
  readonly status: string;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly error: string | null;
}

export interface Point {
  /** Bucket start, ms since the epoch. */
  readonly t: number;
  readonly watts: number | null;
  readonly amps: number | null;
  readonly volts: number | null;
  /** The highest energy counter seen in the bucket (a counter only grows). */
  readonly energyWh: number | null;
  /** Fraction of the bucket's samples that read on (0–1). */
  readonly on: number | null;
}
export interface Series {
  readonly device: string;
  /** null: the device's sum over its outlets. */
  readonly outlet: number | null;
  readonly points: readonly Point[];
}

export interface Change {
  readonly ts: number;
  readonly kind: string;
  readonly subject: string;
  readonly value: string;
  readonly previous: string | null;
  readonly detail: string | null;
}

export class LoggerStore {
  readonly #db: Db;

  constructor(file: string) {
    this.#db = new Database(file);
    try {
      this.#db.exec(`
        PRAGMA synchronous = NORMAL;
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS samples (
          ts INTEGER NOT NULL, device TEXT NOT NULL, outlet INTEGER NOT NULL, power TEXT NOT NULL,
          watts REAL, amps REAL, volts REAL, energy_wh REAL);
        CREATE INDEX IF NOT EXISTS samples_by_outlet ON samples (device, outlet, ts);
        CREATE INDEX IF NOT EXISTS samples_by_time ON samples (ts);
        CREATE TABLE IF NOT EXISTS changes (
          ts INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, value TEXT NOT NULL, previous TEXT, detail TEXT);
        CREATE INDEX IF NOT EXISTS changes_by_time ON changes (ts);
        CREATE TABLE IF NOT EXISTS actions (
          id TEXT PRIMARY KEY, kind TEXT NOT NULL, origin TEXT NOT NULL, reason TEXT NOT NULL, targets TEXT NOT NULL,
          status TEXT NOT NULL, started INTEGER NOT NULL, finished INTEGER NOT NULL, ms INTEGER NOT NULL, error TEXT);
        CREATE INDEX IF NOT EXISTS actions_by_time ON actions (finished);
        CREATE TABLE IF NOT EXISTS ups_samples (
          ts INTEGER NOT NULL, ups TEXT NOT NULL, power TEXT NOT NULL, stage TEXT NOT NULL,
          charge_pct REAL, runtime_s REAL, load_pct REAL, input_volts REAL);
        CREATE INDEX IF NOT EXISTS ups_samples_by_ups ON ups_samples (ups, ts);
        CREATE INDEX IF NOT EXISTS ups_samples_by_time ON ups_samples (ts);
      `);
      const v = this.#db.get(`SELECT value FROM meta WHERE key = 'schema'`) as { value: string } | null;
      if (!v) this.#db.run(`INSERT INTO meta (key, value) VALUES ('schema', ?)`, [String(SCHEMA_VERSION)]);
      else if (Number(v.value) > SCHEMA_VERSION)
        throw new Error(`${file} was written by a newer ockle (schema ${v.value}; this one reads ${SCHEMA_VERSION}); move it aside or upgrade`);
    } catch (err) {
      this.#db.close();
      throw err;
    }
  }

  #tx(fn: () => void): void {
    this.#db.exec('BEGIN');
    try {
      fn();
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  /** One sampling round, written in one transaction. */
  addSamples(ts: number, samples: readonly Sample[]): void {
    if (samples.length === 0) return;
    const st = this.#db.prepare('INSERT INTO samples (ts, device, outlet, power, watts, amps, volts, energy_wh) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    try {
      this.#tx(() => {
        for (const s of samples) st.run([ts, s.device, s.outlet, s.power, s.watts ?? null, s.amps ?? null, s.volts ?? null, s.energyWh ?? null]);
      });
    } finally {
      st.finalize();
    }
  }

  /** UPS readings taken at one moment, in one transaction. */
  addUpsSamples(ts: number, samples: readonly UpsSample[]): void {
    if (samples.length === 0) return;
    const st = this.#db.prepare('INSERT INTO ups_samples (ts, ups, power, stage, charge_pct, runtime_s, load_pct, input_volts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    try {
      this.#tx(() => {
        for (const s of samples) st.run([ts, s.ups, s.power, s.stage, s.chargePct, s.runtimeS, s.loadPct, s.inputVolts]);
      });
    } finally {
      st.finalize();
    }
  }

  addChange(ts: number, kind: 'outlet' | 'server' | 'device' | 'ups' | 'ups-stage', subject: string, value: string, previous: string | null, detail: string | null): void {
    this.#db.run('INSERT INTO changes (ts, kind, subject, value, previous, detail) VALUES (?, ?, ?, ?, ?, ?)', [ts, kind, subject, value, previous, detail]);
  }

  addAction(a: ActionRow): void {
    this.#db.run('INSERT OR REPLACE INTO actions (id, kind, origin, reason, targets, status, started, finished, ms, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
      a.id,
      a.kind,
      a.origin,
      a.reason,
      JSON.stringify(a.targets),
      a.status,
      a.startedAt,
      a.finishedAt,
      a.finishedAt - a.startedAt,
      a.error,
    ]);
  }

  /** Deletes everything older than `before` (ms); returns the rows removed. */
  prune(before: number): number {
    let n = 0;
    this.#tx(() => {
      n += this.#db.run('DELETE FROM samples WHERE ts < ?', [before]).changes;
      n += this.#db.run('DELETE FROM ups_samples WHERE ts < ?', [before]).changes;
      n += this.#db.run('DELETE FROM changes WHERE ts < ?', [before]).changes;
      n += this.#db.run('DELETE FROM actions WHERE finished < ?', [before]).changes;
    });
    return n;
  }

  /**
   * Samples from `from` to `to` (ms), averaged over buckets of `step` ms, per outlet or summed
   * per device. `device`/`outlet` narrow the selection.
   */
  series(o: { from: number; to: number; step: number; per: 'outlet' | 'device'; device?: string | undefined; outlet?: number | undefined }): Series[] {
    const where = ['ts >= :from', 'ts <= :to'];
    const values: Record<string, number | string> = { ':from': o.from, ':to': o.to, ':step': o.step };
    if (o.device !== undefined) {
      where.push('device = :device');
      values[':device'] = o.device;
    }
    if (o.outlet !== undefined) {
      where.push('outlet = :outlet');
      values[':outlet'] = o.outlet;
    }
    const perOutlet = `SELECT device, outlet, (ts / :step) * :step AS t, avg(watts) AS watts, avg(amps) AS amps, avg(volts) AS volts,
        max(energy_wh) AS energy_wh, avg(CASE power WHEN 'on' THEN 1.0 WHEN 'off' THEN 0.0 END) AS on_
      FROM samples WHERE ${where.join(' AND ')} GROUP BY device, outlet, t`;
    const sql =
      o.per === 'outlet'
        ? `${perOutlet} ORDER BY device, outlet, t`
        : `SELECT device, NULL AS outlet, t, sum(watts) AS watts, sum(amps) AS amps, avg(volts) AS volts, sum(energy_wh) AS energy_wh, avg(on_) AS on_
           FROM (${perOutlet}) GROUP BY device, t ORDER BY device, t`;
    const rows = this.#db.all(sql, values) as { device: string; outlet: number | null; t: number; watts: number | null; amps: number | null; volts: number | null; energy_wh: number | null; on_: number | null }[];
    const out: { device: string; outlet: number | null; points: Point[] }[] = [];
    for (const r of rows) {
      let cur = out.at(-1);
      if (!cur || cur.device !== r.device || cur.outlet !== r.outlet) out.push((cur = { device: r.device, outlet: r.outlet, points: [] }));
      cur.points.push({ t: Number(r.t), watts: round(r.watts), amps: round(r.amps), volts: round(r.volts), energyWh: round(r.energy_wh), on: round(r.on_) });
    }
    return out;
  }

  /** UPS samples from `from` to `to` (ms) in buckets of `step` ms, per UPS (`ups` narrows to one). */
  upsSeries(o: { from: number; to: number; step: number; ups?: string | undefined }): UpsSeries[] {
    const values: Record<string, number | string> = { ':from': o.from, ':to': o.to, ':step': o.step };
    if (o.ups !== undefined) values[':ups'] = o.ups;
    // A silent source's samples carry no values (avg skips the NULLs) and count only in `silent`.
    const rows = this.#db.all(
      `SELECT ups, (ts / :step) * :step AS t, avg(charge_pct) AS charge, avg(runtime_s) AS runtime, avg(load_pct) AS load, avg(input_volts) AS volts,
         avg(CASE power WHEN 'unknown' THEN NULL WHEN 'battery' THEN 1.0 ELSE 0.0 END) AS battery,
         avg(CASE power WHEN 'unknown' THEN 1.0 ELSE 0.0 END) AS silent
       FROM ups_samples WHERE ts >= :from AND ts <= :to${o.ups !== undefined ? ' AND ups = :ups' : ''}
       GROUP BY ups, t ORDER BY ups, t`,
      values,
    ) as { ups: string; t: number; charge: number | null; runtime: number | null; load: number | null; volts: number | null; battery: number | null; silent: number }[];
    const out: { ups: string; points: UpsPoint[] }[] = [];
    for (const r of rows) {
      let cur = out.at(-1);
      if (!cur || cur.ups !== r.ups) out.push((cur = { ups: r.ups, points: [] }));
      cur.points.push({ t: Number(r.t), chargePct: round(r.charge), runtimeS: round(r.runtime), loadPct: round(r.load), inputVolts: round(r.volts), onBattery: round(r.battery), silent: round(r.silent) ?? 0 });
    }
    return out;
  }

  changes(o: { from: number; to: number; limit: number; subject?: string | undefined }): Change[] {
    const where = ['ts >= :from', 'ts <= :to'];
    const values: Record<string, number | string> = { ':from': o.from, ':to': o.to, ':limit': o.limit };
    if (o.subject !== undefined) {
      where.push('subject = :subject');
      values[':subject'] = o.subject;
    }
    const rows = this.#db.all(`SELECT ts, kind, subject, value, previous, detail FROM changes WHERE ${where.join(' AND ')} ORDER BY ts DESC, rowid DESC LIMIT :limit`, values) as unknown as Change[];
    return rows.map((r) => ({ ...r, ts: Number(r.ts) }));
  }

  actions(o: { from: number; to: number; limit: number }): (Omit<ActionRow, 'targets'> & { targets: string[]; ms: number })[] {
    const rows = this.#db.all('SELECT * FROM actions WHERE finished >= :from AND finished <= :to ORDER BY finished DESC LIMIT :limit', {
      ':from': o.from,
      ':to': o.to,
      ':limit': o.limit,
    }) as { id: string; kind: string; origin: string; reason: string; targets: string; status: string; started: number; finished: number; ms: number; error: string | null }[];
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      origin: r.origin,
      reason: r.reason,
      targets: JSON.parse(r.targets) as string[],
      status: r.status,
      startedAt: Number(r.started),
      finishedAt: Number(r.finished),
      ms: Number(r.ms),
      error: r.error,
    }));
  }

  stats(): { samples: number; upsSamples: number; changes: number; actions: number; oldest: number | null; newest: number | null } {
    const c = (t: string): number => Number((this.#db.get(`SELECT count(*) AS n FROM ${t}`) as { n: number }).n);
    const r = this.#db.get('SELECT min(ts) AS oldest, max(ts) AS newest FROM samples') as { oldest: number | null; newest: number | null };
    return { samples: c('samples'), upsSamples: c('ups_samples'), changes: c('changes'), actions: c('actions'), oldest: r.oldest === null ? null : Number(r.oldest), newest: r.newest === null ? null : Number(r.newest) };
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

const round = (x: number | null): number | null => (x === null ? null : Math.round(x * 1000) / 1000);
