import type { ClicksRecorded } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";

/**
 * Stores a batch of clicks from its CLICKS event (inside the consumer's inbox transaction): one
 * statement for the batch, and a click already stored — a redelivery, or a batch the click service
 * wrote to PostgreSQL itself when its publish failed — is left as it is.
 */
export async function storeClicks(tx: Tx, batch: ClicksRecorded): Promise<number> {
  if (batch.clicks.length === 0) return 0;
  const rows = batch.clicks.map((c) => ({
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
  }));
  const result = await tx`
    insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, referrer, subs, is_unique)
    select click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, referrer, subs, is_unique
    from json_populate_recordset(null::clicks, ${JSON.stringify(rows)}::text::json)
    on conflict (click_id, clicked_at) do nothing`;
  return result.count;
}
