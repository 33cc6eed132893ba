import type { AdminClient } from "./test-stack.ts";

export type Program = {
  brand: { id: string; slug: string };
  advertiser: { id: string; token: string };
  offer: { id: string };
  affiliate: { id: string };
  link: { id: string; code: string; tracking_url: string };
};

/**
 * A brand, an advertiser with its token, an offer with registration and ftd (CPA on ftd), an
 * affiliate with a tracking link and a postback template pointing at `postbackUrl`.
 */
export async function createProgram(
  admin: AdminClient,
  options: { postbackUrl: string; slug?: string; ftdPayout?: string },
): Promise<Program> {
  const slug = options.slug ?? `b${crypto.randomUUID().slice(0, 8)}`;
  const brand = await admin.post<{ id: string; slug: string }>("/v1/brands", {
    slug,
    name: `Brand ${slug}`,
    currency: "EUR",
    timezone: "Europe/Malta",
  });
  const advertiser = await admin.post<{ id: string; token: string }>("/v1/advertisers", {
    brand_id: brand.id,
    name: "Casino",
  });
  const offer = await admin.post<{ id: string }>("/v1/offers", {
    brand_id: brand.id,
    advertiser_id: advertiser.id,
    name: "Welcome",
    destination_url: "https://casino.example/landing?cid={click_id}&aff={affiliate_id}&s1={sub1}",
    currency: "EUR",
    events: [
      { code: "registration", window_days: 30 },
      { code: "ftd", window_days: 30 },
    ],
  });
  await admin.post("/v1/payout-rules", {
    offer_id: offer.id,
    event: "ftd",
    model: "cpa",
    payout: options.ftdPayout ?? "25.00",
    revenue: "40.00",
    currency: "EUR",
  });
  const { affiliate, link } = await addAffiliate(admin, {
    offerId: offer.id,
    postbackUrl: options.postbackUrl,
  });
  return { brand, advertiser, offer, affiliate, link };
}

/**
 * An affiliate promoting `offerId` through a tracking link of its own, with its postback template
 * pointing at `postbackUrl` (`/pb?…&tx={txid}&…&s1={sub1}`: the exactness audit reads tx and s1).
 */
export async function addAffiliate(
  admin: AdminClient,
  options: { offerId: string; postbackUrl: string; name?: string },
): Promise<Pick<Program, "affiliate" | "link">> {
  const affiliate = await admin.post<{ id: string }>("/v1/affiliates", {
    name: options.name ?? "Affiliate",
    payout_currency: "EUR",
  });
  const link = await admin.post<{ id: string; code: string; tracking_url: string }>("/v1/links", {
    offer_id: options.offerId,
    affiliate_id: affiliate.id,
  });
  await admin.post("/v1/affiliate-postbacks", {
    affiliate_id: affiliate.id,
    url_template: `${options.postbackUrl}/pb?cid={click_id}&tx={txid}&ev={event}&st={status}&pay={payout}&cur={currency}&s1={sub1}`,
  });
  return { affiliate, link };
}
