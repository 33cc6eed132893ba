import { type CommissionBooked, renderUrl } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";

/**
 * Turns a settled conversion change into delivery rows (inside the caller's transaction): the
 * most specific active template of the affiliate — offer and event, then offer, then event,
 * then global — rendered with the contract's macros. Unique per (conversion, change, template),
 * so a redelivered event plans nothing new.
 */
export async function planDeliveries(tx: Tx, c: CommissionBooked): Promise<number> {
  const [template] = await tx<{ id: string; method: string; url_template: string }[]>`
    select id, method, url_template from affiliate_postbacks
    where affiliate_id = ${c.affiliate_id} and status = 'active'
      and (offer_id is null or offer_id = ${c.offer_id})
      and (event is null or event = ${c.event})
    order by (offer_id is not null) desc, (event is not null) desc, id
    limit 1`;
  if (!template) return 0;
  const [click] = await tx<{ subs: Record<string, string> }[]>`
    select subs from clicks where click_id = ${c.click_id} limit 1`;
  const [brand] = await tx<{ slug: string }[]>`select slug from brands where id = ${c.brand_id}`;
  const url = renderUrl(template.url_template, {
    click_id: c.click_id,
    txid: c.txid,
    conversion_id: c.conversion_id,
    event: c.event,
    status: c.status,
    payout: c.payout,
    currency: c.currency,
    amount: c.amount,
    offer_id: c.offer_id,
    affiliate_id: c.affiliate_id,
    brand: brand?.slug ?? null,
    timestamp: Math.floor(new Date(c.occurred_at).getTime() / 1000),
    ...Object.fromEntries(
      Array.from({ length: 10 }, (_, i) => [`sub${i + 1}`, click?.subs[`sub${i + 1}`] ?? null]),
    ),
  });
  const rows = await tx`
    insert into deliveries (conversion_id, change_seq, template_id, affiliate_id, method, url)
    values (${c.conversion_id}, ${c.seq}, ${template.id}, ${c.affiliate_id}, ${template.method}, ${url})
    on conflict (conversion_id, change_seq, template_id) do nothing
    returning id`;
  if (rows.length) await tx`select pg_notify('roundtrip_deliveries', '')`;
  return rows.length;
}
