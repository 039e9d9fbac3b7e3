/**
 * One UPS, watched: polls its source, tells the faces what it reads, and carries out its
 * policy (policy.ts) through the gateway like any face: every stage is an ordinary sequenced
 * action with origin `ups:NAME`, journaled with the event it belongs to. It never reaches a
 * driver of an outlet.
 *
 * Under fault:
 *  - a source that does not answer is `unknown` with an alarm: no stage starts on it, and the
 *    clocks of the event go on from what was last known;
 *  - the journal is the event's memory: a daemon restarted mid-event reads which stages ran
 *    and which servers were on before the cut, and goes on from the current states (a stage
 *    interrupted by the restart runs again as a sequenced action, which skips every server
 *    already where it should be: no write is repeated);
 *  - a stage that cannot be asked for (journal unwritable) is asked again at the next poll.
 */
import type { Logger } from 'pino';
import { OckleError, toOckleError } from '../errors.js';
import type { EventBus } from '../core/event-bus.js';
import type { ActionEvent, ActionRecord, ActionRequest, OckleEvents, Plan, ServerStatus, UpsStatus } from '../core/model.js';
import type { UpsReading, UpsSource } from '../../drivers/types.js';
import { monotonicNow } from '../timers.js';
import { decide, lowBatteryStage, readingWords, restoreStage, tierStage, tiers, isOn, type Decision, type EventState, type Policy, type ServerFacts } from './policy.js';

/** What a UPS monitor needs of the gateway (the daemon's Runtime is one). */
export interface UpsPort {
  readonly events: EventBus<OckleEvents>;
  servers(): readonly ServerStatus[];
  request(req: ActionRequest): ActionRecord;
  cancel(id: string, origin: string): ActionRecord;
  waitFor(id: string, signal?: AbortSignal): Promise<ActionRecord>;
  actions(query: { limit?: number; source?: string }): readonly ActionRecord[];
  plan(kind: 'on' | 'off', targets: readonly string[] | 'all'): Plan;
  /** Journals a record that switches nothing (kind `ups`): an event began, mains came back, it ended. */
  journalNote(n: { readonly kind: 'ups'; readonly origin: string; readonly reason: string; readonly targets: readonly string[]; readonly event: ActionEvent; readonly steps?: readonly string[]; readonly status?: 'ok' | 'failed' }): ActionRecord;
}

export interface UpsMonitorOptions {
  readonly name: string;
  readonly type: string;
  readonly description: string;
  readonly source: UpsSource;
  readonly policy: Policy;
  /** shed_priority per server (from the server files). */
  readonly shedPriority: (server: string) => number | null;
  readonly pollIntervalMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly port: UpsPort;
  readonly log: Logger;
  readonly now?: () => number;
}

/** A power event's id: `e` + base36 ms + random, unique across restarts. */
export function newEventId(): string {
  return `e${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36).padStart(3, '0')}`;
}

/** After the final stage, a NUT secondary logs out so the primary can cut the UPS; it logs in again this much later. */
const RELEASE_HOLD_MS = 60_000;

/** One planned stage, for `ockle plan ups NAME`. */
export interface UpsPlanStage {
  readonly stage: string;
  readonly kind: 'on' | 'off' | 'fsd';
  /** When it would run, in words. */
  readonly when: string;
  readonly servers: readonly string[];
  readonly held: readonly { readonly server: string; readonly why: string }[];
  readonly waves: readonly (readonly string[])[];
}

export class UpsMonitor {
  readonly name: string;
  readonly origin: string;
  readonly #o: UpsMonitorOptions;
  readonly #now: () => number;
  readonly #closing = new AbortController();
  #opened = false;
  #reading: UpsReading | null = null;
  #error: string | null = null;
  #lastReadAt: string | null = null;
  #power: UpsStatus['power'] = 'unknown';
  #powerSinceWall: string | null = null;
  #onBatterySince: number | null = null;
  #mainsSince: number | null = null;
  #event: EventState | null = null;
  #running: { stage: string; actionId: string } | null = null;
  #cancelling = false;
  #released: number | null = null;
  #last: Decision | null = null;
  #pollTimer: NodeJS.Timeout | null = null;
  #wakeTimer: NodeJS.Timeout | null = null;
  #lastEmitted = '';
  #ticking = false;
  #tickAgain = false;
  #polling: Promise<void> | null = null;

  constructor(o: UpsMonitorOptions) {
    this.#o = o;
    this.name = o.name;
    this.origin = `ups:${o.name}`;
    this.#now = o.now ?? monotonicNow;
  }

  get source(): UpsSource {
    return this.#o.source;
  }

  /** Reads the event back from the journal, then polls. Never switches anything by itself: only a stage does. */
  start(): void {
    this.#resume();
    this.#schedulePoll(0);
  }

  async close(): Promise<void> {
    this.#closing.abort(new OckleError('OCKLE_OPERATION_ABORTED', `UPS ${this.name} monitor stopping`));
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    if (this.#wakeTimer) clearTimeout(this.#wakeTimer);
    await this.#polling?.catch(() => undefined);
    await this.#o.source.close().catch(() => undefined);
  }

  // ── polling ──────────────────────────────────────────────────────────────────────────

  #schedulePoll(ms: number): void {
    if (this.#closing.signal.aborted) return;
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => {
      this.#polling = this.poll().finally(() => {
        this.#polling = null;
        this.#schedulePoll(this.#o.pollIntervalMs);
      });
    }, ms);
  }

  /** One poll: read (opening the source first when needed), then let the policy act. */
  async poll(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    if (this.#released !== null && this.#now() - this.#released < RELEASE_HOLD_MS) return;
    if (this.#released !== null) {
      this.#released = null;
      this.#opened = false;
    }
    let reading: UpsReading | null = null;
    let error: string | null = null;
    for (let attempt = 0; attempt <= this.#o.retries && !this.#closing.signal.aborted; attempt++) {
      const signal = AbortSignal.any([this.#closing.signal, AbortSignal.timeout(this.#o.timeoutMs)]);
      try {
        if (!this.#opened) {
          await this.#o.source.open(signal);
          this.#opened = true;
        }
        reading = await this.#o.source.read(signal);
        error = null;
        break;
      } catch (err) {
        if (this.#closing.signal.aborted) return;
        const e = toOckleError(err);
        error = e.code === 'OCKLE_OPERATION_ABORTED' ? `no answer within ${this.#o.timeoutMs} ms` : e.message;
        // A reply error (credentials refused, unknown UPS) will not go away by asking again now.
        if (e.code === 'OCKLE_DEVICE_REPLY') this.#opened = false;
      }
    }
    this.#take(reading, error);
    this.tick();
  }

  #take(reading: UpsReading | null, error: string | null): void {
    const now = this.#now();
    if (reading) this.#lastReadAt = new Date().toISOString();
    const wasSilent = this.#error !== null;
    this.#error = error;
    if (error && !wasSilent) this.#o.log.warn({ ups: this.name, err: error }, 'UPS source silent: its state is unknown, no stage starts on it');
    if (!error && wasSilent) this.#o.log.info({ ups: this.name }, 'UPS source answers again');
    // Silent: the last reading stays known history, but the power is unknown.
    if (reading) this.#reading = reading;
    const power = error ? 'unknown' : (reading?.power ?? 'unknown');
    if (power !== this.#power) {
      if (power !== 'unknown') this.#o.log.info({ ups: this.name, power, previous: this.#power, reading: readingWords(reading) }, 'UPS power changed');
      this.#power = power;
      this.#powerSinceWall = new Date().toISOString();
    }
    // The clocks of the cut only move on a real answer: silence neither starts nor ends one.
    if (!error && reading) {
      if (reading.power === 'battery') {
        this.#mainsSince = null;
        if (this.#onBatterySince === null) this.#onBatterySince = reading.onBatteryS !== undefined && this.#event?.cutActive ? now - reading.onBatteryS * 1000 : now;
      } else {
        this.#onBatterySince = null;
        if (this.#mainsSince === null) this.#mainsSince = now;
      }
    }
  }

  // ── the policy ───────────────────────────────────────────────────────────────────────

  #facts(): Map<string, ServerFacts> {
    return new Map(
      this.#o.port.servers().map((s) => [
        s.name,
        { name: s.name, state: s.state, dependencies: s.dependencies, dependents: s.dependents, shedPriority: this.#o.shedPriority(s.name), paused: s.paused !== null },
      ]),
    );
  }

  #decide(): Decision {
    return decide(this.#o.policy, {
      now: this.#now(),
      reading: this.#error ? null : this.#reading,
      onBatterySince: this.#onBatterySince,
      mainsSince: this.#mainsSince,
      event: this.#event,
      running: this.#running?.stage ?? null,
      servers: this.#facts(),
      released: this.#released !== null,
      canFsd: typeof this.#o.source.forcedShutdown === 'function',
    });
  }

  /** Applies decisions until the policy says to wait. Re-entrant calls coalesce. */
  tick(): void {
    if (this.#closing.signal.aborted) return;
    if (this.#ticking) {
      this.#tickAgain = true;
      return;
    }
    this.#ticking = true;
    try {
      for (let i = 0; i < 50; i++) {
        this.#tickAgain = false;
        const d = this.#decide();
        this.#last = d;
        if (d.do === 'wait') {
          this.#arm(d.wakeAt);
          if (!this.#tickAgain) break;
          continue;
        }
        if (!this.#apply(d)) break;
      }
    } finally {
      this.#ticking = false;
    }
    this.#emitIfChanged();
  }

  #arm(at: number | null): void {
    if (this.#wakeTimer) clearTimeout(this.#wakeTimer);
    this.#wakeTimer = null;
    if (at === null || this.#closing.signal.aborted) return;
    this.#wakeTimer = setTimeout(() => this.tick(), Math.max(0, at - this.#now()) + 5);
  }

  #stage(stage: string, status: OckleEvents['ups.stage']['status'], detail: string, actionId: string | null = null): void {
    this.#o.log.info({ ups: this.name, event: this.#event?.id ?? null, stage, status, actionId }, `UPS ${this.name} ${stage} ${status}: ${detail}`);
    this.#o.port.events.emit('ups.stage', { ups: this.name, event: this.#event?.id ?? null, stage, status, detail, actionId });
  }

  #note(stage: string, reason: string, targets: readonly string[], extra: Partial<ActionEvent> = {}, status: 'ok' | 'failed' = 'ok', steps: readonly string[] = []): ActionRecord | null {
    const ev = this.#event;
    if (!ev) return null;
    try {
      return this.#o.port.journalNote({ kind: 'ups', origin: this.origin, reason, targets, status, steps, event: { source: this.origin, id: ev.id, cut: ev.cut, stage, ...extra } });
    } catch (err) {
      this.#o.log.error({ ups: this.name, stage, err: toOckleError(err).message }, 'UPS event could not be journaled');
      return null;
    }
  }

  /** Carries out one decision; false: stop for now (an action is running, or it could not be asked). */
  #apply(d: Exclude<Decision, { do: 'wait' }>): boolean {
    switch (d.do) {
      case 'begin': {
        let rec: ActionRecord;
        try {
          rec = this.#o.port.journalNote({
            kind: 'ups',
            origin: this.origin,
            reason: d.reason,
            targets: d.wasOn,
            steps: [`on before the cut: ${d.wasOn.join(', ') || 'none'}`],
            event: { source: this.origin, id: newEventId(), cut: 1, stage: 'start', wasOn: d.wasOn },
          });
        } catch (err) {
          // No journal, no event: the policy's memory would be lost at a restart. Asked again at the next poll.
          this.#o.log.error({ ups: this.name, err: toOckleError(err).message }, 'UPS event cannot begin: the journal cannot be written');
          return false;
        }
        this.#event = { id: rec.event!.id, startedAt: rec.requestedAt, wasOn: d.wasOn, cut: 1, cutActive: true, done: new Map(), lastStageEndedAt: null };
        this.#stage('start', 'info', d.reason, rec.id);
        return true;
      }
      case 'new-cut': {
        const ev = this.#event!;
        ev.cut++;
        ev.cutActive = true;
        ev.done.clear();
        ev.lastStageEndedAt = null;
        this.#note('cut', d.reason, []);
        this.#stage('cut', 'info', d.reason);
        return true;
      }
      case 'mains-back': {
        const ev = this.#event!;
        ev.cutActive = false;
        this.#note('mains-back', d.reason, []);
        this.#stage('mains-back', 'info', d.reason);
        return true;
      }
      case 'end': {
        this.#note('end', d.reason, []);
        this.#stage('end', 'info', d.reason);
        this.#event = null;
        return true;
      }
      case 'skip': {
        this.#event!.done.set(d.stage, 'skipped');
        this.#stage(d.stage, 'skipped', d.reason);
        return true;
      }
      case 'cancel': {
        if (this.#cancelling || !this.#running) return false;
        this.#cancelling = true;
        this.#stage(this.#running.stage, 'cancelled', d.reason, this.#running.actionId);
        try {
          this.#o.port.cancel(this.#running.actionId, this.origin);
        } catch (err) {
          this.#o.log.error({ ups: this.name, err: toOckleError(err).message }, 'UPS stage could not be cancelled');
        }
        return false;
      }
      case 'stage':
        return this.#runStage(d);
      case 'fsd':
        void this.#fsd(d.reason);
        return false;
      case 'release': {
        this.#released = this.#now();
        this.#opened = false;
        this.#stage('release', 'info', d.reason);
        void this.#o.source.close().catch(() => undefined);
        return true;
      }
    }
  }

  #runStage(d: Extract<Decision, { do: 'stage' }>): boolean {
    const ev = this.#event!;
    const port = this.#o.port;
    const kept = d.held.length > 0 ? `; kept: ${d.held.map((h) => `${h.server} (${h.why})`).join(', ')}` : '';
    if (d.stage === 'low-battery') {
      // The battery decides now: other actions on these servers (an operator's on, a keep-alive) give way.
      const mine = new Set(d.targets);
      for (const id of new Set(port.servers().flatMap((s) => (s.actionId && mine.has(s.name) ? [s.actionId] : []))))
        try {
          port.cancel(id, this.origin);
        } catch {
          // already ended
        }
    }
    let rec: ActionRecord;
    try {
      rec = port.request({
        kind: d.kind,
        targets: d.targets,
        force: false,
        queue: true,
        origin: this.origin,
        reason: `${d.reason}${kept}`,
        event: { source: this.origin, id: ev.id, cut: ev.cut, stage: d.stage },
      });
    } catch (err) {
      const e = toOckleError(err);
      this.#stage(d.stage, 'failed', `could not be asked for: ${e.message} (asked again at the next poll)`);
      return false;
    }
    this.#running = { stage: d.stage, actionId: rec.id };
    this.#stage(d.stage, 'started', `${d.kind} ${d.targets.join(', ')}${kept}`, rec.id);
    void port.waitFor(rec.id, this.#closing.signal).then((fin) => {
      if (fin.status === 'running') return; // closing
      this.#running = null;
      this.#cancelling = false;
      const ended = this.#event && this.#event.id === ev.id;
      if ((fin.status === 'ok' || fin.status === 'failed') && ended) {
        ev.done.set(d.stage, fin.status);
        ev.lastStageEndedAt = this.#now();
      }
      this.#stage(d.stage, fin.status === 'interrupted' ? 'cancelled' : fin.status, fin.error ? `${fin.error.code}: ${fin.error.message}` : `${d.kind} ${d.targets.join(', ')}`, rec.id);
      this.tick();
    });
    return false;
  }

  async #fsd(reason: string): Promise<void> {
    const ev = this.#event!;
    const signal = AbortSignal.any([this.#closing.signal, AbortSignal.timeout(this.#o.timeoutMs)]);
    this.#running = { stage: 'fsd', actionId: '' };
    let status: 'ok' | 'failed' = 'ok';
    let detail = reason;
    try {
      await this.#o.source.forcedShutdown!(signal);
    } catch (err) {
      status = 'failed';
      detail = `FSD refused: ${toOckleError(err).message}`;
    }
    this.#running = null;
    if (this.#closing.signal.aborted) return;
    ev.done.set('fsd', status);
    const rec = this.#note('fsd', detail, [], {}, status);
    this.#stage('fsd', status, detail, rec?.id ?? null);
    this.tick();
  }

  /** Rebuilds an open event from the journal (a restart mid-event). */
  #resume(): void {
    // Its own records only: a busy lab journals thousands of other actions during a long cut.
    const mine = this.#o.port.actions({ limit: 1000, source: this.origin });
    const newest = mine[0]?.event;
    if (!newest) return;
    const all = mine.filter((a) => a.event?.id === newest.id);
    const start = all.find((a) => a.event?.stage === 'start');
    if (!start || all.some((a) => a.event?.stage === 'end')) return;
    const cut = Math.max(...all.map((a) => a.event!.cut));
    const inCut = all.filter((a) => a.event!.cut === cut);
    const done = new Map<string, 'ok' | 'failed' | 'skipped'>();
    let lastEnd: string | null = null;
    for (const a of [...inCut].reverse()) {
      const st = a.event!.stage;
      if (a.kind !== 'ups' && (a.status === 'ok' || a.status === 'failed')) {
        done.set(st, a.status);
        if (a.finishedAt && (!lastEnd || a.finishedAt > lastEnd)) lastEnd = a.finishedAt;
      }
      if (st === 'fsd') done.set('fsd', a.status === 'ok' ? 'ok' : 'failed');
    }
    const mainsBack = inCut.some((a) => a.event!.stage === 'mains-back');
    const ago = lastEnd ? Math.max(0, Date.now() - Date.parse(lastEnd)) : null;
    this.#event = {
      id: newest.id,
      startedAt: start.requestedAt,
      wasOn: start.event!.wasOn ?? start.targets,
      cut,
      cutActive: !mainsBack,
      done,
      lastStageEndedAt: ago === null ? null : this.#now() - ago,
    };
    const detail = `event ${newest.id} resumed from the journal: cut ${cut}, done: ${[...done.keys()].join(', ') || 'nothing yet'}`;
    this.#o.log.info({ ups: this.name }, detail);
    this.#stage('resume', 'info', detail);
  }

  // ── faces ────────────────────────────────────────────────────────────────────────────

  status(): UpsStatus {
    const r = this.#reading;
    const d = this.#last;
    const ev = this.#event;
    const stage: UpsStatus['stage'] =
      d?.do === 'wait' ? d.stage : this.#running ? (this.#running.stage === 'restore' ? 'restoring' : this.#running.stage === 'low-battery' ? 'low-battery' : 'shedding') : this.#power === 'unknown' ? 'unknown' : 'normal';
    const silent = this.#error !== null || this.#reading === null;
    return {
      name: this.name,
      type: this.#o.type,
      description: this.#o.description,
      power: this.#power,
      lowBattery: !silent && (r?.lowBattery ?? false),
      forcedShutdown: !silent && (r?.forcedShutdown ?? false),
      chargePct: r?.chargePct ?? null,
      runtimeS: r?.runtimeS ?? null,
      loadPct: r?.loadPct ?? null,
      inputVolts: r?.inputVolts ?? null,
      flags: silent ? [] : (r?.flags ?? []),
      alarms: [...(this.#error ? [`source silent: ${this.#error}`] : []), ...(silent ? [] : (r?.alarms ?? []))],
      error: this.#error ?? (this.#reading === null ? 'not read yet' : null),
      lastReadAt: this.#lastReadAt,
      powerSince: this.#powerSinceWall,
      stage,
      detail: d ? (d.do === 'wait' ? d.detail : `${d.do}: ${'reason' in d ? d.reason : ''}`) : 'starting',
      event: ev ? { id: ev.id, cut: ev.cut, startedAt: ev.startedAt, wasOn: ev.wasOn, done: [...ev.done.keys()] } : null,
      actionId: this.#running?.actionId || null,
      servers: this.#o.policy.servers,
    };
  }

  #emitIfChanged(): void {
    const s = this.status();
    const key = JSON.stringify([s.power, s.lowBattery, s.forcedShutdown, s.chargePct === null ? null : Math.round(s.chargePct), s.runtimeS === null ? null : Math.round(s.runtimeS / 60), s.loadPct, s.flags, s.alarms, s.error, s.stage, s.event?.cut, s.event?.done.length, s.actionId]);
    if (key === this.#lastEmitted) return;
    this.#lastEmitted = key;
    this.#o.port.events.emit('ups.changed', { ups: s });
  }

  /**
   * What each stage would do now, computed from the current states without doing anything:
   * the tiers, the low-battery stage and the restore, each with its servers, what it keeps and
   * the waves the sequencer would run.
   */
  plan(): UpsPlanStage[] {
    const p = this.#o.policy;
    const facts = this.#facts();
    const now = new Map(facts);
    // Each stage as it would find the lab after the stages before it (their servers off).
    const wentOff = (servers: readonly string[]): void => {
      for (const n of servers) facts.set(n, { ...facts.get(n)!, state: 'OFF' });
    };
    // Waves within the stage's own servers, from the lab as that stage would find it: off,
    // dependents first; on, dependencies first (the sequencer's order).
    const waves = (kind: 'on' | 'off', servers: readonly string[]): string[][] => {
      const set = new Set(servers);
      const level = new Map<string, number>();
      const depth = (n: string): number => {
        const known = level.get(n);
        if (known !== undefined) return known;
        const f = facts.get(n) ?? now.get(n);
        const before = (kind === 'off' ? f?.dependents : f?.dependencies) ?? [];
        const d = 1 + Math.max(0, ...before.filter((x) => set.has(x)).map(depth));
        level.set(n, d);
        return d;
      };
      const out: string[][] = [];
      for (const n of servers) (out[depth(n) - 1] ??= []).push(n);
      return out.filter(Boolean);
    };
    const out: UpsPlanStage[] = [];
    const delay = `${Math.round(p.onBatteryDelayMs / 1000)} s`;
    for (const [i, k] of tiers(p, facts).entries()) {
      const { targets, held } = tierStage(p, facts, k);
      out.push({
        stage: `tier-${k}`,
        kind: 'off',
        when: i === 0 ? `on battery for ${delay}` : `${Math.round(p.tierIntervalMs / 1000)} s after the previous tier ends`,
        servers: targets,
        held: [...held].map(([server, why]) => ({ server, why })),
        waves: waves('off', targets),
      });
      wentOff(targets);
    }
    const low = lowBatteryStage(p, facts);
    const triggers = ['the UPS says LB', p.minRuntimeMs > 0 && `runtime < ${Math.round(p.minRuntimeMs / 1000)} s`, p.minChargePct > 0 && `charge < ${p.minChargePct} %`, 'FSD'].filter(Boolean).join(', or ');
    out.push({ stage: 'low-battery', kind: 'off', when: `on battery and ${triggers}`, servers: low.targets, held: [...low.held].map(([server, why]) => ({ server, why })), waves: waves('off', low.targets) });
    if (p.fsd) out.push({ stage: 'fsd', kind: 'fsd', when: 'after the low-battery stage', servers: [], held: [], waves: [] });
    if (p.restore) {
      // Open event: what it remembers; none: what is on now (what a cut starting now would remember).
      const wasOn = this.#event?.wasOn ?? p.servers.filter((n) => now.has(n) && isOn(now.get(n)!.state));
      const r = restoreStage(wasOn, now);
      const servers = this.#event ? r.targets : wasOn;
      out.push({
        stage: 'restore',
        kind: 'on',
        when: `mains back for ${Math.round(p.restoreDelayMs / 1000)} s${p.restoreMinChargePct > 0 ? ` and charge ≥ ${p.restoreMinChargePct} %` : ''}${this.#event ? '' : ' (no cut now: these are the servers on now, which a cut now would bring back)'}`,
        servers,
        held: [...r.held].map(([server, why]) => ({ server, why })),
        waves: this.#event ? waves('on', servers) : [],
      });
    }
    return out;
  }
}
