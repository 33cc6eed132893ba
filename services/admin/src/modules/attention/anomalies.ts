import type { Sql } from "@roundtrip/db";
import type { AttentionItem } from "./model.ts";

/**
 * Issue 13's anomalies in the attention panel, the console's side of the Prometheus rules of the
 * same names (deploy/prometheus/rules.yml: RoundtripAffiliateConversionRateAnomaly,
 * …VolumeAnomaly, …AffiliateGoneQuiet, …OfferPostbacksStopped), with the same thresholds, read
 * from the hourly report rollup (test traffic left out). Windows are whole UTC hours: "now" is the
 * previous hour and the current one so far, the baseline the 24 hours before.
 */
const FACTOR = 3;
const MIN_CONVERSIONS = 10;
/** A day with at least this many conversions is one whose silence means something. */
const BUSY_DAY = 24;
const HOUR_MS = 3_600_000;

type AffiliateFigures = {
  affiliate_id: string;
  name: string | null;
  clicks_now: number;
  conv_now: number;
  clicks_before: number;
  conv_before: number;
  conv_last3: number;
  conv_day_before3: number;
};
type OfferFigures = {
  offer_id: string;
  name: string | null;
  advertiser_id: string;
  conv_last2: number;
  conv_day_before2: number;
};

function hourStart(now: Date, hoursBack: number): Date {
  const d = new Date(now);
  d.setUTCMinutes(0, 0, 0);
  return new Date(d.getTime() - hoursBack * HOUR_MS);
}

export async function anomalies(sql: Sql, now = new Date()): Promise<AttentionItem[]> {
  const recent = hourStart(now, 1); // the previous hour and the current one
  const quiet = hourStart(now, 2); // three hours: gone quiet
  const stopped = hourStart(now, 1); // two hours: postbacks stopped
  const day = 24 * HOUR_MS;
  const [affiliates, offers] = await Promise.all([
    sql<AffiliateFigures[]>`
      select r.affiliate_id::text, min(a.name) as name,
             coalesce(sum(r.clicks) filter (where r.hour >= ${recent}), 0)::float8 as clicks_now,
             coalesce(sum(r.conversions) filter (where r.hour >= ${recent}), 0)::float8 as conv_now,
             coalesce(sum(r.clicks) filter (where r.hour < ${recent} and r.hour >= ${new Date(recent.getTime() - day)}), 0)::float8 as clicks_before,
             coalesce(sum(r.conversions) filter (where r.hour < ${recent} and r.hour >= ${new Date(recent.getTime() - day)}), 0)::float8 as conv_before,
             coalesce(sum(r.conversions) filter (where r.hour >= ${quiet}), 0)::float8 as conv_last3,
             coalesce(sum(r.conversions) filter (where r.hour < ${quiet}), 0)::float8 as conv_day_before3
      from report_hourly r left join affiliates a on a.id = r.affiliate_id
      where r.hour >= ${new Date(quiet.getTime() - day)}
      group by r.affiliate_id`,
    sql<OfferFigures[]>`
      select r.offer_id::text, min(o.name) as name, min(r.advertiser_id)::text as advertiser_id,
             coalesce(sum(r.conversions) filter (where r.hour >= ${stopped}), 0)::float8 as conv_last2,
             coalesce(sum(r.conversions) filter (where r.hour < ${stopped}), 0)::float8 as conv_day_before2
      from report_hourly r left join offers o on o.id = r.offer_id
      where r.hour >= ${new Date(stopped.getTime() - day)}
      group by r.offer_id`,
  ]);
  const items: AttentionItem[] = [];
  for (const a of affiliates) {
    const who = a.name ?? `affiliate ${a.affiliate_id}`;
    const rateNow = a.clicks_now > 0 ? a.conv_now / a.clicks_now : 0;
    const rateBefore = a.clicks_before > 0 ? a.conv_before / a.clicks_before : 0;
    const conversions = { page: "conversions", params: { affiliate_id: a.affiliate_id } };
    if (a.conv_now >= MIN_CONVERSIONS && a.clicks_now > 0 && rateNow > FACTOR * rateBefore)
      items.push({
        kind: "affiliate_conversion_rate_anomaly",
        severity: "warning",
        title: `${who} converts far above its own rate`,
        detail: `conversion rate ${(rateNow * 100).toFixed(1)} % in the last hour, ${(rateBefore * 100).toFixed(1)} % over the day before: look at its conversions' rule hits and the review queue`,
        count: a.conv_now,
        rate: Math.min(1, rateNow),
        fix: { ...conversions, label: "See its conversions" },
      });
    // The recent window is up to two hours: compare with two of the day's average hours.
    else if (a.conv_now >= MIN_CONVERSIONS && a.conv_now > (FACTOR * a.conv_before * 2) / 24)
      items.push({
        kind: "affiliate_conversion_volume_anomaly",
        severity: "warning",
        title: `${who} sends far more conversions than usual`,
        detail: `${a.conv_now} conversions in the last hour against ${(a.conv_before / 24).toFixed(1)} an hour the day before: check its clicks for floods`,
        count: a.conv_now,
        fix: { ...conversions, label: "See its conversions" },
      });
    if (a.conv_day_before3 >= BUSY_DAY && a.conv_last3 === 0)
      items.push({
        kind: "affiliate_gone_quiet",
        severity: "warning",
        title: `${who} has gone quiet`,
        detail: `${a.conv_day_before3} conversions the day before, none for three hours: check its links (paused?) and its traffic with the affiliate`,
        count: 0,
        fix: { page: "links", params: { affiliate_id: a.affiliate_id }, label: "Check its links" },
      });
  }
  for (const o of offers)
    if (o.conv_day_before2 >= BUSY_DAY && o.conv_last2 === 0)
      items.push({
        kind: "offer_postbacks_stopped",
        severity: "critical",
        title: `Postbacks for ${o.name ?? `offer ${o.offer_id}`} have stopped`,
        detail: `${o.conv_day_before2} conversions the day before, none for two hours: check the advertiser's postback log (refusals, bad tokens) and whether their integration changed`,
        count: 0,
        fix: {
          page: "advertiser",
          params: { id: o.advertiser_id },
          label: "Check the advertiser's integration",
        },
      });
  return items;
}
