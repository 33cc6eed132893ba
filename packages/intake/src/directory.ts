import type { Sql } from "@roundtrip/db";
import { type Allowlist, parseAllowlist } from "./ip.ts";

export type AdvertiserEntry = {
  id: string;
  brandId: string;
  active: boolean;
  aliases: Record<string, string>;
  /** SHA-256 hex of the token; null = token check off. */
  tokenHash: string | null;
  /** Secrets that verify signatures now (current and still-valid rotated ones); empty = signature check off. */
  signingSecrets: string[];
  /** Empty = IP check off. */
  allowlist: Allowlist;
  /** Null = the gateway's default. */
  rateLimitPerSecond: number | null;
  pixelEnabled: boolean;
  dedupWindowHours: number;
};

export type LinkEntry = {
  offerId: string;
  advertiserId: string;
  brandId: string;
  brand: string;
  currency: string;
  /** The offer's event codes, sorted (refund and chargeback need none: they reverse by txid). */
  events: readonly string[];
};

export type Directory = {
  advertisers: Map<string, AdvertiserEntry>;
  /** By link id, the number inside every click ID: a postback resolves its advertiser without a query. */
  links: Map<number, LinkEntry>;
  /** Brand slug → id, for `brand=` and the per-brand endpoint. */
  brands: Map<string, string>;
  /** Parameter names some advertiser maps to click_id, tried before the advertiser is known. */
  clickIdAliases: Set<string>;
};

/**
 * Everything intake needs to decide on a postback without touching the database: the gateway
 * holds it in a ConfigCache (refreshed on admin changes), an import loads it once per file.
 */
export async function loadDirectory(sql: Sql): Promise<Directory> {
  const [advertisers, keys, links, brands, offerEvents] = await Promise.all([
    sql<
      {
        id: string;
        brand_id: string;
        token_hash: string | null;
        param_aliases: Record<string, string>;
        status: string;
        ip_allowlist: string[];
        rate_limit_per_second: number | null;
        pixel_enabled: boolean;
        dedup_window_hours: number;
      }[]
    >`
      select id, brand_id, token_hash, param_aliases, status, ip_allowlist, rate_limit_per_second, pixel_enabled,
             dedup_window_hours
      from advertisers`,
    // A rotated-out key keeps verifying until it expires; the cache refresh retires it.
    sql<{ advertiser_id: string; secret: string }[]>`
      select advertiser_id, secret from advertiser_signing_keys
      where expires_at is null or expires_at > now()
      order by id desc`,
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
    sql<{ id: string; slug: string }[]>`select id, slug from brands`,
    sql<{ offer_id: string; codes: string[] }[]>`
      select offer_id, array_agg(code order by code) as codes from offer_events group by offer_id`,
  ]);
  const eventsByOffer = new Map(offerEvents.map((e) => [e.offer_id, e.codes]));
  const secrets = new Map<string, string[]>();
  for (const k of keys) secrets.set(k.advertiser_id, [...(secrets.get(k.advertiser_id) ?? []), k.secret]);
  const clickIdAliases = new Set<string>();
  const entries = advertisers.map((a): [string, AdvertiserEntry] => {
    const aliases = a.param_aliases ?? {};
    for (const [name, canonical] of Object.entries(aliases))
      if (canonical === "click_id") clickIdAliases.add(name);
    return [
      a.id,
      {
        id: a.id,
        brandId: a.brand_id,
        active: a.status === "active",
        aliases,
        tokenHash: a.token_hash,
        signingSecrets: secrets.get(a.id) ?? [],
        allowlist: parseAllowlist(a.ip_allowlist ?? []),
        rateLimitPerSecond: a.rate_limit_per_second,
        pixelEnabled: a.pixel_enabled,
        dedupWindowHours: a.dedup_window_hours,
      },
    ];
  });
  return {
    advertisers: new Map(entries),
    links: new Map(
      links.map((l) => [
        Number(l.id),
        {
          offerId: l.offer_id,
          advertiserId: l.advertiser_id,
          brandId: l.brand_id,
          brand: l.slug,
          currency: l.currency,
          events: eventsByOffer.get(l.offer_id) ?? [],
        },
      ]),
    ),
    brands: new Map(brands.map((b) => [b.slug, b.id])),
    clickIdAliases,
  };
}
