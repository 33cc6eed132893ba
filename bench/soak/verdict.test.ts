import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { judgeAll, type Sample, specFor, verdictLine } from "./measures.ts";
import { judge, theilSenSlope } from "./verdict.ts";

const minutes = <T = number>(n: number, f: (i: number) => T): T[] =>
  Array.from({ length: n }, (_, i) => f(i));

describe("the soak's flat-or-growing rule", () => {
  test("a table that gains 30k rows a minute grows; one that levels off after filling its window is flat", () => {
    expect(
      judge(
        minutes(10, (i) => 30_000 * (i + 1)),
        10_000,
      ).growing,
    ).toBe(true);
    // The replay store: fills for 5 minutes (its 300 s tolerance), then is pruned as fast as it fills.
    expect(
      judge(
        minutes(10, (i) => 30_000 * Math.min(i + 1, 5) + (i % 2) * 800),
        10_000,
      ).growing,
    ).toBe(false);
  });

  test("one spike (a GC pause, a neighbour's burst) is not a trend; a steady climb of the same total is", () => {
    const spike = minutes(10, (i) => (i === 8 ? 400 : 20));
    expect(judge(spike, 25).growing).toBe(false);
    const climb = minutes(10, (i) => 20 + 40 * i);
    expect(judge(climb, 25).growing).toBe(true);
  });

  test("a rise below the floor is noise, however steep relative to a level near zero", () => {
    expect(judge([0, 1, 2, 3, 4, 5], 2_000).growing).toBe(false);
    expect(judge([0, 2_000, 4_000, 6_000, 8_000, 10_000], 2_000).growing).toBe(true);
  });

  test("too few samples to judge: flat, with a note", () => {
    const v = judge([1, 1_000_000], 10);
    expect(v.growing).toBe(false);
    expect(v.note).toContain("2 samples");
  });

  test("failed readings (NaN) are skipped, not read as zero", () => {
    expect(judge([100, Number.NaN, 100, 100, Number.NaN, 100], 10).growing).toBe(false);
    expect(judge([100, Number.NaN, 200, 300, Number.NaN, 400], 10).growing).toBe(true);
  });

  test("the slope of a straight line is its slope, whatever is added to every sample", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e4, max: 1e4, noNaN: true }),
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        fc.integer({ min: 2, max: 30 }),
        (slope, offset, n) => {
          expect(theilSenSlope(minutes(n, (i) => offset + slope * i))).toBeCloseTo(slope, 4);
        },
      ),
    );
  });

  test("any series that only falls or stays is flat; any that climbs past level and floor is growing", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 3, maxLength: 20 }),
        (xs) => {
          const falling = [...xs].sort((a, b) => b - a);
          expect(judge(falling, 0).growing).toBe(false);
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 6, max: 30 }),
        fc.double({ min: 1, max: 1e4, noNaN: true }),
        (n, step) => {
          // A climb from zero: across the last half it rises by ~2/3 of its level, past 25 %.
          expect(
            judge(
              minutes(n, (i) => step * (i + 1)),
              step / 2,
            ).growing,
          ).toBe(true);
        },
      ),
    );
  });
});

describe("measures and the last line", () => {
  test("tables kept for days are trended but not judged; the replay store, lags and memory are judged", () => {
    expect(specFor("rows inbox").judged).toBe(false);
    expect(specFor("rows request log").judged).toBe(false);
    expect(specFor("rows replay store").judged).toBe(true);
    expect(specFor("lag attribution-clicks msgs").judged).toBe(true);
    expect(specFor("owed age POSTBACKS s").floor).toBe(5);
    expect(specFor("rss gateway MB", 4).floor).toBe(4 * specFor("rss gateway MB").floor);
    expect(specFor("redirects/s").judged).toBe(false);
  });

  test("the last line names exactly the judged measures that grew; an owed stream absent from a reading counts as none", () => {
    const samples = minutes<Sample>(8, (i) => ({
      at: i * 60_000,
      values: {
        "rows replay store": 50_000 * (i + 1),
        "rows inbox": 100_000 * (i + 1),
        "rss click MB": 120 + (i % 2),
        "redirect p99 ms": 4,
        ...(i < 4 ? { "owed POSTBACKS": 10 } : {}),
      },
    }));
    const verdicts = judgeAll(samples);
    expect(verdicts.find((v) => v.name === "owed POSTBACKS")?.series).toEqual([10, 10, 10, 10, 0, 0, 0, 0]);
    expect(verdictLine(verdicts)).toBe("soak: growing: rows replay store");
    expect(verdictLine(judgeAll(samples.map((s) => ({ ...s, values: { "rss click MB": 100 } }))))).toBe(
      "soak: flat",
    );
  });
});
