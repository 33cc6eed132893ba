import { t } from "elysia";
import { Currency, Id, Strict } from "../common.ts";

const Percent = (description: string) =>
  t.String({ pattern: "^\\d{1,3}(\\.\\d{1,6})?$", description: `${description}, percent 0–100` });
const CarryoverMode = t.Union([t.Literal("carry"), t.Literal("reset")], {
  description:
    "carry: a negative period balance is carried into the next period; reset: it is written off at period end",
});

export const PayoutSettingsInput = Strict({
  cycle: t.Union([t.Literal("weekly"), t.Literal("biweekly"), t.Literal("monthly"), t.Literal("custom")], {
    description: "how often the affiliate is paid; periods are whole local days in time_zone",
  }),
  time_zone: t.Optional(
    t.String({
      maxLength: 64,
      description:
        "IANA time zone the cycle's days are counted in (the program's zone, e.g. Europe/Malta); default UTC",
    }),
  ),
  cycle_days: t.Optional(
    t.Integer({ minimum: 1, maximum: 366, description: "custom cycles only: days per period" }),
  ),
  cycle_anchor: t.Optional(
    t.String({
      format: "date",
      description: "weekly, bi-weekly and custom periods count from this date (default 2024-01-01)",
    }),
  ),
  payout_hold: t.Optional(t.Boolean({ description: "hold every payout of this affiliate" })),
  payout_hold_reason: t.Optional(t.String({ maxLength: 500 })),
  parent_affiliate_id: t.Optional(t.Union([Id, t.Null()], { description: "the sub-affiliate's parent" })),
  sub_share_percent: t.Optional(Percent("what this affiliate earns of its children's commission (tier 2)")),
  sub_tier3_percent: t.Optional(
    Percent("what this affiliate earns of its grandchildren's commission (tier 3)"),
  ),
  negative_carryover: t.Optional(CarryoverMode),
});
export type PayoutSettingsInput = typeof PayoutSettingsInput.static;

export const PayoutSettingsView = t.Object({
  affiliate_id: t.String(),
  cycle: t.String(),
  cycle_days: t.Union([t.Integer(), t.Null()]),
  cycle_anchor: t.String(),
  time_zone: t.String(),
  payout_hold: t.Boolean(),
  payout_hold_reason: t.Union([t.String(), t.Null()]),
  parent_affiliate_id: t.Union([t.String(), t.Null()]),
  sub_share_percent: t.String(),
  sub_tier3_percent: t.String(),
  negative_carryover: t.String(),
  offer_carryover: t.Array(t.Object({ offer_id: t.String(), negative_carryover: t.String() })),
});

export const OfferCarryoverParams = t.Object({ id: Id, offer_id: Id });
export const OfferCarryoverInput = Strict({ negative_carryover: CarryoverMode });

export const MinimumParams = t.Object({ currency: Currency });
export const MinimumInput = Strict({
  minimum: t.String({
    pattern: "^\\d{1,14}(\\.\\d{1,6})?$",
    description: "smallest amount paid out in this currency",
  }),
});
export const MinimumView = t.Object({ currency: t.String(), minimum: t.String() });
