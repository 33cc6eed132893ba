import type { Sql } from "@roundtrip/db";
import { ConfigCache } from "@roundtrip/service";
import type { Logger } from "@roundtrip/telemetry";
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
    }[]
  >`
    select l.id, l.code, l.offer_id, l.affiliate_id, o.brand_id, b.slug, o.destination_url, o.click_id_param,
           b.ip_truncation, b.click_cookie
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
        },
      ];
    }),
  );
}
