/**
 * Two partners' worth of traffic for the role and visibility tests: per partner a program (brand,
 * advertiser, offer, affiliate, link) and a click, a conversion with its history, a ledger entry,
 * a postback template, a delivery with an attempt and report rollups — each carrying the visitor's
 * IP address and user agent where the tables keep them, and a marker string only its data contains.
 */
import { type Harness, program } from "../test-support.ts";

export type Program = Awaited<ReturnType<typeof program>>;
export type Owned = {
  click: string;
  conversion: string;
  entry: string;
  template: string;
  delivery: string;
  secret: string;
  marker: string;
};
export type Partner = Program & { owned: Owned; key: string };

/** What a visitor leaves behind that no affiliate may ever read. */
export const VISITOR = { ip: "203.0.113.9", userAgent: "VisitorAgent/1.0 (secret-ua)" } as const;

export async function seedPartner(h: Harness, name: string): Promise<Partner> {
  const p = await program(h);
  const clickedAt = new Date(Date.now() - 3_600_000);
  const clickId = h.codec.mint(Number(p.link.id), clickedAt);
  const marker = `marker-${name}-${crypto.randomUUID().slice(0, 6)}`;
  await h.sql`
    insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, subs)
    values (${clickId}, ${clickedAt}, ${p.link.id}, ${p.offer.id}, ${p.affiliate.id}, ${p.brand.id},
            ${VISITOR.ip}, ${VISITOR.userAgent}, ${h.sql.json({ sub1: marker })})`;
  const [receipt] = await h.sql`
    insert into postback_receipts (advertiser_id, brand_id, dedup_key, click_id, txid, event, status, amount, currency)
    values (${p.advertiser.id}, ${p.brand.id}, ${`tx:${marker}|ftd|`}, ${clickId}, ${marker}, 'ftd', 'approved', 100, 'EUR') returning id`;
  await h.sql`
    insert into postback_log (advertiser_id, brand_id, source, method, params, ip, outcome, http_status, receipt_id)
    values (${p.advertiser.id}, ${p.brand.id}, 's2s', 'GET', ${h.sql.json({ click_id: clickId, txid: marker, token: "x" })},
            ${VISITOR.ip}, 'accepted', 200, ${receipt?.id})`;
  const [conversion] = await h.sql`
    insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event,
                             status, amount, currency, occurred_at, receipt_id, ip, user_agent, subs, enriched_at)
    values (${p.advertiser.id}, ${p.brand.id}, ${p.offer.id}, ${p.affiliate.id}, ${p.link.id}, ${clickId}, ${clickedAt},
            ${marker}, 'ftd', 'approved', 100, 'EUR', now(), ${receipt?.id}, ${VISITOR.ip}, ${VISITOR.userAgent},
            ${h.sql.json({ sub1: marker })}, now())
    returning id`;
  await h.sql`insert into conversion_history (conversion_id, seq, status, receipt_id) values (${conversion?.id}, 1, 'approved', ${receipt?.id})`;
  const [entry] = await h.sql`
    insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, type, payout, revenue, currency,
                                affiliate_payout, affiliate_currency, calculation)
    values (${conversion?.id}, 1, ${p.affiliate.id}, ${p.offer.id}, 'commission', 25, 40, 'EUR', 25, 'EUR',
            ${h.sql.json({ rule: "cpa" })}) returning id`;
  const template = await h.ok<{ id: string }>("POST", "/v1/affiliate-postbacks", {
    affiliate_id: p.affiliate.id,
    url_template: `https://${marker}.example/pb?cid={click_id}`,
  });
  const secret = await h.ok<{ id: string }>("POST", "/v1/webhook-secrets", { affiliate_id: p.affiliate.id });
  const [delivery] = await h.sql`
    insert into deliveries (conversion_id, change_seq, template_id, affiliate_id, method, url, status, attempts)
    values (${conversion?.id}, 1, ${template.id}, ${p.affiliate.id}, 'GET', ${`https://${marker}.example/pb?cid=${clickId}`}, 'delivered', 1)
    returning id`;
  await h.sql`insert into delivery_attempts (delivery_id, attempt, started_at, latency_ms, status_code) values (${delivery?.id}, 1, now(), 12, 200)`;
  // The rollups as the consumers would leave them.
  for (const [table, time] of [
    ["report_hourly", h.sql`date_trunc('hour', now())`],
    ["report_daily", h.sql`current_date`],
  ] as const) {
    await h.sql`
      insert into ${h.sql(table)} (${h.sql(table === "report_hourly" ? "hour" : "day")}, offer_id, affiliate_id, event, currency, sub1,
        brand_id, advertiser_id, clicks, unique_clicks, conversions, approved, amount, payout, revenue)
      values (${time}, ${p.offer.id}, ${p.affiliate.id}, 'ftd', 'EUR', ${marker}, ${p.brand.id}, ${p.advertiser.id},
        10, 9, 1, 1, 100, 25, 40)`;
  }
  return {
    ...p,
    key: await h.affiliateKey(p.affiliate.id),
    owned: {
      click: clickId,
      conversion: conversion?.id as string,
      entry: entry?.id as string,
      template: template.id,
      delivery: delivery?.id as string,
      secret: secret.id,
      marker,
    },
  };
}
