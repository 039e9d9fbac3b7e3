/**
 * Power over time from the logger plugin (`logger.query`): per device (outlets summed) or per
 * outlet of one device; watts, amps or energy; the last hour, day or week. Drawn with uPlot, as
 * wide as the card's inside (the legend wraps within it, the last time label has room), watts
 * and amps from 0 (a flat 180 W line is not drawn as a swing).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, ApiError } from '../api.js';
import { useStore } from '../store.js';

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
const COLOURS = ['#2f7ed8', '#e4572e', '#29a36a', '#a05dd6', '#f0a202', '#17becf', '#8c564b', '#d62788'];

export function ChartsView() {
  const st = useStore();
  const [range, setRange] = useState<string>('1h');
  const [metric, setMetric] = useState<'watts' | 'amps' | 'energyWh'>('watts');
  const [device, setDevice] = useState<string>('');
  const [series, setSeries] = useState<Series[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<HTMLDivElement>(null);

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

  useEffect(() => {
    const card = box.current;
    const into = plot.current;
    if (!card || !into || !series) return;
    const shown = series.filter((s) => s.points.some((p) => p[metric] !== null));
    const times = [...new Set(shown.flatMap((s) => s.points.map((p) => p.t)))].sort((a, b) => a - b);
    const data: uPlot.AlignedData = [
      times.map((t) => t / 1000),
      ...shown.map((s) => {
        const at = new Map(s.points.map((p) => [p.t, p[metric]]));
        return times.map((t) => at.get(t) ?? null);
      }),
    ];
    // The inside of the card (its padding excluded): a plot as wide as the card's box would
    // overflow it by the padding, pushing the last time label and the legend out.
    const width = (): number => Math.max(200, into.clientWidth);
    const chart = new uPlot(
      {
        width: width(),
        height: 320,
        // Room on the right for half of the last time label, which is centred on the plot's edge.
        padding: [null, 32, null, null],
        series: [{}, ...shown.map((s, i) => ({ label: s.outlet === null ? s.device : `${s.device}/${s.outlet}`, stroke: COLOURS[i % COLOURS.length]!, width: 2, spanGaps: false }))],
        axes: [{}, { label: METRICS.find(([m]) => m === metric)![1], size: 60 }],
        scales: {
          x: { time: true },
          // Watts and amps start at 0; energy is a counter, drawn around its values.
          ...(metric !== 'energyWh' && { y: { range: (_u: uPlot, min: number | null, max: number | null) => uPlot.rangeNum(Math.min(0, min ?? 0), Math.max(0, max ?? 0), 0.1, true) } }),
        },
        hooks: { setScale: [(u, key) => void (key === 'y' && (card.dataset.yMin = String(u.scales.y!.min)))] },
      },
      data,
      into,
    );
    card.dataset.points = String(times.length);
    card.dataset.series = String(shown.length);
    card.dataset.yMin = String(chart.scales.y!.min);
    const onResize = (): void => chart.setSize({ width: width(), height: 320 });
    addEventListener('resize', onResize);
    return () => (removeEventListener('resize', onResize), chart.destroy());
  }, [series, metric]);

  const metered = st.devices.filter((d) => d.outlets.some((o) => o.reading));
  return (
    <section class="charts-view">
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
      <div class="chart" ref={box}>
        <div class="chart-plot" ref={plot} />
      </div>
    </section>
  );
}
