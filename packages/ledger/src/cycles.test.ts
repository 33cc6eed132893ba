import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  type Cycle,
  lastBoundary,
  localDate,
  localMidnight,
  periodEnding,
  periodEndingOn,
} from "./cycles.ts";

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

  test("periods are local days in the affiliate's time zone, across DST changes", () => {
    const HOUR = 3_600_000;
    const berlin: Cycle = {
      cycle: "weekly",
      cycle_days: null,
      cycle_anchor: "2024-01-01",
      time_zone: "Europe/Berlin",
    };
    // the week with the spring change (Sunday 2026-03-29, 02:00 → 03:00) is an hour short
    const spring = periodEndingOn(berlin, "2026-03-30");
    expect(spring).toEqual({
      start: new Date("2026-03-22T23:00:00Z"),
      end: new Date("2026-03-29T22:00:00Z"),
    });
    expect(((spring?.end.getTime() ?? 0) - (spring?.start.getTime() ?? 0)) / HOUR).toBe(7 * 24 - 1);
    expect(periodEnding(berlin, new Date("2026-03-29T22:00:00Z"))).toEqual(spring);
    expect(periodEnding(berlin, new Date("2026-03-30T00:00:00Z"))).toBeNull(); // UTC midnight: not Berlin's
    // bi-weekly in New York over the autumn change (Sunday 2026-11-01, 02:00 → 01:00): an hour long
    const ny: Cycle = {
      cycle: "biweekly",
      cycle_days: null,
      cycle_anchor: "2024-01-01",
      time_zone: "America/New_York",
    };
    const autumn = periodEndingOn(ny, "2026-11-02");
    expect(autumn).toEqual({
      start: new Date("2026-10-19T04:00:00Z"),
      end: new Date("2026-11-02T05:00:00Z"),
    });
    expect(((autumn?.end.getTime() ?? 0) - (autumn?.start.getTime() ?? 0)) / HOUR).toBe(14 * 24 + 1);
    expect(periodEndingOn(ny, "2026-11-09")).toBeNull();
    // monthly: November in Berlin starts and ends at Berlin's midnight (CET, +01:00); March spans the change
    const monthly: Cycle = {
      cycle: "monthly",
      cycle_days: null,
      cycle_anchor: "2024-01-01",
      time_zone: "Europe/Berlin",
    };
    expect(periodEndingOn(monthly, "2026-12-01")).toEqual({
      start: new Date("2026-10-31T23:00:00Z"),
      end: new Date("2026-11-30T23:00:00Z"),
    });
    expect(periodEndingOn(monthly, "2026-04-01")).toEqual({
      start: new Date("2026-02-28T23:00:00Z"),
      end: new Date("2026-03-31T22:00:00Z"),
    });
    // an entry at 23:30 UTC on 30 November is already December in Berlin
    expect(lastBoundary(monthly, new Date("2026-11-30T23:30:00Z"))).toEqual(new Date("2026-11-30T23:00:00Z"));
    // a day whose midnight the clocks skip (Santiago, 2024-09-08) starts when they jump
    expect(localMidnight("2024-09-08", "America/Santiago")).toEqual(new Date("2024-09-08T04:00:00Z"));
    expect(localMidnight("2024-09-09", "America/Santiago")).toEqual(new Date("2024-09-09T03:00:00Z"));
    // zones a whole day apart and at half hours
    expect(localMidnight("2026-12-01", "Pacific/Kiritimati")).toEqual(new Date("2026-11-30T10:00:00Z"));
    expect(localMidnight("2026-12-01", "Asia/Kolkata")).toEqual(new Date("2026-11-30T18:30:00Z"));
    expect(localMidnight("2026-12-01", "Pacific/Pago_Pago")).toEqual(new Date("2026-12-01T11:00:00Z"));
  });

  test("property: periods tile time — the boundary before any instant ends a period that starts at the previous one", () => {
    const cycle = fc.oneof(
      fc.constant<Cycle>({ cycle: "weekly", cycle_days: null, cycle_anchor: "2024-01-01" }),
      fc.constant<Cycle>({ cycle: "biweekly", cycle_days: null, cycle_anchor: "2025-03-05" }),
      fc.constant<Cycle>({ cycle: "monthly", cycle_days: null, cycle_anchor: "2024-01-01" }),
      fc.constant<Cycle>({
        cycle: "weekly",
        cycle_days: null,
        cycle_anchor: "2024-01-01",
        time_zone: "Europe/Berlin",
      }),
      fc.constant<Cycle>({
        cycle: "monthly",
        cycle_days: null,
        cycle_anchor: "2024-01-01",
        time_zone: "America/New_York",
      }),
      fc.constant<Cycle>({
        cycle: "biweekly",
        cycle_days: null,
        cycle_anchor: "2024-01-01",
        time_zone: "Australia/Sydney",
      }),
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
        // the period containing t ends at a later boundary, and no boundary lies strictly inside it
        const p = period as { start: Date; end: Date };
        const next = lastBoundary(c, new Date(start.getTime() + 367 * 86_400_000));
        expect(next.getTime()).toBeGreaterThan(t.getTime());
        // every local day inside the period: none of its midnights is a boundary
        const zone = c.time_zone ?? "UTC";
        const first = Date.parse(`${localDate(p.start, zone)}T00:00:00Z`);
        const last = Date.parse(`${localDate(p.end, zone)}T00:00:00Z`);
        for (let d = first + 86_400_000; d < last; d += 86_400_000)
          expect(periodEndingOn(c, new Date(d).toISOString().slice(0, 10))).toBeNull();
      }),
      { numRuns: 300 },
    );
  });
});
