import type { ClickRecorded, ClicksRecorded } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";

/** A click PostgreSQL refused for what it holds, and why. */
export type RefusedClick = { click: ClickRecorded; error: Error & { code?: string } };

/**
 * Stores a batch of clicks from its CLICKS event (inside the consumer's inbox transaction): one
 * statement for the batch, and a click already stored — a redelivery, or a batch the click service
 * wrote to PostgreSQL itself when its publish failed — is left as it is.
 *
 * With `refused` given, a batch PostgreSQL refuses for what a row holds (a data or integrity
 * error) is stored click by click, each under a savepoint; the clicks still refused are handed
 * back there instead of failing the batch, so one poison row cannot hold back the others.
 */
export async function storeClicks(tx: Tx, batch: ClicksRecorded, refused?: RefusedClick[]): Promise<number> {
  if (batch.clicks.length === 0) return 0;
  if (!refused) return insertClicks(tx, batch.clicks);
  try {
    return await tx.savepoint((sp) => insertClicks(sp, batch.clicks));
  } catch (err) {
    if (!isRowError(err)) throw err;
  }
  let stored = 0;
  for (const click of batch.clicks) {
    try {
      stored += await tx.savepoint((sp) => insertClicks(sp, [click]));
    } catch (err) {
      if (!isRowError(err)) throw err;
      refused.push({ click, error: err as RefusedClick["error"] });
    }
  }
  return stored;
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity): the row's content, not the database's state. */
function isRowError(err: unknown): boolean {
  return /^2[23]/.test(String((err as { code?: unknown }).code ?? ""));
}

async function insertClicks(tx: Tx, clicks: ClickRecorded[]): Promise<number> {
  // In key order, so two batches holding the same clicks (a fallback write and its event) lock
  // the rows in the same order and never deadlock.
  const sorted = [...clicks].sort((a, b) => (a.click_id < b.click_id ? -1 : a.click_id > b.click_id ? 1 : 0));
  const rows = sorted.map((c) => ({
    click_id: c.click_id,
    clicked_at: c.clicked_at,
    link_id: c.link_id,
    offer_id: c.offer_id,
    affiliate_id: c.affiliate_id,
    brand_id: c.brand_id,
    ip: c.ip ?? null,
    user_agent: c.user_agent ?? null,
    referrer: c.referrer ?? null,
    subs: c.subs ?? {},
    is_unique: c.is_unique,
    device_type: c.device_type ?? null,
    os: c.os ?? null,
    browser: c.browser ?? null,
    reasons: c.reasons ?? [],
    country: c.country ?? null,
    via_link_id: c.via_link_id ?? null,
    route_rule_id: c.route_rule_id ?? null,
    route_destination_id: c.route_destination_id ?? null,
  }));
  const result = await tx`
    insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, referrer, subs, is_unique,
                        device_type, os, browser, reasons, country, via_link_id, route_rule_id, route_destination_id)
    select click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, referrer, subs, is_unique,
           device_type, os, browser, reasons, country, via_link_id, route_rule_id, route_destination_id
    from json_populate_recordset(null::clicks, ${JSON.stringify(rows)}::text::json)
    on conflict (click_id, clicked_at) do nothing`;
  return result.count;
}
