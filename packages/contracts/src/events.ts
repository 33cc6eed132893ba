import { Type as t } from "@sinclair/typebox";
import { stripUnstorable } from "./text.ts";

/**
 * Payloads on the bus. Each is validated by its consumer: a message that does not match is a
 * permanent failure (dead-lettered with the reason), never a crash loop.
 * Decimal amounts travel as strings so no float ever touches money.
 */
const Decimal = t.String({ pattern: "^-?\\d{1,14}(\\.\\d{1,6})?$" });
const Id = t.String({ pattern: "^\\d{1,19}$" });
const Currency = t.String({ pattern: "^[A-Z]{3}$" });
export const ConversionStatus = t.Union([
  t.Literal("pending"),
  t.Literal("approved"),
  t.Literal("rejected"),
  t.Literal("reversed"),
]);
export type ConversionStatus = typeof ConversionStatus.static;

/** Events that reverse an earlier conversion (found by txid) instead of creating one; no offer configures them. */
export const REVERSAL_EVENTS: readonly string[] = ["refund", "chargeback"];

/**
 * Text a visitor chose (sub IDs, user agent, referrer). The click service strips what PostgreSQL
 * cannot store before publishing; decoding (`Value.Parse`) strips it again, so a message from an
 * older click service cannot fail the whole batch it travels in at every consumer.
 */
const VisitorText = t
  .Transform(t.String())
  .Decode((s) => stripUnstorable(s))
  .Encode((s) => s);

export const ClickRecorded = t.Object({
  click_id: t.String(),
  clicked_at: t.String({ format: "date-time" }),
  link_id: Id,
  offer_id: Id,
  affiliate_id: Id,
  brand_id: Id,
  // The click service's candidate (false for bots); the consumers of CLICKS decide uniqueness for
  // the cluster from `visitor` (packages/db/src/unique-visits.ts).
  is_unique: t.Boolean(),
  // Keyed hash of link, IP and user agent; optional because older click services do not send it.
  visitor: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
  // The click's details, so attribution can store the row from the event alone (the click service
  // publishes batches to CLICKS as its durable write). Optional: older events carry only the above.
  ip: t.Optional(t.Union([t.String(), t.Null()])),
  user_agent: t.Optional(t.Union([VisitorText, t.Null()])),
  referrer: t.Optional(t.Union([VisitorText, t.Null()])),
  subs: t.Optional(t.Record(t.String(), VisitorText)),
  // From the user agent (ua-parser-js) and traffic-quality rules (traffic-reasons.ts); optional
  // because older click services do not send them.
  device_type: t.Optional(t.Union([t.String({ maxLength: 32 }), t.Null()])),
  os: t.Optional(t.Union([t.String({ maxLength: 64 }), t.Null()])),
  browser: t.Optional(t.Union([t.String({ maxLength: 64 }), t.Null()])),
  reasons: t.Optional(t.Array(t.String({ maxLength: 64 }), { maxItems: 16 })),
  // Routing (docs/routing.md): the visitor's country, the link followed when a rule chose the
  // destination (link_id is then the destination's link), and the rule and destination that
  // served it. Optional because older click services do not send them.
  country: t.Optional(t.Union([t.String({ pattern: "^[A-Z]{2}$" }), t.Null()])),
  via_link_id: t.Optional(t.Union([Id, t.Null()])),
  route_rule_id: t.Optional(t.Union([Id, t.Null()])),
  route_destination_id: t.Optional(t.Union([Id, t.Null()])),
});
export type ClickRecorded = typeof ClickRecorded.static;

/** One message per batch of clicks (the click service records clicks in batches). */
export const ClicksRecorded = t.Object({ clicks: t.Array(ClickRecorded) });
export type ClicksRecorded = typeof ClicksRecorded.static;

export const PostbackReceived = t.Object({
  receipt_id: Id,
  advertiser_id: Id,
  brand_id: Id,
  source: t.Union([t.Literal("s2s"), t.Literal("pixel"), t.Literal("import")]),
  click_id: t.Union([t.String(), t.Null()]),
  txid: t.Union([t.String(), t.Null()]),
  event: t.String(),
  status: t.Union([ConversionStatus, t.Null()]),
  amount: t.Union([Decimal, t.Null()]),
  payout: t.Union([Decimal, t.Null()]),
  currency: t.Union([Currency, t.Null()]),
  occurred_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
  received_at: t.String({ format: "date-time" }),
  /** For a refund or chargeback: the txid of the transaction it reverses (else its own txid is that one). */
  ref_txid: t.Optional(t.Union([t.String(), t.Null()])),
});
export type PostbackReceived = typeof PostbackReceived.static;

/** A conversion was created or changed status; `seq` orders the changes of one conversion. */
export const ConversionChanged = t.Object({
  conversion_id: Id,
  seq: t.Integer({ minimum: 1 }),
  status: ConversionStatus,
  previous_status: t.Union([ConversionStatus, t.Null()]),
  advertiser_id: Id,
  brand_id: Id,
  offer_id: Id,
  affiliate_id: Id,
  click_id: t.String(),
  txid: t.Union([t.String(), t.Null()]),
  event: t.String(),
  amount: t.Union([Decimal, t.Null()]),
  payout_override: t.Union([Decimal, t.Null()]),
  currency: Currency,
  occurred_at: t.String({ format: "date-time" }),
});
export type ConversionChanged = typeof ConversionChanged.static;

/**
 * Commission has settled a conversion change (with a new ledger entry, or none when the change
 * moves no money, e.g. pending → approved); delivery tells the affiliate. `payout` is the
 * conversion's payout after this change, in the affiliate's payout currency (`currency`).
 */
export const CommissionBooked = t.Object({
  conversion_id: Id,
  seq: t.Integer({ minimum: 1 }),
  entry_id: t.Union([Id, t.Null()]),
  entry_type: t.Union([t.Literal("commission"), t.Literal("reversal"), t.Literal("adjustment"), t.Null()]),
  status: ConversionStatus,
  affiliate_id: Id,
  offer_id: Id,
  brand_id: Id,
  click_id: t.String(),
  txid: t.Union([t.String(), t.Null()]),
  event: t.String(),
  amount: t.Union([Decimal, t.Null()]),
  payout: Decimal,
  currency: Currency,
  occurred_at: t.String({ format: "date-time" }),
  /** Why the affiliate sees this status, when it is not the conversion's own (`cap`: rejected over a cap). */
  reason: t.Optional(t.String({ maxLength: 40 })),
});
export type CommissionBooked = typeof CommissionBooked.static;

/**
 * What affiliates hear about their money besides conversions: a payout line paid or failed, a
 * statement ready. `id` is the event's identity (`payout.paid:<line>`), the delivery's dedup key.
 */
export const PARTNER_EVENT_TYPES = ["payout.paid", "payout.failed", "statement.ready"] as const;
export const PartnerEventType = t.Union(PARTNER_EVENT_TYPES.map((e) => t.Literal(e)));
export type PartnerEventType = typeof PartnerEventType.static;
export const PartnerEvent = t.Object({
  id: t.String({ minLength: 1, maxLength: 100 }),
  type: PartnerEventType,
  affiliate_id: Id,
  occurred_at: t.String({ format: "date-time" }),
  data: t.Record(t.String(), t.Union([t.String(), t.Number(), t.Null()])),
});
export type PartnerEvent = typeof PartnerEvent.static;

export const ConfigChanged = t.Object({ resource: t.String(), id: t.Union([t.String(), t.Null()]) });
export type ConfigChanged = typeof ConfigChanged.static;
