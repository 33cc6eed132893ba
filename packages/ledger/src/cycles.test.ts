import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type Cycle, lastBoundary, periodEnding } from "./cycles.ts";

const at = (d: string) => new Date(`${d}T00:00:00Z`);

describe("payout cycles", () => {
  test("weekly, bi-weekly, monthly and custom boundaries", () => {
    const weekly: Cycle = { cycle: "weekly", cycle_days: null, cycle_anchor: "2024-01-01" };
    expect(periodEnding(weekly, at("2026-11-30"))).toEqual({
      start: at("2026-11-23"),
      end: at("2026-11-30"),
    });
    expect(periodEnding(weekly, at("2026-12-01"))).toBeNull();
    const biweekly: Cycle = { ...weekly, cycle: "biweekly" };
    // 2026-11-30 is 1064 days after the anchor: 76 fortnights
    expect(periodEnding(biweekly, at("2026-11-30"))?.start).toEqual(at("2026-11-16"));
    expect(periodEnding(biweekly, at("2026-11-23"))).toBeNull();
    const monthly: Cycle = { cycle: "monthly", cycle_days: null, cycle_anchor: "2024-01-01" };
    expect(periodEnding(monthly, at("2026-01-01"))).toEqual({
      start: at("2025-12-01"),
      end: at("2026-01-01"),
    });
    expect(periodEnding(monthly, at("2026-03-01"))?.start).toEqual(at("2026-02-01"));
    expect(periodEnding(monthly, at("2026-03-02"))).toBeNull();
    const custom: Cycle = { cycle: "custom", cycle_days: 10, cycle_anchor: "2026-11-01" };
    expect(periodEnding(custom, at("2026-11-21"))).toEqual({
      start: at("2026-11-11"),
      end: at("2026-11-21"),
    });
    expect(periodEnding(custom, at("2026-11-20"))).toBeNull();
    expect(periodEnding(monthly, new Date("2026-03-01T00:00:01Z"))).toBeNull();
  });

  test("property: periods tile time — the boundary before any instant ends a period that starts at the previous one", () => {
    const cycle = fc.oneof(
      fc.constant<Cycle>({ cycle: "weekly", cycle_days: null, cycle_anchor: "2024-01-01" }),
      fc.constant<Cycle>({ cycle: "biweekly", cycle_days: null, cycle_anchor: "2025-03-05" }),
      fc.constant<Cycle>({ cycle: "monthly", cycle_days: null, cycle_anchor: "2024-01-01" }),
      fc
        .integer({ min: 1, max: 366 })
        .map<Cycle>((n) => ({ cycle: "custom", cycle_days: n, cycle_anchor: "2026-02-17" })),
    );
    const instant = fc.date({ min: at("2020-01-01"), max: at("2035-01-01"), noInvalidDate: true });
    fc.assert(
      fc.property(cycle, instant, (c, t) => {
        const start = lastBoundary(c, t);
        expect(start.getTime()).toBeLessThanOrEqual(t.getTime());
        const period = periodEnding(c, start);
        expect(period).not.toBeNull();
        expect(period?.end).toEqual(start);
        // no boundary strictly inside a period
        const p = period as { start: Date; end: Date };
        for (let d = p.start.getTime() + 86_400_000; d < p.end.getTime(); d += 86_400_000)
          expect(periodEnding(c, new Date(d))).toBeNull();
      }),
      { numRuns: 300 },
    );
  });
});
