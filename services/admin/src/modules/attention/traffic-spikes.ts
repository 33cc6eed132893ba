import type { Sql } from "@roundtrip/db";
import type { AttentionItem } from "./model.ts";

/** A share this many times the trailing baseline's is a spike. */
export const TRAFFIC_SPIKE_FACTOR = 3;
/** Below these shares a spike is noise whatever the baseline (bots are always some of the traffic). */
const MIN_SHARE = { clicks: 0.1, conversions: 0.05 };
/** Below these totals in the recent window a share says nothing. */
const MIN_TOTAL = { clicks: 100, conversions: 20 };
const BASELINE_HOURS = 24;

type Flagged = {
  reason: string;
  recent: number;
  before: number;
  affiliate_id: string | null;
  affiliate: string | null;
  offer_id: string | null;
  offer: string | null;
  top: number;
};

/**
 * Windows are whole UTC hours, because the totals come from the hourly report rollup: "recent"
 * is the previous hour and the current one so far, the baseline the 24 hours before. Flagged
 * clicks (any traffic-quality reason: bot, floods, IP lists) are read raw through the partial
 * index `clicks_flagged`; conversions a rule rejected from `conversion_rule_hits`. Test traffic
 * is left out of both sides, as the rollup leaves it out.
 */
function windows(now: Date) {
  const recent = new Date(now);
  recent.setUTCMinutes(0, 0, 0);
  recent.setUTCHours(recent.getUTCHours() - 1);
  return { recent, baseline: new Date(recent.getTime() - BASELINE_HOURS * 3_600_000) };
}

const share = (part: number, whole: number) => (whole > 0 ? part / whole : 0);
const percent = (x: number) => `${Math.round(x * 1000) / 10} %`;

export async function trafficSpikes(sql: Sql, now = new Date()): Promise<AttentionItem[]> {
  const w = windows(now);
  const [totals, clicks, conversions] = await Promise.all([
    sql<{ clicks_recent: number; clicks_before: number; conv_recent: number; conv_before: number }[]>`
      select coalesce(sum(clicks) filter (where hour >= ${w.recent}), 0)::float8 as clicks_recent,
             coalesce(sum(clicks) filter (where hour < ${w.recent}), 0)::float8 as clicks_before,
             coalesce(sum(conversions) filter (where hour >= ${w.recent}), 0)::float8 as conv_recent,
             coalesce(sum(conversions) filter (where hour < ${w.recent}), 0)::float8 as conv_before
      from report_hourly where hour >= ${w.baseline}`,
    sql<Flagged[]>`
      with flagged as (
        select r as reason, c.clicked_at >= ${w.recent} as recent, c.affiliate_id, c.offer_id
        from clicks c cross join unnest(c.reasons) as r
        where cardinality(c.reasons) > 0 and c.clicked_at >= ${w.baseline}
          and not exists (select 1 from affiliates a where a.id = c.affiliate_id and a.is_test)
      ), top as (
        select distinct on (reason) reason, affiliate_id, offer_id, count(*)::int as top
        from flagged where recent group by 1, 2, 3 order by reason, count(*) desc
      )
      select f.reason, count(*) filter (where f.recent)::int as recent,
             count(*) filter (where not f.recent)::int as before,
             t.affiliate_id::text, a.name as affiliate, t.offer_id::text, o.name as offer, coalesce(t.top, 0) as top
      from flagged f
      left join top t on t.reason = f.reason
      left join affiliates a on a.id = t.affiliate_id
      left join offers o on o.id = t.offer_id
      group by f.reason, t.affiliate_id, a.name, t.offer_id, o.name, t.top`,
    sql<Flagged[]>`
      with rejected as (
        select h.reason, h.at >= ${w.recent} as recent, c.affiliate_id, c.offer_id
        from conversion_rule_hits h join conversions c on c.id = h.conversion_id
        where h.at >= ${w.baseline} and h.action = 'reject' and not c.is_test
      ), top as (
        select distinct on (reason) reason, affiliate_id, offer_id, count(*)::int as top
        from rejected where recent group by 1, 2, 3 order by reason, count(*) desc
      )
      select r.reason, count(*) filter (where r.recent)::int as recent,
             count(*) filter (where not r.recent)::int as before,
             t.affiliate_id::text, a.name as affiliate, t.offer_id::text, o.name as offer, coalesce(t.top, 0) as top
      from rejected r
      left join top t on t.reason = r.reason
      left join affiliates a on a.id = t.affiliate_id
      left join offers o on o.id = t.offer_id
      group by r.reason, t.affiliate_id, a.name, t.offer_id, o.name, t.top`,
  ]);
  const total = totals[0] ?? { clicks_recent: 0, clicks_before: 0, conv_recent: 0, conv_before: 0 };
  const since = `${String(w.recent.getUTCHours()).padStart(2, "0")}:00 UTC`;
  const where = (f: Flagged) =>
    f.affiliate_id
      ? `; most from ${f.affiliate ?? `affiliate ${f.affiliate_id}`} on ${f.offer ?? `offer ${f.offer_id}`} (${f.top})`
      : "";
  const items: AttentionItem[] = [];
  for (const f of clicks) {
    const now = share(f.recent, total.clicks_recent);
    const usual = share(f.before, total.clicks_before);
    if (
      total.clicks_recent < MIN_TOTAL.clicks ||
      now < MIN_SHARE.clicks ||
      now <= usual * TRAFFIC_SPIKE_FACTOR
    )
      continue;
    items.push({
      kind: "flagged_clicks_spike",
      severity: "warning",
      title: f.reason === "bot" ? "Spike in bot clicks" : `Spike in flagged clicks (${f.reason})`,
      detail: `${percent(now)} of clicks since ${since} were flagged ${f.reason}, ${percent(usual)} in the ${BASELINE_HOURS} hours before${where(f)}`,
      count: f.recent,
      rate: Math.min(1, now),
      fix: {
        page: "clicks",
        params: {
          reason: f.reason,
          ...(f.affiliate_id ? { affiliate_id: f.affiliate_id } : {}),
          ...(f.offer_id ? { offer_id: f.offer_id } : {}),
        },
        label: "See the flagged clicks",
      },
    });
  }
  for (const f of conversions) {
    const now = share(f.recent, total.conv_recent);
    const usual = share(f.before, total.conv_before);
    if (
      total.conv_recent < MIN_TOTAL.conversions ||
      now < MIN_SHARE.conversions ||
      now <= usual * TRAFFIC_SPIKE_FACTOR
    )
      continue;
    items.push({
      kind: "rejected_conversions_spike",
      severity: "warning",
      title: `Spike in conversions rejected by a rule (${f.reason})`,
      detail: `${percent(now)} of conversions since ${since} were rejected by ${f.reason}, ${percent(usual)} in the ${BASELINE_HOURS} hours before${where(f)}`,
      count: f.recent,
      rate: Math.min(1, now),
      fix: {
        page: "conversions",
        params: {
          status: "rejected",
          ...(f.affiliate_id ? { affiliate_id: f.affiliate_id } : {}),
          ...(f.offer_id ? { offer_id: f.offer_id } : {}),
        },
        label: "See the rejected conversions",
      },
    });
  }
  return items;
}
