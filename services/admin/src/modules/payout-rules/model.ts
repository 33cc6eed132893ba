import { t } from "elysia";
import { Count, Currency, Decimal, Id } from "../common.ts";

const Percent = t.String({
  pattern: "^(100(\\.0{1,6})?|\\d{1,2}(\\.\\d{1,6})?)$",
  description: "percentage, 0 to 100",
});

export const Tier = t.Object({
  from: t.Integer({
    minimum: 2,
    maximum: 1_000_000,
    description: "from the n-th qualifying conversion in the period on",
  }),
  payout: t.Optional(Decimal),
  payout_percent: t.Optional(Percent),
});
export type Tier = typeof Tier.static;

export const PayoutRuleCreate = t.Object({
  offer_id: Id,
  event: t.String({ pattern: "^[a-z0-9_]{1,40}$" }),
  affiliate_id: t.Optional(Id),
  model: t.Union([t.Literal("cpa"), t.Literal("revshare"), t.Literal("hybrid")], {
    description: "cpa: fixed payout; revshare: payout_percent of the event amount; hybrid: both",
  }),
  payout: t.Optional(Decimal),
  payout_percent: t.Optional(Percent),
  revenue: t.Optional(Decimal),
  revenue_percent: t.Optional(Percent),
  currency: Currency,
  tiers: t.Optional(t.Array(Tier, { maxItems: 20 })),
  tier_period: t.Optional(t.Union([t.Literal("day"), t.Literal("month"), t.Literal("all")])),
  cap_daily: t.Optional(Count({ minimum: 1 })),
  cap_monthly: t.Optional(Count({ minimum: 1 })),
  cap_scope: t.Optional(t.Union([t.Literal("affiliate"), t.Literal("offer")])),
  cap_action: t.Optional(
    t.Union([t.Literal("zero"), t.Literal("reject")], {
      description: "over the cap: book at zero, or reject",
    }),
  ),
  advertiser_payout: t.Optional(
    t.Union([t.Literal("ignore"), t.Literal("accept")], {
      description: "use the advertiser's `payout` parameter within bounds",
    }),
  ),
  advertiser_payout_min: t.Optional(Decimal),
  advertiser_payout_max: t.Optional(Decimal),
  hold_days: t.Optional(t.Integer({ minimum: 0, maximum: 3650 })),
});
export type PayoutRuleCreate = typeof PayoutRuleCreate.static;

export const PayoutRuleQuery = t.Object({
  offer_id: t.Optional(Id),
  affiliate_id: t.Optional(Id),
  event: t.Optional(t.String({ pattern: "^[a-z0-9_]{1,40}$" })),
  status: t.Optional(t.Union([t.Literal("active"), t.Literal("archived")])),
});
