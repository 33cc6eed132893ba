import { t } from "elysia";
import { Id, Strict } from "../common.ts";

const Money = t.String({ description: "decimal, to the currency's minor unit" });
const Nullable = <T extends Parameters<typeof t.Union>[0][number]>(s: T) => t.Union([s, t.Null()]);

export const PeriodEnd = t.String({
  pattern: "^\\d{4}-\\d{2}-\\d{2}(T00:00:00(\\.0+)?(Z|\\+00:00))?$",
  description:
    "the day the cycles to pay end (YYYY-MM-DD, or that day's UTC midnight as a date-time): each affiliate's period ends at that day's midnight in its time zone, and entries payable by then are paid; an affiliate whose midnight is still ahead is not paid yet (period_not_ended)",
  examples: ["2026-12-01"],
});

export const PreviewInput = Strict({ period_end: PeriodEnd });
export const ApproveInput = Strict({
  period_end: PeriodEnd,
  idempotency_key: t.Optional(
    t.String({ minLength: 8, maxLength: 100, description: "the same key approves once" }),
  ),
});

export const PlanLine = t.Object({
  affiliate_id: t.String(),
  currency: t.String(),
  due: Money,
  carryover: t.String({ description: "what closing the period adds (a reset writes a negative period off)" }),
  minimum: Money,
  period_start: Nullable(t.Any()),
  period_end: Nullable(t.Any()),
  paid: t.Boolean({ description: "whether the run pays this line" }),
  reason: Nullable(
    t.String({
      description:
        "why not: not_in_cycle, period_not_ended, on_hold, nothing_due, below_minimum, missing_payment_details",
    }),
  ),
  method: Nullable(t.String()),
  account_reference_masked: Nullable(t.String()),
});

const Totals = t.Record(t.String(), t.Object({ amount: Money, lines: t.Integer() }), {
  description: "per currency: the amount paid and the number of lines",
});

export const PreviewView = t.Object({ period_end: t.Any(), totals: Totals, lines: t.Array(PlanLine) });

export const LineView = t.Object({
  id: t.String(),
  run_id: t.String(),
  affiliate_id: t.String(),
  currency: t.String(),
  amount: Money,
  period_start: t.Any(),
  period_end: t.Any(),
  method: t.String(),
  account_reference_masked: Nullable(t.String()),
  status: t.String({
    description: "pending, paid or failed (a failed line's amount is back in the balance)",
  }),
  provider_reference: Nullable(t.String()),
  failure_reason: Nullable(t.String()),
  settled_at: Nullable(t.Any()),
});
export type LineView = typeof LineView.static;

export const RunView = t.Object({
  id: t.String(),
  period_end: t.Any(),
  actor: t.String(),
  totals: Totals,
  created_at: t.Any(),
  lines: t.Array(LineView),
});

export const RunParams = t.Object({ id: Id });
export const ExportQuery = t.Object({
  // Checked in the handler after the run (an unknown run is a 404 whatever the query says).
  format: t.Optional(
    t.Union([t.Literal("paypal"), t.Literal("sepa"), t.Literal("tipalti")], {
      description:
        "paypal: PayPal Payouts CSV (paypal lines); sepa: bank/SEPA credit transfers (bank_transfer lines); tipalti: Tipalti-style payments CSV (tipalti lines); required",
    }),
  ),
});
export const LinesQuery = t.Object({
  affiliate_id: t.Optional(Id),
  run_id: t.Optional(Id),
  status: t.Optional(t.Union([t.Literal("pending"), t.Literal("paid"), t.Literal("failed")])),
});

export const ResultsView = t.Object({
  paid: t.Integer(),
  failed: t.Integer(),
  unchanged: t.Integer({ description: "lines already recorded with the same result" }),
  still_pending: t.Integer({
    description:
      "rows the provider has not settled yet (pending, unclaimed, on hold): the line stays pending",
  }),
});
