import { t } from "elysia";
import { Id } from "../common.ts";

export const StatementParams = t.Object({ id: Id });
export const StatementsQuery = t.Object({ affiliate_id: t.Optional(Id) });

export const StatementSummary = t.Object({
  id: t.String(),
  affiliate_id: t.String(),
  period_start: t.Any(),
  period_end: t.Any(),
  run_id: t.Union([t.String(), t.Null()]),
  created_at: t.Any(),
});

const Money = t.String();
export const StatementView = t.Object({
  id: t.String(),
  affiliate_id: t.String(),
  affiliate_name: t.String(),
  period_start: t.Any(),
  period_end: t.Any(),
  time_zone: t.String({
    description: "the affiliate's cycle time zone: the period's days are local days there",
  }),
  run_id: t.Union([t.String(), t.Null()]),
  created_at: t.Any(),
  payment: t.Union([
    t.Object({
      method: t.String(),
      account_reference_masked: t.Union([t.String(), t.Null()]),
      vat_number: t.Union([t.String(), t.Null()]),
      vat_rate: t.Union([t.String(), t.Null()]),
    }),
    t.Null(),
  ]),
  currencies: t.Array(
    t.Object({
      currency: t.String(),
      lines: t.Array(
        t.Object({
          offer_id: t.Union([t.String(), t.Null()]),
          offer: t.String(),
          event: t.String(),
          type: t.String(),
          count: t.Integer(),
          amount: Money,
        }),
      ),
      adjustments: t.Array(
        t.Object({
          id: t.String(),
          created_at: t.Any(),
          reason: t.Union([t.String(), t.Null()]),
          amount: Money,
        }),
      ),
      sub_affiliate: Money,
      carryover: t.Array(t.Object({ reason: t.String(), amount: Money })),
      earned: Money,
      vat: t.Union([t.Object({ rate: t.String(), amount: Money, gross: Money }), t.Null()]),
      payouts: t.Array(
        t.Object({ line_id: t.String(), amount: Money, status: t.String(), method: t.String() }),
      ),
    }),
  ),
});
