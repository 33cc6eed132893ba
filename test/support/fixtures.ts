import { unwrap } from "@roundtrip/client";
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
 * affiliate with a tracking link and a postback template pointing at `postbackUrl`. Through the
 * typed client: a change to these routes' bodies or answers fails the typecheck here.
 */
export async function createProgram(
  admin: AdminClient,
  options: { postbackUrl: string; slug?: string; ftdPayout?: string },
): Promise<Program> {
  const slug = options.slug ?? `b${crypto.randomUUID().slice(0, 8)}`;
  const brand = await unwrap(
    admin.api.POST("/v1/brands", {
      body: { slug, name: `Brand ${slug}`, currency: "EUR", timezone: "Europe/Malta" },
    }),
  );
  const advertiser = await unwrap(
    admin.api.POST("/v1/advertisers", { body: { brand_id: brand.id, name: "Casino" } }),
  );
  // The row schema allows null (the token is shown once, when created): a create always has it.
  const { token } = advertiser;
  if (!token) throw new Error("POST /v1/advertisers answered no token");
  const offer = await unwrap(
    admin.api.POST("/v1/offers", {
      body: {
        brand_id: brand.id,
        advertiser_id: advertiser.id,
        name: "Welcome",
        destination_url: "https://casino.example/landing?cid={click_id}&aff={affiliate_id}&s1={sub1}",
        currency: "EUR",
        events: [
          { code: "registration", window_days: 30 },
          { code: "ftd", window_days: 30 },
        ],
      },
    }),
  );
  await unwrap(
    admin.api.POST("/v1/payout-rules", {
      body: {
        offer_id: offer.id,
        event: "ftd",
        model: "cpa",
        payout: options.ftdPayout ?? "25.00",
        revenue: "40.00",
        currency: "EUR",
      },
    }),
  );
  const { affiliate, link } = await addAffiliate(admin, {
    offerId: offer.id,
    postbackUrl: options.postbackUrl,
  });
  return { brand, advertiser: { id: advertiser.id, token }, offer, affiliate, link };
}

/**
 * An affiliate promoting `offerId` through a tracking link of its own, with its postback template
 * pointing at `postbackUrl` (`/pb?…&tx={txid}&…&s1={sub1}`: the exactness audit reads tx and s1).
 */
export async function addAffiliate(
  admin: AdminClient,
  options: { offerId: string; postbackUrl: string; name?: string },
): Promise<Pick<Program, "affiliate" | "link">> {
  const affiliate = await unwrap(
    admin.api.POST("/v1/affiliates", { body: { name: options.name ?? "Affiliate", payout_currency: "EUR" } }),
  );
  const link = await unwrap(
    admin.api.POST("/v1/links", { body: { offer_id: options.offerId, affiliate_id: affiliate.id } }),
  );
  await unwrap(
    admin.api.POST("/v1/affiliate-postbacks", {
      body: {
        affiliate_id: affiliate.id,
        url_template: `${options.postbackUrl}/pb?cid={click_id}&tx={txid}&ev={event}&st={status}&pay={payout}&cur={currency}&s1={sub1}`,
      },
    }),
  );
  return { affiliate, link };
}
