/**
 * UPSes on the dashboard: the banner above every view while a UPS is on battery, silent or in a
 * power event; a card per UPS on the Power tab; and the UPS view (`#/ups/NAME`) with its
 * readings, where its policy stands, the open event (stages done, what the restore brings back),
 * what each stage would do now (GET /api/ups/NAME/plan) and the charge and load history the
 * logger recorded (`logger.ups`). Everything follows `ups.changed` and `ups.stage` (store.ts).
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { UpsStatus } from '../../core/model.js';
import { api, ApiError } from '../api.js';
import { ago } from '../states.js';
import { can, useStore } from '../store.js';
import { TimeChart } from './time-chart.js';
import { ActionPanel } from './common.js';

const POWER: Record<UpsStatus['power'], string> = {
  mains: 'on mains',
  battery: 'on battery',
  bypass: 'on bypass',
  off: 'output off',
  unknown: 'silent (state unknown)',
};
const STAGE: Record<UpsStatus['stage'], string> = {
  normal: 'normal',
  unknown: 'unknown',
  'on-battery': 'on battery, waiting out a flicker',
  shedding: 'shedding load',
  'low-battery': 'low battery: shutting down',
  'waiting-for-mains': 'mains back, waiting to restore',
  restoring: 'restoring',
};
/** The state colour a power is shown in. */
const POWER_CLASS: Record<UpsStatus['power'], string> = { mains: 'st-ok', battery: 'st-failed', bypass: 'st-switching', off: 'st-off', unknown: 'st-unknown' };

const pct = (x: number | null): string => (x === null ? '–' : `${Math.round(x)} %`);
const runtime = (s: number | null): string => (s === null ? '–' : s < 120 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);
const upsLink = (name: string): string => `#/ups/${encodeURIComponent(name)}`;

/** Whether a UPS needs the banner: on battery, silent, or in a power event (mains back included). */
const needsBanner = (u: UpsStatus): boolean => u.power === 'battery' || u.power === 'unknown' || u.event !== null;

/** Above every view: one line per UPS that is on battery, silent or in an event. */
export function UpsBanner() {
  const st = useStore();
  const shown = st.ups.filter(needsBanner);
  if (shown.length === 0) return null;
  return (
    <div class="ups-banners">
      {shown.map((u) => (
        <div class={`ups-banner ${POWER_CLASS[u.power]}`} role="status" data-ups={u.name} data-power={u.power} data-stage={u.stage}>
          <p>
            <b>UPS {u.name}</b> <span class="ups-power">{POWER[u.power]}</span>
            {u.power !== 'unknown' && (
              <>
                {' '}
                · charge <span data-charge>{pct(u.chargePct)}</span> · runtime <span data-runtime>{runtime(u.runtimeS)}</span>
              </>
            )}{' '}
            · stage <b data-stage-label>{STAGE[u.stage]}</b>: <bdi data-detail>{u.detail}</bdi>
          </p>
          {u.alarms.length > 0 && (
            <p class="ups-alarms">
              <bdi>{u.alarms.join(' · ')}</bdi>
            </p>
          )}
          <a class="ups-open" href={upsLink(u.name)}>
            Open the UPS view
          </a>
        </div>
      ))}
    </div>
  );
}

/** The Power tab's UPS cards (nothing when no UPS is configured). */
export function UpsCards() {
  const st = useStore();
  if (st.ups.length === 0) return null;
  return (
    <section class="ups-cards">
      <h2>UPS</h2>
      <div class="ups-card-list">
        {st.ups.map((u) => (
          <a class="ups-card" href={upsLink(u.name)} data-ups={u.name}>
            <b>{u.name}</b> <span class={`pill ${POWER_CLASS[u.power]}`}>{POWER[u.power]}</span>
            <span class="meta">
              charge {pct(u.chargePct)} · runtime {runtime(u.runtimeS)} · load {pct(u.loadPct)} · {STAGE[u.stage]}
            </span>
          </a>
        ))}
      </div>
    </section>
  );
}

/** What GET /api/ups/NAME/plan answers (src/ups/monitor.ts `UpsPlanStage`). */
interface PlanStage {
  readonly stage: string;
  readonly kind: 'on' | 'off' | 'fsd';
  readonly when: string;
  readonly servers: readonly string[];
  readonly held: readonly { readonly server: string; readonly why: string }[];
  readonly waves: readonly (readonly string[])[];
}
interface UpsPoint {
  readonly t: number;
  readonly chargePct: number | null;
  readonly loadPct: number | null;
  /** Fraction of the bucket's answered samples on battery (null: the source was silent). */
  readonly onBattery: number | null;
}
const RANGES = [
  ['1h', 'hour'],
  ['1d', 'day'],
  ['7d', 'week'],
] as const;

/** `#/ups/NAME`: one UPS in full. */
export function UpsView({ name }: { name: string }) {
  const st = useStore();
  const u = st.ups.find((x) => x.name === name);
  if (!u)
    return (
      <section class="ups-view">
        <h2>UPS {name}</h2>
        <p>
          No UPS named <bdi>{name}</bdi>.{' '}
          {st.ups.length ? (
            <>
              Configured:{' '}
              {st.ups.map((x) => (
                <a href={upsLink(x.name)}>{x.name} </a>
              ))}
            </>
          ) : (
            'No UPS is configured (config/ups/NAME.ini; docs/ups.md).'
          )}
        </p>
      </section>
    );
  const states = new Map(st.servers.map((s) => [s.name, s.state]));
  const silent = u.power === 'unknown';
  return (
    <section class="ups-view" data-ups={u.name} data-power={u.power} data-stage={u.stage}>
      <h2>
        UPS {u.name} <small>{u.type}</small> <span class={`pill ${POWER_CLASS[u.power]}`}>{POWER[u.power]}</span>
      </h2>
      {u.description && (
        <p class="meta">
          <bdi>{u.description}</bdi>
        </p>
      )}
      {u.error && u.power === 'unknown' && (
        <p class="error">
          <bdi>{u.error}</bdi>
        </p>
      )}
      <table class="ups-readings">
        <tbody>
          <tr>
            <th>Power</th>
            <td>
              {POWER[u.power]}
              {u.powerSince && <span class="meta"> since {new Date(u.powerSince).toLocaleTimeString()}</span>}
            </td>
          </tr>
          {(
            [
              ['Charge', pct(u.chargePct)],
              ['Runtime', runtime(u.runtimeS)],
              ['Load', pct(u.loadPct)],
              ['Input', u.inputVolts === null ? '–' : `${u.inputVolts} V`],
            ] as const
          ).map(([k, v]) => (
            <tr data-reading={k}>
              <th>{k}</th>
              {/* A silent source's values are the last it gave: said so, never shown as current. */}
              <td class={silent ? 'meta' : ''}>
                {v}
                {silent && v !== '–' && ' (last known)'}
              </td>
            </tr>
          ))}
          <tr>
            <th>Flags</th>
            <td>{u.flags.join(' ') || '–'}</td>
          </tr>
          <tr>
            <th>Alarms</th>
            <td class={u.alarms.length ? 'error' : ''}>
              <bdi>{u.alarms.join(' · ') || 'none'}</bdi>
            </td>
          </tr>
          <tr>
            <th>Last read</th>
            <td>{ago(u.lastReadAt)}</td>
          </tr>
          <tr>
            <th>Feeds</th>
            <td>{u.servers.join(', ') || 'every server'}</td>
          </tr>
        </tbody>
      </table>

      <h3>Policy</h3>
      <p data-policy>
        <b>{STAGE[u.stage]}</b>: <bdi>{u.detail}</bdi>
      </p>
      {u.actionId && <ActionPanel id={u.actionId} canCancel={can(st.me, 'operator')} />}

      <h3>Power event</h3>
      {u.event ? (
        <div class="ups-event" data-event={u.event.id}>
          <p class="meta">
            {u.event.id} · began {new Date(u.event.startedAt).toLocaleTimeString()} · cut {u.event.cut}
          </p>
          <p>
            Stages done:{' '}
            {u.event.done.length ? (
              u.event.done.map((d) => (
                <span class="chip st-ok" data-done={d}>
                  {d}
                </span>
              ))
            ) : (
              <span class="meta">none yet</span>
            )}
          </p>
          <p>
            On when it began (what the restore brings back, and only these):{' '}
            {u.event.wasOn.map((n) => (
              <a class={`chip ${states.get(n) === 'OK' ? 'st-ok' : 'st-off'}`} href={`#/server/${encodeURIComponent(n)}`} data-was-on={n}>
                {n}
              </a>
            ))}
          </p>
          <p data-restore-brings>
            The restore brings back now: <b>{u.event.wasOn.filter((n) => states.get(n) !== 'OK').join(', ') || 'nothing (all of them are on)'}</b>
          </p>
        </div>
      ) : (
        <p class="meta">No power event is open.</p>
      )}

      <UpsPlan name={u.name} stage={u.stage} />
      <UpsHistory name={u.name} />
    </section>
  );
}

/** What each stage would do now; re-read when a stage moves or a server changes state. */
function UpsPlan({ name, stage }: { name: string; stage: string }) {
  const st = useStore();
  const [plan, setPlan] = useState<PlanStage[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const states = st.servers.map((s) => `${s.name}=${s.state}`).join();
  useEffect(() => {
    let stale = false;
    api<{ stages: PlanStage[] }>('GET', `/api/ups/${encodeURIComponent(name)}/plan`).then(
      (r) => !stale && (setPlan(r.stages), setError(null)),
      (err: unknown) => !stale && setError((err as Error).message),
    );
    return () => void (stale = true);
  }, [name, stage, st.upsTicks, states]);
  return (
    <>
      <h3>Plan: what each stage would do now</h3>
      {error && <p class="error">{error}</p>}
      {plan && plan.length === 0 && <p class="meta">No stage would switch anything.</p>}
      {plan && plan.length > 0 && (
        <div class="ups-plan-scroll">
          <table class="ups-plan">
            <thead>
              <tr>
                <th>Stage</th>
                <th>When</th>
                <th>Switches</th>
                <th>Keeps</th>
              </tr>
            </thead>
            <tbody>
              {plan.map((p) => (
                <tr data-stage={p.stage}>
                  <td>
                    {p.stage} <small>({p.kind})</small>
                  </td>
                  <td>
                    <bdi>{p.when}</bdi>
                  </td>
                  <td>
                    {p.waves.length
                      ? p.waves.map((w, i) => (
                          <span class="wave">
                            {i > 0 && ' → '}
                            {w.join(', ')}
                          </span>
                        ))
                      : p.servers.join(', ') || <span class="meta">nothing</span>}
                  </td>
                  <td>
                    {p.held.map((h) => (
                      <div>
                        {h.server}: <bdi class="meta">{h.why}</bdi>
                      </div>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

/** Charge and load over time from the logger (`logger.ups`), drawn as the power charts are. */
function UpsHistory({ name }: { name: string }) {
  const [range, setRange] = useState<string>('1h');
  const [points, setPoints] = useState<UpsPoint[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stale = false;
    const load = (): void => {
      api<{ result: { ups: { ups: string; points: UpsPoint[] }[] } }>('POST', '/api/commands/logger.ups', { ups: name, last: range }).then(
        (r) => !stale && (setPoints(r.result.ups.find((x) => x.ups === name)?.points ?? []), setError(null)),
        (err: unknown) =>
          !stale &&
          setError(
            err instanceof ApiError && err.status === 404
              ? 'No UPS history: the logger plugin is not running. Enable it in ockle.ini ([plugins] enabled = …, logger).'
              : (err as Error).message,
          ),
      );
    };
    load();
    const every = setInterval(load, range === '1h' ? 10_000 : 60_000);
    return () => ((stale = true), clearInterval(every));
  }, [name, range]);
  const lines = useMemo(
    () =>
      points && [
        { label: 'charge %', points: points.map((p) => [p.t, p.chargePct] as const) },
        { label: 'load %', points: points.map((p) => [p.t, p.loadPct] as const) },
        // 100 while on battery, 0 on mains: when the cut began and ended, beside the charge it cost.
        { label: 'on battery', points: points.map((p) => [p.t, p.onBattery === null ? null : Math.round(p.onBattery * 100)] as const) },
      ],
    [points],
  );
  return (
    <>
      <h3>History</h3>
      <div class="controls">
        <span role="group" aria-label="Range">
          {RANGES.map(([r, label]) => (
            <button class={range === r ? 'active' : ''} onClick={() => setRange(r)} data-range={r}>
              {label}
            </button>
          ))}
        </span>
      </div>
      {error && <p class="error">{error}</p>}
      {points && points.length === 0 && <p class="meta">Nothing recorded in this range yet; the logger samples every log_resolution.</p>}
      <div class="ups-history">
        <TimeChart series={lines} yLabel="percent" fromZero yMax={100} height={260} />
      </div>
    </>
  );
}
