import { enqueue, PermanentError, subjects } from "@roundtrip/bus";
import type { ClickIdCodec } from "@roundtrip/clickid";
import type { ConversionChanged, ConversionStatus, PostbackReceived } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";

export type Outcome =
  | { kind: "created"; conversionId: string; status: ConversionStatus }
  | { kind: "changed"; conversionId: string; status: ConversionStatus }
  | { kind: "duplicate"; conversionId: string }
  | { kind: "rejected"; reason: RejectReason };

export type RejectReason =
  | "invalid_click_id"
  | "unknown_link"
  | "unknown_event"
  | "offer_paused"
  | "outside_window"
  | "advertiser_mismatch"
  | "illegal_transition";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Legal status moves; anything else is refused and recorded with the reason. */
const TRANSITIONS: Record<ConversionStatus, ConversionStatus[]> = {
  pending: ["approved", "rejected"],
  approved: ["reversed"],
  rejected: [],
  reversed: [],
};

/**
 * Turns one accepted postback into a conversion (or a status change of one) inside the
 * caller's transaction. The click ID alone is enough to credit: it names its link and click
 * time under our HMAC, so a postback that overtakes its click row still lands.
 */
export async function attribute(tx: Tx, codec: ClickIdCodec, p: PostbackReceived): Promise<Outcome> {
  const reject = async (reason: RejectReason): Promise<Outcome> => {
    await tx`insert into attribution_rejections (receipt_id, advertiser_id, event, reason)
             values (${p.receipt_id}, ${p.advertiser_id}, ${p.event}, ${reason})
             on conflict (receipt_id) do nothing`;
    return { kind: "rejected", reason };
  };
  if (!p.click_id) return reject("invalid_click_id");
  const verified = codec.verify(p.click_id);
  if (!verified.ok) return reject("invalid_click_id");
  const { linkId, clickedAt } = verified.claims;

  const [link] = await tx<
    {
      offer_id: string;
      affiliate_id: string;
      advertiser_id: string;
      brand_id: string;
      offer_status: string;
      currency: string;
    }[]
  >`
    select l.offer_id, l.affiliate_id, o.advertiser_id, o.brand_id, o.status as offer_status, o.currency
    from links l join offers o on o.id = l.offer_id where l.id = ${linkId}`;
  if (!link) return reject("unknown_link");
  if (link.advertiser_id !== p.advertiser_id) return reject("advertiser_mismatch");
  const [event] = await tx<{ window_days: number; default_status: ConversionStatus }[]>`
    select window_days, default_status from offer_events where offer_id = ${link.offer_id} and code = ${p.event}`;
  if (!event) return reject("unknown_event");

  const status: ConversionStatus = p.status ?? event.default_status;
  const occurredAt = new Date(p.occurred_at ?? p.received_at);

  // Serialise every change of one conversion identity, whatever order the postbacks arrive in.
  const identity = p.txid ? `tx:${p.advertiser_id}:${p.txid}:${p.event}` : `click:${p.click_id}:${p.event}`;
  await tx`select pg_advisory_xact_lock(hashtextextended(${identity}, 0))`;
  const [existing] = await tx<{ id: string; status: ConversionStatus }[]>`
    select id, status from conversions
    where advertiser_id = ${p.advertiser_id} and event = ${p.event}
      and ${p.txid ? tx`txid = ${p.txid}` : tx`txid is null and click_id = ${p.click_id}`}
    limit 1`;

  if (existing) {
    if (existing.status === status) return { kind: "duplicate", conversionId: existing.id };
    if (!TRANSITIONS[existing.status].includes(status)) return reject("illegal_transition");
    const [{ seq }] = (await tx`
      insert into conversion_history (conversion_id, seq, status, receipt_id)
      select ${existing.id}, coalesce(max(seq), 0) + 1, ${status}, ${p.receipt_id}
      from conversion_history where conversion_id = ${existing.id}
      returning seq`) as unknown as [{ seq: number }];
    const [row] = await tx`update conversions set status = ${status} where id = ${existing.id} returning *`;
    await announce(tx, row as ConversionRow, seq, existing.status, p);
    return { kind: "changed", conversionId: existing.id, status };
  }

  if (link.offer_status !== "active") return reject("offer_paused");
  if (occurredAt.getTime() - clickedAt.getTime() > event.window_days * DAY_MS)
    return reject("outside_window");

  const [row] = await tx<ConversionRow[]>`
    insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event,
                             status, amount, currency, occurred_at, receipt_id)
    values (${p.advertiser_id}, ${link.brand_id}, ${link.offer_id}, ${link.affiliate_id}, ${linkId}, ${p.click_id},
            ${clickedAt}, ${p.txid}, ${p.event}, ${status}, ${p.amount}, ${p.currency ?? link.currency}, ${occurredAt},
            ${p.receipt_id})
    returning *`;
  if (!row) throw new PermanentError("insert_failed", "conversion insert returned nothing");
  await tx`insert into conversion_history (conversion_id, seq, status, receipt_id) values (${row.id}, 1, ${status}, ${p.receipt_id})`;
  await announce(tx, row, 1, null, p);
  return { kind: "created", conversionId: row.id, status };
}

type ConversionRow = {
  id: string;
  advertiser_id: string;
  brand_id: string;
  offer_id: string;
  affiliate_id: string;
  click_id: string;
  txid: string | null;
  event: string;
  status: ConversionStatus;
  amount: string | null;
  currency: string;
  occurred_at: Date;
};

async function announce(
  tx: Tx,
  row: ConversionRow,
  seq: number,
  previous: ConversionStatus | null,
  p: PostbackReceived,
) {
  const event: ConversionChanged = {
    conversion_id: row.id,
    seq,
    status: row.status,
    previous_status: previous,
    advertiser_id: row.advertiser_id,
    brand_id: row.brand_id,
    offer_id: row.offer_id,
    affiliate_id: row.affiliate_id,
    click_id: row.click_id,
    txid: row.txid,
    event: row.event,
    amount: row.amount,
    payout_override: p.payout,
    currency: row.currency,
    occurred_at: row.occurred_at.toISOString(),
  };
  await enqueue(tx, {
    subject: subjects.conversionChanged(row.event, row.status),
    payload: event,
    msgId: `conv:${row.id}:${seq}`,
  });
}
