import { fromMicros, roundToCurrency, toMicros } from "@roundtrip/contracts";

export type PayoutRule = {
  id: string;
  model: "cpa" | "revshare";
  payout: string;
  revenue: string;
  currency: string;
};

/**
 * What the affiliate earns and the advertiser pays for one conversion under a rule.
 * CPA pays the fixed `payout`; RevShare pays `payout` percent of the event amount. Percentages
 * are applied in micro-units and rounded once, half away from zero, to the currency's minor unit.
 */
export function computePayout(rule: PayoutRule, amount: string | null): { payout: string; revenue: string } {
  const base = amount ? toMicros(amount) : 0n;
  // micros × percent-in-micros / (100 × 10^6) stays in micros
  const payout = rule.model === "cpa" ? toMicros(rule.payout) : (base * toMicros(rule.payout)) / 100_000_000n;
  return {
    payout: roundToCurrency(fromMicros(payout), rule.currency),
    revenue: roundToCurrency(rule.revenue, rule.currency),
  };
}
