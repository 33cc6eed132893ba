import { enqueue, PermanentError, subjects } from "@roundtrip/bus";
import type { ClickIdCodec } from "@roundtrip/clickid";
import {
  type ConversionChanged,
  type ConversionStatus,
  type PostbackReceived,
  REVERSAL_EVENTS,
} from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import { takeCap } from "./caps.ts";
import { move } from "./lifecycle.ts";

export type Applied = { event: string; status: ConversionStatus };

export type Outcome =
  | { kind: "created"; conversionId: string; applied: Applied[] }
  | { kind: "changed"; conversionId: string; applied: Applied[] }
  /** A pixel's conversion confirmed by the advertiser's S2S report (S2S wins). */
  | { kind: "confirmed"; conversionId: string; applied: Applied[] }
  | { kind: "duplicate"; conversionId: string }
  /** A refund or chargeback for a transaction not seen yet: applied when it arrives. */
  | { kind: "deferred" }
  | { kind: "rejected"; reason: RejectReason };

/** Reason codes reports group by (attribution_rejections.reason). */
export type RejectReason =
  | "invalid_click_id"
  | "unknown_link"
  | "advertiser_mismatch"
  | "brand_mismatch"
  | "unknown_event"
  | "offer_paused"
  | "outside_window"
  | "over_cap"
  | "stale_status"
  | "illegal_transition"
  | "missing_reference";

const DAY_MS = 24 * 60 * 60 * 1000;

type Link = {
  offer_id: string;
  affiliate_id: string;
  advertiser_id: string;
  brand_id: string;
  offer_status: string;
  currency: string;
  timezone: string;
  dedup_window_hours: number;
};

export type ConversionRow = {
  id: string;
  advertiser_id: string;
  brand_id: string;
  offer_id: string;
  affiliate_id: string;
  click_id: string;
  txid: string | null;
  event: string;
  status: ConversionStatus;
  source: string;
  amount: string | null;
  currency: string;
  occurred_at: Date;
};

/**
 * Turns one accepted postback into a conversion, a status change of one, or a recorded refusal,
 * inside the caller's transaction (the consumer's inbox transaction, so a redelivery changes
 * nothing). The click ID alone is enough to credit: it names its link and click time under our
 * HMAC, so a postback that overtakes its click row still lands; the click row, when stored,
 * only enriches the conversion.
 */
export async function attribute(tx: Tx, codec: ClickIdCodec, p: PostbackReceived): Promise<Outcome> {
  const reject = async (reason: RejectReason, conversionId: string | null = null): Promise<Outcome> => {
    await record(tx, p, reason, conversionId);
    return { kind: "rejected", reason };
  };
  if (!p.click_id) return reject("invalid_click_id");
  const verified = codec.verify(p.click_id);
  if (!verified.ok) return reject("invalid_click_id");
  const { linkId, clickedAt } = verified.claims;

  const [link] = await tx<Link[]>`
    select l.offer_id, l.affiliate_id, o.advertiser_id, o.brand_id, o.status as offer_status, o.currency, b.timezone,
           a.dedup_window_hours
    from links l join offers o on o.id = l.offer_id join brands b on b.id = o.brand_id join advertisers a on a.id = o.advertiser_id
    where l.id = ${linkId}`;
  if (!link) return reject("unknown_link");
  if (link.advertiser_id !== p.advertiser_id) return reject("advertiser_mismatch");
  if (link.brand_id !== p.brand_id) return reject("brand_mismatch");

  if (REVERSAL_EVENTS.includes(p.event)) return reverseTransaction(tx, p, reject);

  const [event] = await tx<
    {
      window_days: number;
      default_status: ConversionStatus;
      cap_daily: number | null;
      cap_monthly: number | null;
    }[]
  >`
    select window_days, default_status, cap_daily, cap_monthly from offer_events where offer_id = ${link.offer_id} and code = ${p.event}`;
  if (!event) return reject("unknown_event");

  // A pixel reports that something happened; only the advertiser's server decides its status.
  const status: ConversionStatus =
    p.source === "pixel" ? event.default_status : (p.status ?? event.default_status);
  const occurredAt = new Date(p.occurred_at ?? p.received_at);
  const pixel = p.source === "pixel";

  // Serialise everything that could be the same conversion, whatever order postbacks arrive in:
  // the click and event (no-txid dedup, pixel/S2S hybrid), then the txid. Always in this order.
  await tx`select pg_advisory_xact_lock(hashtextextended(${`conv:click:${p.click_id}:${p.event}`}, 0))`;
  if (p.txid)
    await tx`select pg_advisory_xact_lock(hashtextextended(${`conv:tx:${p.advertiser_id}:${p.txid}:${p.event}`}, 0))`;

  let existing: ConversionRow | undefined;
  if (p.txid) {
    [existing] = await tx<ConversionRow[]>`
      select * from conversions where advertiser_id = ${p.advertiser_id} and txid = ${p.txid} and event = ${p.event}
      for update`;
  }
  if (!existing) {
    // Same click and event within the advertiser's window: the no-txid dedup, and the hybrid
    // where one side (pixel or S2S) knows the txid and the other does not.
    const windowMs = link.dedup_window_hours * 3_600_000;
    const match = pixel
      ? p.txid
        ? tx`txid is null`
        : tx`true`
      : p.txid
        ? tx`source = 'pixel' and txid is null`
        : tx`(txid is null or source = 'pixel')`;
    [existing] = await tx<ConversionRow[]>`
      select * from conversions
      where click_id = ${p.click_id} and event = ${p.event} and advertiser_id = ${p.advertiser_id}
        and occurred_at > ${new Date(occurredAt.getTime() - windowMs)} and occurred_at < ${new Date(occurredAt.getTime() + windowMs)}
        and ${match}
      order by id
      limit 1
      for update`;
  }

  if (existing) {
    // A pixel never changes a conversion that exists: S2S (or an earlier pixel) already has it.
    if (pixel) return duplicate(tx, p, existing.id);
    if (existing.source === "pixel") return confirm(tx, p, existing, status);
    return update(tx, p, existing, status, null, reject);
  }

  if (link.offer_status !== "active") return reject("offer_paused");
  if (occurredAt.getTime() - clickedAt.getTime() > event.window_days * DAY_MS)
    return reject("outside_window");
  if (
    (status === "pending" || status === "approved") &&
    !(await takeCap(tx, link, p.event, event, occurredAt))
  ) {
    return reject("over_cap");
  }

  const [click] = await tx<{ subs: Record<string, string>; ip: string | null; user_agent: string | null }[]>`
    select subs, ip, user_agent from clicks
    where click_id = ${p.click_id} and clicked_at >= ${clickedAt} and clicked_at < ${new Date(clickedAt.getTime() + 1000)}
    limit 1`;
  const [row] = await tx<ConversionRow[]>`
    insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event,
                             status, amount, currency, occurred_at, receipt_id, source, subs, ip, user_agent, enriched_at)
    values (${p.advertiser_id}, ${link.brand_id}, ${link.offer_id}, ${link.affiliate_id}, ${linkId}, ${p.click_id},
            ${clickedAt}, ${p.txid}, ${p.event}, ${status}, ${p.amount}, ${p.currency ?? link.currency}, ${occurredAt},
            ${p.receipt_id}, ${p.source}, ${click ? tx.json(click.subs) : null}, ${click?.ip ?? null}, ${click?.user_agent ?? null},
            ${click ? new Date() : null})
    returning *`;
  if (!row) throw new PermanentError("insert_failed", "conversion insert returned nothing");
  await tx`insert into conversion_history (conversion_id, seq, status, receipt_id) values (${row.id}, 1, ${status}, ${p.receipt_id})`;
  await announce(tx, row, 1, null, p);
  const applied: Applied[] = [{ event: row.event, status }];

  // A refund that overtook this conversion was parked; apply it now.
  if (row.txid) applied.push(...(await applyParkedReversals(tx, p, row)));
  return { kind: "created", conversionId: row.id, applied };
}

/** A later postback for a known conversion: same status = duplicate, else a lifecycle move. */
async function update(
  tx: Tx,
  p: PostbackReceived,
  existing: ConversionRow,
  status: ConversionStatus,
  reason: string | null,
  reject: (reason: RejectReason, conversionId: string | null) => Promise<Outcome>,
): Promise<Outcome> {
  const m = move(existing.status, status);
  if (m.kind === "same") return duplicate(tx, p, existing.id);
  if (m.kind === "stale") return reject("stale_status", existing.id);
  if (m.kind === "illegal") return reject("illegal_transition", existing.id);
  let current = existing;
  const applied: Applied[] = [];
  for (const step of m.steps) {
    current = await changeStatus(tx, current, step.status, step.reason ?? reason, p);
    applied.push({ event: current.event, status: step.status });
  }
  return { kind: "changed", conversionId: existing.id, applied };
}

/**
 * S2S wins: the advertiser's server report of a conversion a pixel created first takes it over —
 * its txid, amount and currency become the conversion's (the pixel's are a browser's claim) and
 * its status applies by the usual rules. The conversion is still booked once.
 */
async function confirm(
  tx: Tx,
  p: PostbackReceived,
  existing: ConversionRow,
  status: ConversionStatus,
): Promise<Outcome> {
  const [row] = await tx<ConversionRow[]>`
    update conversions set
      source = ${p.source}, receipt_id = ${p.receipt_id}, txid = coalesce(txid, ${p.txid}),
      amount = coalesce(${p.amount}::numeric, amount), currency = coalesce(${p.currency}, currency)
    where id = ${existing.id}
    returning *`;
  if (!row) throw new PermanentError("update_failed", "conversion update returned nothing");
  await history(tx, row.id, row.status, p.receipt_id, "confirmed_by_s2s");
  // Its status applies when the lifecycle allows; a stale or conflicting one leaves the status as it is.
  const m = move(row.status, status);
  const applied: Applied[] = [];
  if (m.kind === "apply") {
    let current = row;
    for (const step of m.steps) {
      current = await changeStatus(tx, current, step.status, step.reason, p);
      applied.push({ event: current.event, status: step.status });
    }
  }
  return { kind: "confirmed", conversionId: row.id, applied };
}

/**
 * A refund or chargeback: every conversion of the transaction it names (ref_txid, else its own
 * txid) is reversed. If none exists yet the reversal is parked and applied when it arrives, so
 * the final state does not depend on arrival order.
 */
async function reverseTransaction(
  tx: Tx,
  p: PostbackReceived,
  reject: (reason: RejectReason, conversionId?: string | null) => Promise<Outcome>,
): Promise<Outcome> {
  const target = p.ref_txid ?? p.txid;
  if (!target) return reject("missing_reference");
  await tx`select pg_advisory_xact_lock(hashtextextended(${`conv:ref:${p.advertiser_id}:${target}`}, 0))`;
  const rows = await tx<ConversionRow[]>`
    select * from conversions
    where advertiser_id = ${p.advertiser_id} and txid = ${target} and event not in ${tx(REVERSAL_EVENTS as string[])}
    order by id
    for update`;
  if (rows.length === 0) {
    await tx`insert into pending_reversals (advertiser_id, txid, receipt_id, event)
             values (${p.advertiser_id}, ${target}, ${p.receipt_id}, ${p.event}) on conflict do nothing`;
    return { kind: "deferred" };
  }
  const applied: Applied[] = [];
  let last: Outcome | undefined;
  for (const row of rows) {
    const m = move(row.status, "reversed");
    if (m.kind !== "apply") continue;
    let current = row;
    for (const step of m.steps) {
      current = await changeStatus(tx, current, step.status, step.reason ?? p.event, p);
      applied.push({ event: row.event, status: step.status });
    }
    last = { kind: "changed", conversionId: row.id, applied };
  }
  if (last) return last;
  // Everything it names is already reversed (or rejected): a repeat of the refund.
  return duplicate(tx, p, (rows[0] as ConversionRow).id);
}

async function applyParkedReversals(tx: Tx, p: PostbackReceived, row: ConversionRow): Promise<Applied[]> {
  await tx`select pg_advisory_xact_lock(hashtextextended(${`conv:ref:${row.advertiser_id}:${row.txid}`}, 0))`;
  const parked = await tx<{ receipt_id: string; event: string }[]>`
    update pending_reversals set applied_at = now()
    where advertiser_id = ${row.advertiser_id} and txid = ${row.txid} and applied_at is null
    returning receipt_id, event`;
  const first = parked[0];
  if (!first) return [];
  const m = move(row.status, "reversed");
  if (m.kind !== "apply") return [];
  const applied: Applied[] = [];
  let current = row;
  for (const step of m.steps) {
    current = await changeStatus(tx, current, step.status, step.reason ?? first.event, {
      ...p,
      receipt_id: first.receipt_id,
      payout: null,
    });
    applied.push({ event: row.event, status: step.status });
  }
  return applied;
}

async function changeStatus(
  tx: Tx,
  row: ConversionRow,
  status: ConversionStatus,
  reason: string | null,
  p: PostbackReceived,
): Promise<ConversionRow> {
  const seq = await history(tx, row.id, status, p.receipt_id, reason);
  const [updated] = await tx<
    ConversionRow[]
  >`update conversions set status = ${status} where id = ${row.id} returning *`;
  if (!updated) throw new PermanentError("update_failed", "conversion update returned nothing");
  await announce(tx, updated, seq, row.status, p);
  return updated;
}

async function history(
  tx: Tx,
  conversionId: string,
  status: ConversionStatus,
  receiptId: string,
  reason: string | null,
): Promise<number> {
  const [row] = await tx<{ seq: number }[]>`
    insert into conversion_history (conversion_id, seq, status, receipt_id, reason)
    select ${conversionId}, coalesce(max(seq), 0) + 1, ${status}, ${receiptId}, ${reason}
    from conversion_history where conversion_id = ${conversionId}
    returning seq`;
  return (row as { seq: number }).seq;
}

async function duplicate(tx: Tx, p: PostbackReceived, conversionId: string): Promise<Outcome> {
  await record(tx, p, "duplicate", conversionId);
  return { kind: "duplicate", conversionId };
}

/** One row per receipt attribution did not turn into a new status, with the reason reports group by. */
async function record(
  tx: Tx,
  p: PostbackReceived,
  reason: RejectReason | "duplicate",
  conversionId: string | null,
): Promise<void> {
  await tx`insert into attribution_rejections (receipt_id, advertiser_id, brand_id, event, reason, conversion_id, source)
           values (${p.receipt_id}, ${p.advertiser_id}, ${p.brand_id}, ${p.event}, ${reason}, ${conversionId}, ${p.source})
           on conflict (receipt_id) do nothing`;
}

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
    // A browser cannot set what the affiliate is paid.
    payout_override: p.source === "pixel" ? null : p.payout,
    currency: row.currency,
    occurred_at: row.occurred_at.toISOString(),
  };
  await enqueue(tx, {
    subject: subjects.conversionChanged(row.event, row.status),
    payload: event,
    msgId: `conv:${row.id}:${seq}`,
  });
}
