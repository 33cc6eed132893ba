import { t } from "elysia";

export const AttentionKind = t.Union(
  [
    "commission_blocked",
    "conversions_over_cap",
    "conversions_rejected",
    "endpoint_disabled",
    "endpoint_failing",
    "dead_letters",
    "owed_events",
    "delivery_success_low",
    "rejected_postbacks_spike",
    "flagged_clicks_spike",
    "rejected_conversions_spike",
    "affiliate_conversion_rate_anomaly",
    "affiliate_conversion_volume_anomaly",
    "affiliate_gone_quiet",
    "offer_postbacks_stopped",
  ].map((k) => t.Literal(k)),
);

/** One thing costing money now, with where in the console it is fixed. */
export const AttentionItem = t.Object({
  kind: AttentionKind,
  severity: t.Union([t.Literal("critical"), t.Literal("warning")]),
  title: t.String(),
  detail: t.String(),
  count: t.Integer({ minimum: 0 }),
  fix: t.Object(
    {
      page: t.String({ description: "the console page (#/<page>)" }),
      params: t.Optional(t.Record(t.String(), t.String())),
      label: t.String(),
    },
    { description: "where the fix is" },
  ),
  rate: t.Optional(t.Union([t.Number({ minimum: 0, maximum: 1 }), t.Null()])),
});
export type AttentionItem = typeof AttentionItem.static;

export const Attention = t.Object({
  checked_at: t.String({ format: "date-time" }),
  items: t.Array(AttentionItem),
});
