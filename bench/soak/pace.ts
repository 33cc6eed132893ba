/**
 * Open-loop load at a fixed rate: requests start on the clock, not when the previous one ends, so
 * a slow system sees the same arrivals (and its latency shows) instead of a load generator that
 * politely slows down with it. When `maxInFlight` requests are already waiting, a due request is
 * skipped and counted: the generator (or the system) cannot take the rate, and the report says so.
 */
export type Pacer = {
  /** Requests started and skipped so far. */
  readonly started: number;
  readonly skipped: number;
  readonly inFlight: number;
  /** Start no new request; resolves once those in flight have ended. */
  stop(): Promise<void>;
};

const TICK_MS = 5;

export function pace(ratePerSecond: number, maxInFlight: number, send: (n: number) => Promise<void>): Pacer {
  const inFlight = new Set<Promise<void>>();
  const began = performance.now();
  let started = 0;
  let skipped = 0;
  let stopped = false;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - began) / 1000) * ratePerSecond) - started - skipped;
    for (let i = 0; i < due; i++) {
      if (inFlight.size >= maxInFlight) {
        skipped++;
        continue;
      }
      const run: Promise<void> = send(started++)
        .catch(() => {})
        .finally(() => inFlight.delete(run));
      inFlight.add(run);
    }
  }, TICK_MS);
  return {
    get started() {
      return started;
    },
    get skipped() {
      return skipped;
    },
    get inFlight() {
      return inFlight.size;
    },
    async stop() {
      if (!stopped) clearInterval(timer);
      stopped = true;
      await Promise.all(inFlight);
    },
  };
}

/** Nearest-rank percentile (`p` in 0–100) of unsorted values; NaN when there are none. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Latencies since the last `take()`: one window per sample. */
export class LatencyWindow {
  #values: number[] = [];
  push(ms: number): void {
    this.#values.push(ms);
  }
  take(): number[] {
    const v = this.#values;
    this.#values = [];
    return v;
  }
}
