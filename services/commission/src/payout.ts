import { add, cmp, percentOf, type Ratio, ratio, toCurrency, ZERO } from "./decimal.ts";

export type Tier = { from: number; payout: string; payout_percent: string };

/** A payout rule as stored (numeric columns as text). */
export type PayoutRule = {
  id: string;
  affiliate_id: string | null;
  model: "cpa" | "revshare" | "hybrid";
  payout: string;
  payout_percent: string;
  revenue: string;
  revenue_percent: string;
  currency: string;
  tiers: Tier[];
  tier_period: "day" | "month" | "all";
  cap_daily: number | null;
  cap_monthly: number | null;
  cap_scope: "affiliate" | "offer";
  cap_action: "zero" | "reject";
  advertiser_payout: "ignore" | "accept";
  advertiser_payout_min: string | null;
  advertiser_payout_max: string | null;
  hold_days: number;
};

/** Qualifying conversions already booked before this one, per period (and cap scope). */
export type Counts = { tierPeriod: number; capDay: number; capMonth: number };

export type CapVerdict = { period: "day" | "month"; limit: number; count: number; action: "zero" | "reject" };

export type OverrideVerdict = {
  sent: string;
  currency: string;
  /** The sent payout in the rule's currency (exact, before rounding). */
  in_rule_currency: string;
  outcome: "accepted" | "not_allowed" | "below_min" | "above_max";
};

export type Pricing = {
  outcome: "booked" | "capped_zero" | "capped_rejected";
  /** 0 = the rule's own terms, n = tiers[n - 1]. */
  tier: number;
  /** This conversion's position among the qualifying ones in the tier period. */
  qualifying_count: number;
  cap: CapVerdict | null;
  override: OverrideVerdict | null;
  /** In the rule's currency, rounded to its minor unit. */
  payout: string;
  revenue: string;
  currency: string;
};

/**
 * The tier in force for the n-th qualifying conversion: the last tier whose `from` is ≤ n.
 * Tiers apply from the crossing on, never back: with "from 11 pay 150", conversions 1–10 keep
 * what they were booked at.
 */
export function tierFor(rule: Pick<PayoutRule, "tiers">, n: number): number {
  let tier = 0;
  rule.tiers.forEach((t, i) => {
    if (n >= t.from) tier = i + 1;
  });
  return tier;
}

/** Over a cap when the conversions already counted in the period reach the limit. */
export function capVerdict(rule: PayoutRule, counts: Counts): CapVerdict | null {
  if (rule.cap_daily !== null && counts.capDay >= rule.cap_daily) {
    return { period: "day", limit: rule.cap_daily, count: counts.capDay, action: rule.cap_action };
  }
  if (rule.cap_monthly !== null && counts.capMonth >= rule.cap_monthly) {
    return { period: "month", limit: rule.cap_monthly, count: counts.capMonth, action: rule.cap_action };
  }
  return null;
}

export function overrideVerdict(
  rule: PayoutRule,
  sent: string,
  currency: string,
  inRuleCurrency: Ratio,
): OverrideVerdict {
  const verdict = (outcome: OverrideVerdict["outcome"]): OverrideVerdict => ({
    sent,
    currency,
    in_rule_currency: toCurrency(inRuleCurrency, rule.currency),
    outcome,
  });
  if (rule.advertiser_payout !== "accept") return verdict("not_allowed");
  if (rule.advertiser_payout_min !== null && cmp(inRuleCurrency, ratio(rule.advertiser_payout_min)) < 0)
    return verdict("below_min");
  if (rule.advertiser_payout_max !== null && cmp(inRuleCurrency, ratio(rule.advertiser_payout_max)) > 0)
    return verdict("above_max");
  return verdict("accepted");
}

/**
 * Prices one conversion under a rule. `amount` is the event amount already converted (exactly)
 * to the rule's currency; `override` the advertiser's payout likewise. Order: cap first (an
 * over-cap conversion pays zero or is rejected, whatever else applies), then the advertiser's
 * payout if accepted, else the tier's (or the rule's) fixed part plus its percentage of the
 * amount. Each figure is rounded once, half away from zero, to the rule currency's minor unit.
 */
export function price(
  rule: PayoutRule,
  input: {
    amount: Ratio | null;
    override: { sent: string; currency: string; value: Ratio } | null;
    counts: Counts;
  },
): Pricing {
  const n = input.counts.tierPeriod + 1;
  const tier = tierFor(rule, n);
  const cap = capVerdict(rule, input.counts);
  const override = input.override
    ? overrideVerdict(rule, input.override.sent, input.override.currency, input.override.value)
    : null;
  const base = { tier, qualifying_count: n, cap, override, currency: rule.currency };
  if (cap) {
    const zero = toCurrency(ZERO, rule.currency);
    return {
      ...base,
      outcome: cap.action === "zero" ? "capped_zero" : "capped_rejected",
      payout: zero,
      revenue: zero,
    };
  }
  const amount = input.amount ?? ZERO;
  const terms = tier === 0 ? rule : (rule.tiers[tier - 1] as Tier);
  const payout =
    override?.outcome === "accepted" && input.override
      ? input.override.value
      : add(ratio(terms.payout), percentOf(amount, ratio(terms.payout_percent)));
  const revenue = add(ratio(rule.revenue), percentOf(amount, ratio(rule.revenue_percent)));
  return {
    ...base,
    outcome: "booked",
    payout: toCurrency(payout, rule.currency),
    revenue: toCurrency(revenue, rule.currency),
  };
}
