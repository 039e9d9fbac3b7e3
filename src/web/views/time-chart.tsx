/**
 * A time chart drawn with uPlot: the Power tab's watts, amps and energy, and the UPS view's
 * charge and load. One piece of code, so both fit their card the same way.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLOURS = ['#2f7ed8', '#e4572e', '#29a36a', '#a05dd6', '#f0a202', '#17becf', '#8c564b', '#d62788'];

/** One line of a time chart: its label and its points (ms since the epoch, value or null for a gap). */
export interface ChartSeries {
  readonly label: string;
  readonly points: readonly (readonly [number, number | null])[];
}

/**
 * A uPlot time chart as wide as its card's inside (the legend wraps within it, the last time
 * label has room); series with no value at all are left out. `fromZero`: the y axis includes 0
 * (a flat 180 W line is not drawn as a swing); `yMax` fixes the top (percentages at 100). The
 * card carries what it drew in data-points, data-series and data-y-min, for the browser tests.
 */
export function TimeChart({ series, yLabel, fromZero, yMax, height = 320 }: { series: readonly ChartSeries[] | null; yLabel: string; fromZero: boolean; yMax?: number; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const card = box.current;
    const into = plot.current;
    if (!card || !into || !series) return;
    const shown = series.filter((s) => s.points.some(([, v]) => v !== null));
    const times = [...new Set(shown.flatMap((s) => s.points.map(([t]) => t)))].sort((a, b) => a - b);
    const data: uPlot.AlignedData = [
      times.map((t) => t / 1000),
      ...shown.map((s) => {
        const at = new Map(s.points);
        return times.map((t) => at.get(t) ?? null);
      }),
    ];
    // The inside of the card (its padding excluded): a plot as wide as the card's box would
    // overflow it by the padding, pushing the last time label and the legend out.
    const width = (): number => Math.max(200, into.clientWidth);
    const chart = new uPlot(
      {
        width: width(),
        height,
        // Room on the right for half of the last time label, which is centred on the plot's edge.
        padding: [null, 32, null, null],
        series: [{}, ...shown.map((s, i) => ({ label: s.label, stroke: COLOURS[i % COLOURS.length]!, width: 2, spanGaps: false }))],
        axes: [{}, { label: yLabel, size: 60 }],
        scales: {
          x: { time: true },
          ...((fromZero || yMax !== undefined) && {
            y: { range: (_u: uPlot, min: number | null, max: number | null) => (yMax !== undefined ? [fromZero ? 0 : (min ?? 0), yMax] : uPlot.rangeNum(Math.min(0, min ?? 0), Math.max(0, max ?? 0), 0.1, true)) },
          }),
        },
        hooks: { setScale: [(u, key) => void (key === 'y' && (card.dataset.yMin = String(u.scales.y!.min)))] },
      },
      data,
      into,
    );
    card.dataset.points = String(times.length);
    card.dataset.series = String(shown.length);
    card.dataset.yMin = String(chart.scales.y!.min);
    const onResize = (): void => chart.setSize({ width: width(), height });
    addEventListener('resize', onResize);
    return () => (removeEventListener('resize', onResize), chart.destroy());
  }, [series, yLabel, fromZero, yMax, height]);
  return (
    <div class="chart" ref={box}>
      <div class="chart-plot" ref={plot} />
    </div>
  );
}
