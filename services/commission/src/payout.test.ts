import { describe, expect, test } from "bun:test";
import { ratio } from "./decimal.ts";
import { type PayoutRule, price, tierFor } from "./payout.ts";

const rule = (over: Partial<PayoutRule> = {}): PayoutRule => ({
  id: "1",
  affiliate_id: null,
  model: "cpa",
  payout: "0",
  payout_percent: "0",
  revenue: "0",
  revenue_percent: "0",
  currency: "EUR",
  tiers: [],
  tier_period: "month",
  cap_daily: null,
  cap_monthly: null,
  cap_scope: "affiliate",
  cap_action: "zero",
  advertiser_payout: "ignore",
  advertiser_payout_min: null,
  advertiser_payout_max: null,
  hold_days: 0,
  ...over,
});
const none = { tierPeriod: 0, capDay: 0, capMonth: 0 };

describe("pricing one conversion", () => {
  test("fixed CPA pays the fixed payout whatever the amount", () => {
    const p = price(rule({ payout: "25", revenue: "40" }), {
      amount: ratio("999.99"),
      override: null,
      counts: none,
    });
    expect(p).toMatchObject({
      outcome: "booked",
      payout: "25.00",
      revenue: "40.00",
      currency: "EUR",
      tier: 0,
    });
  });

  test("RevShare pays a percentage of the amount, rounded once", () => {
    const r = rule({ model: "revshare", payout_percent: "30", revenue_percent: "50" });
    expect(price(r, { amount: ratio("123.45"), override: null, counts: none })).toMatchObject({
      payout: "37.04",
      revenue: "61.73", // 61.725 → away from zero
    });
    expect(price(r, { amount: null, override: null, counts: none })).toMatchObject({
      payout: "0.00",
      revenue: "0.00",
    });
  });

  test("hybrid pays the fixed part plus the percentage", () => {
    const r = rule({ model: "hybrid", payout: "10", payout_percent: "25", revenue: "20" });
    expect(price(r, { amount: ratio("100"), override: null, counts: none })).toMatchObject({
      payout: "35.00",
      revenue: "20.00",
    });
  });

  test("a JPY rule rounds to whole yen", () => {
    const r = rule({ model: "revshare", payout_percent: "12.5", currency: "JPY" });
    expect(price(r, { amount: ratio("1004"), override: null, counts: none }).payout).toBe("126"); // 125.5 → 126
  });
});

describe("tiers: by qualifying count in the period, from the crossing on", () => {
  const tiered = rule({
    payout: "100",
    tiers: [
      { from: 11, payout: "150", payout_percent: "0" },
      { from: 51, payout: "200", payout_percent: "0" },
    ],
  });

  test("the tier is the last one whose start the count has reached", () => {
    expect(tierFor(tiered, 1)).toBe(0);
    expect(tierFor(tiered, 10)).toBe(0);
    expect(tierFor(tiered, 11)).toBe(1);
    expect(tierFor(tiered, 50)).toBe(1);
    expect(tierFor(tiered, 51)).toBe(2);
  });

  test("the 10th FTD pays 100, the 11th pays 150 (counts are of those booked before)", () => {
    expect(price(tiered, { amount: null, override: null, counts: { ...none, tierPeriod: 9 } })).toMatchObject(
      {
        payout: "100.00",
        tier: 0,
        qualifying_count: 10,
      },
    );
    expect(
      price(tiered, { amount: null, override: null, counts: { ...none, tierPeriod: 10 } }),
    ).toMatchObject({
      payout: "150.00",
      tier: 1,
      qualifying_count: 11,
    });
  });

  test("a tier can change the percentage of a RevShare or hybrid deal", () => {
    const r = rule({
      model: "hybrid",
      payout: "5",
      payout_percent: "20",
      tiers: [{ from: 3, payout: "5", payout_percent: "30" }],
    });
    expect(price(r, { amount: ratio("50"), override: null, counts: { ...none, tierPeriod: 1 } }).payout).toBe(
      "15.00",
    );
    expect(price(r, { amount: ratio("50"), override: null, counts: { ...none, tierPeriod: 2 } }).payout).toBe(
      "20.00",
    );
  });
});

describe("caps", () => {
  test("a daily cap reached books the next conversion at zero when the rule says zero", () => {
    const r = rule({ payout: "25", revenue: "40", cap_daily: 3, cap_action: "zero" });
    expect(price(r, { amount: null, override: null, counts: { ...none, capDay: 2 } }).outcome).toBe("booked");
    const over = price(r, { amount: null, override: null, counts: { ...none, capDay: 3 } });
    expect(over).toMatchObject({ outcome: "capped_zero", payout: "0.00", revenue: "0.00" });
    expect(over.cap).toEqual({ period: "day", limit: 3, count: 3, action: "zero" });
  });

  test("a monthly cap reached rejects when the rule says reject", () => {
    const r = rule({ payout: "25", cap_monthly: 100, cap_action: "reject" });
    expect(price(r, { amount: null, override: null, counts: { ...none, capMonth: 100 } })).toMatchObject({
      outcome: "capped_rejected",
      cap: { period: "month", limit: 100, count: 100, action: "reject" },
    });
  });

  test("a cap beats an advertiser payout", () => {
    const r = rule({ payout: "25", cap_daily: 1, advertiser_payout: "accept" });
    const p = price(r, {
      amount: null,
      override: { sent: "30", currency: "EUR", value: ratio("30") },
      counts: { ...none, capDay: 1 },
    });
    expect(p).toMatchObject({ outcome: "capped_zero", payout: "0.00" });
  });
});

describe("the advertiser's payout", () => {
  const sent = (v: string) => ({ sent: v, currency: "EUR", value: ratio(v) });

  test("is ignored where the rule does not accept it", () => {
    const p = price(rule({ payout: "25" }), { amount: null, override: sent("60"), counts: none });
    expect(p).toMatchObject({ payout: "25.00", override: { outcome: "not_allowed", sent: "60" } });
  });

  test("replaces the payout inside the bounds, and is ignored outside them", () => {
    const r = rule({
      payout: "25",
      advertiser_payout: "accept",
      advertiser_payout_min: "10",
      advertiser_payout_max: "50",
    });
    expect(price(r, { amount: null, override: sent("42.555"), counts: none })).toMatchObject({
      payout: "42.56",
      override: { outcome: "accepted" },
    });
    expect(price(r, { amount: null, override: sent("50.01"), counts: none })).toMatchObject({
      payout: "25.00",
      override: { outcome: "above_max" },
    });
    expect(price(r, { amount: null, override: sent("9.99"), counts: none })).toMatchObject({
      payout: "25.00",
      override: { outcome: "below_min" },
    });
  });
});
