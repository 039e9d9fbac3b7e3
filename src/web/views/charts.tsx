/**
 * The Power tab: the UPSes first (a card each, linking to its view), then power over time from
 * the logger plugin (`logger.query`): per device (outlets summed) or per outlet of one device;
 * watts, amps or energy; the last hour, day or week. `TimeChart` draws it with uPlot, and the
 * UPS view's charge and load history with the same code.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { useStore } from '../store.js';
import { TimeChart } from './time-chart.js';
import { UpsCards } from './ups.js';

interface Point {
  t: number;
  watts: number | null;
  amps: number | null;
  energyWh: number | null;
}
interface Series {
  device: string;
  outlet: number | null;
  points: Point[];
}
const RANGES = [
  ['1h', 'hour'],
  ['1d', 'day'],
  ['7d', 'week'],
] as const;
const METRICS = [
  ['watts', 'Power (W)'],
  ['amps', 'Current (A)'],
  ['energyWh', 'Energy (Wh)'],
] as const;

export function ChartsView() {
  const st = useStore();
  const [range, setRange] = useState<string>('1h');
  const [metric, setMetric] = useState<'watts' | 'amps' | 'energyWh'>('watts');
  const [device, setDevice] = useState<string>('');
  const [series, setSeries] = useState<Series[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stale = false;
    const load = (): void => {
      api<{ result: { series: Series[] } }>('POST', '/api/commands/logger.query', { last: range, per: device ? 'outlet' : 'device', ...(device && { device }) }).then(
        (r) => !stale && (setSeries(r.result.series), setError(null)),
        (err: unknown) =>
          !stale &&
          setError(
            err instanceof ApiError && err.status === 404
              ? 'No power history: the logger plugin is not running. Enable it in ockle.ini ([plugins] enabled = …, logger).'
              : (err as Error).message,
          ),
      );
    };
    load();
    const every = setInterval(load, range === '1h' ? 10_000 : 60_000);
    return () => ((stale = true), clearInterval(every));
  }, [range, device]);

  // Memoised: a new array each render would redraw the chart on every store change.
  const lines = useMemo(() => series?.map((s) => ({ label: s.outlet === null ? s.device : `${s.device}/${s.outlet}`, points: s.points.map((p) => [p.t, p[metric]] as const) })) ?? null, [series, metric]);
  const metered = st.devices.filter((d) => d.outlets.some((o) => o.reading));
  return (
    <section class="charts-view">
      <UpsCards />
      <h2>Power</h2>
      <div class="controls">
        <span role="group" aria-label="Range">
          {RANGES.map(([r, label]) => (
            <button class={range === r ? 'active' : ''} onClick={() => setRange(r)} data-range={r}>
              {label}
            </button>
          ))}
        </span>
        <select aria-label="What" value={metric} onChange={(e) => setMetric((e.target as HTMLSelectElement).value as typeof metric)}>
          {METRICS.map(([m, label]) => (
            <option value={m}>{label}</option>
          ))}
        </select>
        <select aria-label="Device" value={device} onChange={(e) => setDevice((e.target as HTMLSelectElement).value)}>
          <option value="">every device (outlets summed)</option>
          {st.devices.map((d) => (
            <option value={d.id}>{d.id}: per outlet</option>
          ))}
        </select>
      </div>
      {error && <p class="error">{error}</p>}
      {series && series.length === 0 && <p class="meta">Nothing recorded in this range yet; the logger samples every log_resolution.</p>}
      {metered.length === 0 && <p class="meta">No device reports metering: states are recorded, but there is no power to draw.</p>}
      <TimeChart
        series={lines}
        yLabel={METRICS.find(([m]) => m === metric)![1]}
        // Watts and amps start at 0; energy is a counter, drawn around its values.
        fromZero={metric !== 'energyWh'}
      />
    </section>
  );
}

