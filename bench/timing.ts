/** Timing helpers shared by the benchmarks. */

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median wall time of `n` sequential runs of `fn`, in ms. */
export async function time(n: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  return median(xs);
}

/** A driver template's defaults, as a spec object to extend. */
export function templateDefaults(template: Readonly<Record<string, { readonly default: unknown }>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(template).flatMap(([k, v]) => (v.default !== undefined ? [[k, v.default]] : [])));
}
