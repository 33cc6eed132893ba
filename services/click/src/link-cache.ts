import type { Sql } from "@roundtrip/db";
import { type CompiledRouting, compileConditions, RouteConditions } from "@roundtrip/routing";
import { ConfigCache } from "@roundtrip/service";
import { Value } from "@sinclair/typebox/value";
import type { Logger } from "@roundtrip/telemetry";
import { type ClickCaps, type FilledCaps, hasClickCap } from "./click-caps.ts";
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
  /**
   * The offer's caps and where its traffic goes once one is reached (null: uncapped): click caps
   * take a place per click; conversion and payout caps (`filled`, null when it has none) are read.
   */
  caps: { limits: ClickCaps; filled: FilledCaps | null; fallback: Destination } | null;
  /** The brand's IANA time zone: routing's time of day is the brand's. */
  timezone: string;
  /**
   * The link's routing rules (docs/routing.md), destinations resolved to their links; a
   * destination whose link, offer or affiliate is not active has target null (never chosen).
   * Null: the link always goes to its own offer.
   */
  routing: CompiledRouting<ResolvedLink | null> | null;
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
      conversion_capped: boolean;
      payout_capped: boolean;
    }[]
  >`
    select l.id, l.code, l.offer_id, l.affiliate_id, o.brand_id, b.slug, o.destination_url, o.click_id_param,
           b.ip_truncation, b.click_cookie, b.timezone,
           o.click_cap_daily, o.click_cap_monthly, o.click_cap_lifetime, o.fallback_url,
           exists (select 1 from offer_events e where e.offer_id = o.id
                   and (e.cap_daily is not null or e.cap_monthly is not null)) as conversion_capped,
           o.payout_cap_daily is not null or o.payout_cap_monthly is not null as payout_capped
    from links l
    join offers o on o.id = l.offer_id
    join brands b on b.id = o.brand_id
    join affiliates a on a.id = l.affiliate_id
    where l.status = 'active' and o.status = 'active' and a.status = 'active'`;
  const byId = new Map<string, ResolvedLink>();
  for (const r of rows) {
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
    byId.set(r.id, {
      ...link,
      destination: compileDestination(link),
      ipTruncation: r.ip_truncation,
      clickCookie: r.click_cookie,
      caps: capsOf(r, link),
      timezone: r.timezone,
      routing: null,
    });
  }
  await attachRouting(sql, byId);
  return new Map([...byId.values()].map((l) => [l.code, l]));
}

/**
 * Compiles the live routing of every active link (retired rules are history only). A rule whose
 * stored conditions no longer read as the schema says is skipped rather than guessed at.
 */
async function attachRouting(sql: Sql, byId: Map<string, ResolvedLink>): Promise<void> {
  const routes = await sql<
    { id: string; link_id: string; fallback: boolean; conditions: unknown }[]
  >`select id, link_id, fallback, conditions from link_routes where retired_at is null order by link_id, position`;
  if (routes.length === 0) return;
  const destinations = await sql<{ id: string; route_id: string; target_link_id: string; weight: number }[]>`
    select d.id, d.route_id, d.target_link_id, d.weight
    from link_route_destinations d join link_routes r on r.id = d.route_id
    where r.retired_at is null order by d.route_id, d.position`;
  const byRoute = new Map<string, { id: string; weight: number; target: ResolvedLink | null }[]>();
  for (const d of destinations) {
    const list = byRoute.get(d.route_id) ?? [];
    list.push({ id: d.id, weight: d.weight, target: byId.get(d.target_link_id) ?? null });
    byRoute.set(d.route_id, list);
  }
  for (const r of routes) {
    const link = byId.get(r.link_id);
    if (!link || !Value.Check(RouteConditions, r.conditions)) continue;
    link.routing ??= { rules: [], fallback: null };
    const rule = {
      id: r.id,
      matches: compileConditions(r.conditions),
      destinations: byRoute.get(r.id) ?? [],
    };
    if (r.fallback) link.routing.fallback = rule;
    else link.routing.rules.push(rule);
  }
}

/**
 * A cap only turns traffic away with somewhere to send it: admin requires a fallback URL for click
 * and payout caps; an offer whose conversion caps came without one only holds conversions back.
 */
function capsOf(
  r: {
    offer_id: string;
    timezone: string;
    click_cap_daily: number | null;
    click_cap_monthly: number | null;
    click_cap_lifetime: number | null;
    fallback_url: string | null;
    conversion_capped: boolean;
    payout_capped: boolean;
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
  const filled =
    r.conversion_capped || r.payout_capped
      ? {
          offerId: r.offer_id,
          timezone: r.timezone,
          conversions: r.conversion_capped,
          payout: r.payout_capped,
        }
      : null;
  if ((!hasClickCap(limits) && !filled) || !r.fallback_url) return null;
  return { limits, filled, fallback: compileDestination({ ...link, destinationUrl: r.fallback_url }) };
}
