import type { Sql } from "@roundtrip/db";
import { ConfigCache } from "@roundtrip/service";
import type { Logger } from "@roundtrip/telemetry";
import { type ClickCaps, hasClickCap } from "./click-caps.ts";
import { compileDestination, type Destination } from "./redirect.ts";

export type ResolvedLink = {
  linkId: number;
  code: string;
  offerId: string;
  affiliateId: string;
  brandId: string;
  brand: string;
  destinationUrl: string;
  clickIdParam: string;
  /** The destination compiled once per cache load. */
  destination: Destination;
  /** The brand's IP truncation (null: the service's IP_TRUNCATE) and whether the click sets its cookie. */
  ipTruncation: "none" | "last-octet" | null;
  clickCookie: boolean;
  /** The offer's click caps and where its traffic goes once one is reached (null: uncapped). */
  caps: { limits: ClickCaps; fallback: Destination } | null;
};

/** Every active tracking link by code; paused links, offers or affiliates are simply absent (404). */
export function linkCache(sql: Sql, logger: Logger): ConfigCache<Map<string, ResolvedLink>> {
  return new ConfigCache("links", () => loadLinks(sql), logger);
}

async function loadLinks(sql: Sql): Promise<Map<string, ResolvedLink>> {
  const rows = await sql<
    {
      id: string;
      code: string;
      offer_id: string;
      affiliate_id: string;
      brand_id: string;
      slug: string;
      destination_url: string;
      click_id_param: string;
      ip_truncation: "none" | "last-octet" | null;
      click_cookie: boolean;
      timezone: string;
      click_cap_daily: number | null;
      click_cap_monthly: number | null;
      click_cap_lifetime: number | null;
      fallback_url: string | null;
    }[]
  >`
    select l.id, l.code, l.offer_id, l.affiliate_id, o.brand_id, b.slug, o.destination_url, o.click_id_param,
           b.ip_truncation, b.click_cookie, b.timezone,
           o.click_cap_daily, o.click_cap_monthly, o.click_cap_lifetime, o.fallback_url
    from links l
    join offers o on o.id = l.offer_id
    join brands b on b.id = o.brand_id
    join affiliates a on a.id = l.affiliate_id
    where l.status = 'active' and o.status = 'active' and a.status = 'active'`;
  return new Map(
    rows.map((r) => {
      const link = {
        linkId: Number(r.id),
        code: r.code,
        offerId: r.offer_id,
        affiliateId: r.affiliate_id,
        brandId: r.brand_id,
        brand: r.slug,
        destinationUrl: r.destination_url,
        clickIdParam: r.click_id_param,
      };
      return [
        r.code,
        {
          ...link,
          destination: compileDestination(link),
          ipTruncation: r.ip_truncation,
          clickCookie: r.click_cookie,
          caps: capsOf(r, link),
        },
      ];
    }),
  );
}

/** A cap only applies with somewhere to send the traffic it turns away (admin requires both). */
function capsOf(
  r: {
    offer_id: string;
    timezone: string;
    click_cap_daily: number | null;
    click_cap_monthly: number | null;
    click_cap_lifetime: number | null;
    fallback_url: string | null;
  },
  link: Parameters<typeof compileDestination>[0],
): ResolvedLink["caps"] {
  const limits: ClickCaps = {
    offerId: r.offer_id,
    timezone: r.timezone,
    daily: r.click_cap_daily,
    monthly: r.click_cap_monthly,
    lifetime: r.click_cap_lifetime,
  };
  if (!hasClickCap(limits) || !r.fallback_url) return null;
  return { limits, fallback: compileDestination({ ...link, destinationUrl: r.fallback_url }) };
}
