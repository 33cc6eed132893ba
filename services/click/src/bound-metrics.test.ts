import { describe, expect, test } from "bun:test";
import { Counter, Histogram, Registry } from "prom-client";
import { boundCounter, boundHistogram } from "./bound-metrics.ts";

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function metrics() {
  const registry = new Registry();
  registry.setDefaultLabels({ service: "click" });
  const requests = new Counter({
    name: "requests_total",
    help: "h",
    labelNames: ["method", "status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "duration_seconds",
    help: "h",
    labelNames: ["method", "status"] as const,
    buckets: BUCKETS,
    registers: [registry],
  });
  return { registry, requests, duration };
}

type Step = { series: 0 | 1 | 2; seconds: number } | "reset";
const SERIES = [
  { method: "GET", status: "302" },
  { method: "HEAD", status: "302" },
  { method: "GET", status: "404" },
];

describe("bound metric series", () => {
  test("the exposition is exactly what prom-client's own inc() and observe() give, resets included", async () => {
    // Seeded, so a failure repeats: 200 runs of up to 300 steps over three series.
    const random = mulberry32(11);
    for (let run = 0; run < 200; run++) {
      const steps: Step[] = Array.from({ length: Math.floor(random() * 300) }, () =>
        random() < 0.01
          ? "reset"
          : {
              series: Math.floor(random() * 3) as 0 | 1 | 2,
              // Mostly inside the buckets, some on a bound exactly, some past the last one.
              seconds:
                random() < 0.1
                  ? (BUCKETS[Math.floor(random() * BUCKETS.length)] as number)
                  : random() ** 4 * 20,
            },
      );
      const plain = metrics();
      const bound = metrics();
      const count = SERIES.map((labels) => boundCounter(bound.requests, labels));
      const time = SERIES.map((labels) => boundHistogram(bound.duration, labels));
      for (const s of steps) {
        if (s === "reset") {
          plain.requests.reset();
          plain.duration.reset();
          bound.requests.reset();
          bound.duration.reset();
          continue;
        }
        plain.requests.inc(SERIES[s.series] as (typeof SERIES)[number]);
        plain.duration.observe(SERIES[s.series] as (typeof SERIES)[number], s.seconds);
        count[s.series]?.();
        time[s.series]?.(s.seconds);
      }
      expect(await bound.registry.metrics()).toBe(await plain.registry.metrics());
    }
  });

  test("after the first call the series is counted without prom-client's per-call work", () => {
    const { requests, duration } = metrics();
    const count = boundCounter(requests, { method: "GET", status: "302" });
    const time = boundHistogram(duration, { method: "GET", status: "302" });
    count();
    time(0.002);
    // Were the calls below still going through prom-client, these would be called.
    requests.inc = () => {
      throw new Error("prom-client's inc() was called");
    };
    duration.observe = () => {
      throw new Error("prom-client's observe() was called");
    };
    for (let i = 0; i < 10; i++) {
      count();
      time(0.0004);
    }
  });
});

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
