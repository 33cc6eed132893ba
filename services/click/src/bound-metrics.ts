import type { Counter, Histogram } from "prom-client";

/**
 * Metric series bound to their labels once, for the redirect's per-request counting.
 *
 * prom-client turns the label set into a string key on every `inc()` and `observe()`, bound
 * labels or not, and builds an object per observation: with the redirect's RED metrics and its
 * outcome counter that was ~2.4 kB of garbage and most of a microsecond per request
 * (bench/README.md, "Where the time goes (click)"). Here the first call goes through prom-client,
 * which creates its record of the series, and the binding keeps that record; later calls add to
 * it while it is still the record prom-client exports (`reset()` replaces its records: the next
 * call then goes through prom-client again and binds anew). Should prom-client keep its records
 * differently (it is pinned; bound-metrics.test.ts compares the exposition with prom-client's own),
 * every call simply takes the public API.
 */

type Labels = Record<string, string | number | undefined>;
type Records<R> = { hashMap?: Record<string, R> };
type CounterRecord = { value: number; labels: Labels };
type HistogramRecord = { sum: number; count: number; bucketValues: Record<string, number>; labels: Labels };

export function boundCounter<L extends string>(
  counter: Counter<L>,
  labels: Partial<Record<L, string>>,
): () => void {
  const records = counter as unknown as Records<CounterRecord>;
  let key: string | undefined;
  let record: CounterRecord | undefined;
  let unbound = false;
  return () => {
    if (record !== undefined && records.hashMap?.[key as string] === record) {
      record.value += 1;
      return;
    }
    counter.inc(labels, 1);
    if (unbound) return;
    const found = find(records, labels, (r): r is CounterRecord => typeof r.value === "number");
    if (found) [key, record] = found;
    else unbound = true;
  };
}

export function boundHistogram<L extends string>(
  histogram: Histogram<L>,
  labels: Partial<Record<L, string>>,
): (value: number) => void {
  const records = histogram as unknown as Records<HistogramRecord> & { upperBounds?: unknown };
  const bounds = Array.isArray(records.upperBounds) ? (records.upperBounds as number[]) : [];
  const bucketKeys = bounds.map(String);
  let key: string | undefined;
  let record: HistogramRecord | undefined;
  let unbound = bounds.length === 0 || !bounds.every((b) => typeof b === "number");
  return (value) => {
    if (record !== undefined && Number.isFinite(value) && records.hashMap?.[key as string] === record) {
      record.sum += value;
      record.count += 1;
      for (let i = 0; i < bounds.length; i++) {
        if (value <= (bounds[i] as number)) {
          (record.bucketValues[bucketKeys[i] as string] as number) += 1;
          break;
        }
      }
      return;
    }
    histogram.observe(labels, value);
    if (unbound) return;
    const found = find(
      records,
      labels,
      (r): r is HistogramRecord =>
        typeof r.sum === "number" &&
        typeof r.count === "number" &&
        typeof r.bucketValues === "object" &&
        bucketKeys.every((k) => typeof r.bucketValues[k] === "number"),
    );
    if (found) [key, record] = found;
    else unbound = true;
  };
}

/** prom-client's record of the series with exactly these labels, and its key. */
function find<R extends { labels: Labels }>(
  records: Records<R>,
  labels: Labels,
  shaped: (r: R) => boolean,
): [string, R] | undefined {
  const names = Object.keys(labels);
  for (const [k, r] of Object.entries(records.hashMap ?? {})) {
    if (!r || typeof r !== "object" || !r.labels) continue;
    const theirs = Object.keys(r.labels);
    if (theirs.length === names.length && names.every((n) => String(r.labels[n]) === String(labels[n])))
      return shaped(r) ? [k, r] : undefined;
  }
  return undefined;
}
