/**
 * Flat or growing: the rule the soak applies to every measure (bench/README.md, "Soak").
 *
 * Over the judged window (the last `windowShare` of the samples, at least `minSamples`), the trend
 * is the Theil–Sen slope — the median of the slopes between every pair of samples — so one spike
 * (a GC pause, a neighbour's burst on a shared machine) does not make a trend, while a steady climb
 * does. The measure grows when the rise that slope predicts across the window exceeds both
 * `relative` × its level (the window's median) and the measure's absolute floor: a queue that
 * climbs from 10 to 40 messages is noise, one that climbs from 10k to 40k is not.
 */
export type VerdictRule = {
  /** Share of the samples judged, from the end (the start is warm-up and filling retention windows). */
  windowShare: number;
  /** Fewer samples than this in the window: not enough to judge, reported as flat with a note. */
  minSamples: number;
  /** Rise across the window allowed as a share of the level. */
  relative: number;
};

export const DEFAULT_RULE: VerdictRule = { windowShare: 0.5, minSamples: 3, relative: 0.25 };

export type Verdict = {
  growing: boolean;
  /** Units per sample interval. */
  slope: number;
  /** Predicted rise across the judged window. */
  rise: number;
  level: number;
  /** What the rise was compared with: max(relative × level, floor). */
  allowed: number;
  samples: number;
  note?: string;
};

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Median of the slopes between all pairs (x = sample index). */
export function theilSenSlope(ys: readonly number[]): number {
  const slopes: number[] = [];
  for (let i = 0; i < ys.length; i++)
    for (let j = i + 1; j < ys.length; j++) slopes.push(((ys[j] as number) - (ys[i] as number)) / (j - i));
  return slopes.length ? median(slopes) : 0;
}

/** `series`: one value per sample interval, oldest first; NaN (a failed reading) is skipped. */
export function judge(series: readonly number[], floor: number, rule: VerdictRule = DEFAULT_RULE): Verdict {
  const values = series.filter((v) => Number.isFinite(v));
  const take = Math.max(rule.minSamples, Math.ceil(values.length * rule.windowShare));
  const window = values.slice(-take);
  if (window.length < rule.minSamples)
    return {
      growing: false,
      slope: 0,
      rise: 0,
      level: window.length ? median(window) : 0,
      allowed: floor,
      samples: window.length,
      note: `only ${window.length} samples`,
    };
  const slope = theilSenSlope(window);
  const rise = slope * (window.length - 1);
  const level = median(window);
  const allowed = Math.max(rule.relative * Math.abs(level), floor);
  return { growing: rise > allowed, slope, rise, level, allowed, samples: window.length };
}
