import type { Sql } from "@roundtrip/db";
import { ConfigCache } from "@roundtrip/service";
import type { Logger } from "@roundtrip/telemetry";

export type AdvertiserEntry = {
  id: string;
  brandId: string;
  tokenHash: string | null;
  aliases: Record<string, string>;
  active: boolean;
};
export type LinkEntry = {
  offerId: string;
  advertiserId: string;
  brandId: string;
  brand: string;
  currency: string;
};
export type Directory = {
  advertisers: Map<string, AdvertiserEntry>;
  /** By link id, the number inside every click ID: a postback resolves its advertiser without a query. */
  links: Map<number, LinkEntry>;
};

export function directoryCache(sql: Sql, logger: Logger): ConfigCache<Directory> {
  return new ConfigCache("gateway-directory", () => loadDirectory(sql), logger);
}

async function loadDirectory(sql: Sql): Promise<Directory> {
  const [advertisers, links] = await Promise.all([
    sql<
      {
        id: string;
        brand_id: string;
        token_hash: string | null;
        param_aliases: Record<string, string>;
        status: string;
      }[]
    >`
      select id, brand_id, token_hash, param_aliases, status from advertisers`,
    // Paused links still resolve: a conversion on a click made while the link was live is real.
    sql<
      {
        id: string;
        offer_id: string;
        advertiser_id: string;
        brand_id: string;
        slug: string;
        currency: string;
      }[]
    >`
      select l.id, l.offer_id, o.advertiser_id, o.brand_id, b.slug, o.currency
      from links l join offers o on o.id = l.offer_id join brands b on b.id = o.brand_id`,
  ]);
  return {
    advertisers: new Map(
      advertisers.map((a) => [
        a.id,
        {
          id: a.id,
          brandId: a.brand_id,
          tokenHash: a.token_hash,
          aliases: a.param_aliases,
          active: a.status === "active",
        },
      ]),
    ),
    links: new Map(
      links.map((l) => [
        Number(l.id),
        {
          offerId: l.offer_id,
          advertiserId: l.advertiser_id,
          brandId: l.brand_id,
          brand: l.slug,
          currency: l.currency,
        },
      ]),
    ),
  };
}
