import type { Sql } from "@roundtrip/db";
import type { AttentionItem } from "./model.ts";
import { anomalies } from "./anomalies.ts";
import { trafficSpikes } from "./traffic-spikes.ts";

export type { AttentionItem };

/** Below this share of delivered outbound postbacks an operator is warned (the launch bar). */
export const DELIVERY_SUCCESS_FLOOR = 0.98;
/** Rejected postbacks in the last hour this many times the hourly average of the day before is a spike. */
export const SPIKE_FACTOR = 3;
/** Below this many requests in the hour a share says nothing. */
const SPIKE_MIN_REQUESTS = 20;
/** Attribution rejections an operator can fix in configuration (the others are the advertiser's). */
const FIXABLE: Record<string, { title: string; fix: AttentionItem["fix"]; detail: string }> = {
  unknown_event: {
    title: "Postbacks for an event the offer does not have",
    detail: "the advertiser sends an event code no offer lists: add it to the offer",
    fix: { page: "offers", label: "Edit offer events" },
  },
  over_cap: {
    title: "Conversions rejected over a cap",
    detail: "an offer event's or payout rule's cap was reached: raise the cap or accept the rejections",
    fix: { page: "offers", label: "Review caps" },
  },
  offer_paused: {
    title: "Postbacks for a paused offer",
    detail: "the advertiser still sends conversions for a paused offer: resume it if it should run",
    fix: { page: "offers", params: { status: "paused" }, label: "Paused offers" },
  },
};

/**
 * What is blocked, failing or owed right now, from the tables each part writes: commission
 * blocks, attribution rejections (24 h), affiliate endpoints, outbound deliveries (24 h), parked
 * dead letters, owed outbox events, the postback log (last hour against the day before), and
 * flagged clicks and rule-rejected conversions against their trailing day (traffic-spikes.ts), and
 * affiliates or offers far from their own trailing day (anomalies.ts).
 */
export async function attention(sql: Sql): Promise<AttentionItem[]> {
  const [
    blocked,
    overCap,
    rejections,
    disabled,
    failing,
    deliveryRate,
    deadLetters,
    owed,
    spike,
    traffic,
    odd,
  ] = await Promise.all([
    sql<{ reason: string; pair: string | null; count: number; message: string }[]>`
      select reason, coalesce(detail->>'from', '') || coalesce('→' || (detail->>'to'), '') as pair,
             count(*)::int as count, min(message) as message
      from commission_blocks group by 1, 2 order by 3 desc`,
    // Held back by attribution until the cap is raised (partial index conversions_cap_blocked).
    sql<{ offer_id: string; event: string; count: number }[]>`
      select offer_id::text, event, count(*)::int as count from conversions
      where cap_blocked_since is not null group by 1, 2 order by 3 desc limit 10`,
    sql<{ reason: string; count: number; advertiser_id: string; advertiser: string | null }[]>`
      select r.reason, count(*)::int as count, r.advertiser_id::text as advertiser_id, min(a.name) as advertiser
      from attribution_rejections r left join advertisers a on a.id = r.advertiser_id
      where r.at > now() - interval '24 hours' and r.reason in ${sql(Object.keys(FIXABLE))}
      group by r.reason, r.advertiser_id order by 2 desc limit 10`,
    sql<{ count: number; affiliate_id: string }[]>`
      select count(*)::int as count, min(affiliate_id)::text as affiliate_id
      from affiliate_postbacks where status = 'disabled'`,
    sql<
      {
        template_id: string | null;
        webhook_id: string | null;
        affiliate_id: string | null;
        count: number;
      }[]
    >`
      select template_id::text, webhook_id::text, affiliate_id::text, count(*)::int as count
      from deliveries
      where (status in ('failed', 'dead') and created_at > now() - interval '24 hours')
         or (status = 'pending' and attempts > 0)
      group by 1, 2, 3 order by 4 desc limit 20`,
    sql<{ delivered: number; done: number }[]>`
      select count(*) filter (where status = 'delivered')::int as delivered,
             count(*) filter (where status <> 'pending' or attempts > 0)::int as done
      from deliveries where created_at > now() - interval '24 hours'`,
    sql<{ count: number }[]>`select count(*)::int as count from bus_dead_letters`,
    sql<{ count: number; oldest_s: number | null }[]>`
      select count(*)::int as count, extract(epoch from now() - min(created_at))::float8 as oldest_s
      from bus_outbox where handled_at is null and created_at < now() - interval '5 minutes'`,
    sql<{ recent: number; recent_total: number; before: number; before_total: number }[]>`
      select count(*) filter (where received_at > now() - interval '1 hour' and outcome not in ('accepted', 'duplicate'))::int as recent,
             count(*) filter (where received_at > now() - interval '1 hour')::int as recent_total,
             count(*) filter (where received_at <= now() - interval '1 hour' and outcome not in ('accepted', 'duplicate'))::int as before,
             count(*) filter (where received_at <= now() - interval '1 hour')::int as before_total
      from postback_log where received_at > now() - interval '25 hours'`,
    trafficSpikes(sql),
    anomalies(sql),
  ]);
  const items: AttentionItem[] = [];
  for (const b of blocked)
    items.push({
      kind: "commission_blocked",
      severity: "critical",
      title:
        b.reason === "fx_rate_missing"
          ? `Conversions blocked: no FX rate${b.pair ? ` ${b.pair}` : ""}`
          : `Conversions blocked (${b.reason})`,
      detail: `${b.message} — they book themselves once the cause is fixed`,
      count: b.count,
      fix:
        b.reason === "fx_rate_missing"
          ? { page: "fx-rates", params: b.pair ? { pair: b.pair } : {}, label: "Add the FX rate" }
          : { page: "conversions", label: "See conversions" },
    });
  for (const c of overCap)
    items.push({
      kind: "conversions_over_cap",
      severity: "critical",
      title: `Conversions held over a cap (offer ${c.offer_id}, ${c.event})`,
      detail: "they book themselves, oldest first, once the cap is raised or a place is given back",
      count: c.count,
      fix: { page: "offers", params: { id: c.offer_id }, label: "Raise the cap" },
    });
  for (const r of rejections) {
    const known = FIXABLE[r.reason];
    if (!known) continue;
    // The offers of the advertiser that sends them: the fix is on one of those.
    items.push({
      kind: "conversions_rejected",
      severity: "warning",
      count: r.count,
      ...known,
      detail: `${known.detail} (${r.advertiser ?? `advertiser ${r.advertiser_id}`}, last 24 hours)`,
      fix: { ...known.fix, params: { ...known.fix.params, advertiser_id: r.advertiser_id } },
    });
  }
  const d = disabled[0];
  if (d && d.count > 0)
    items.push({
      kind: "endpoint_disabled",
      severity: "critical",
      title: "Affiliate postback endpoints disabled",
      detail: "their conversions are not sent: fix the URL with the affiliate and resume the template",
      count: d.count,
      fix: { page: "postbacks", params: { status: "disabled" }, label: "Open templates" },
    });
  for (const f of failing.slice(0, 5))
    items.push(
      f.webhook_id
        ? {
            kind: "endpoint_failing",
            severity: "warning",
            title: `Operator webhook failing (webhook ${f.webhook_id})`,
            detail: "payout and statement events failed or are being retried: see the attempts, then replay",
            count: f.count,
            fix: { page: "deliveries", params: { webhook_id: f.webhook_id }, label: "See deliveries" },
          }
        : {
            kind: "endpoint_failing",
            severity: "warning",
            title: `Affiliate endpoint failing (template ${f.template_id})`,
            detail: "outbound postbacks failed or are being retried: see the attempts, then replay",
            count: f.count,
            fix: {
              page: "deliveries",
              params: { template_id: f.template_id ?? "" },
              label: "See deliveries",
            },
          },
    );
  const rate = deliveryRate[0];
  if (rate && rate.done > 0 && rate.delivered / rate.done < DELIVERY_SUCCESS_FLOOR)
    items.push({
      kind: "delivery_success_low",
      severity: "critical",
      title: `Postback success below ${DELIVERY_SUCCESS_FLOOR * 100} %`,
      detail: "outbound postbacks delivered in the last 24 hours",
      count: rate.done - rate.delivered,
      rate: rate.delivered / rate.done,
      fix: { page: "deliveries", params: { status: "failed" }, label: "Failed deliveries" },
    });
  const dl = deadLetters[0];
  if (dl && dl.count > 0)
    items.push({
      kind: "dead_letters",
      severity: "critical",
      title: "Dead-lettered events",
      detail: "a consumer gave up on these events; they stay owed until replayed (docs/operations.md)",
      count: dl.count,
      fix: { page: "attention-help", params: { topic: "dead-letters" }, label: "How to replay" },
    });
  const o = owed[0];
  if (o && o.count > 0)
    items.push({
      kind: "owed_events",
      severity: "warning",
      title: "Events owed to a consumer for over 5 minutes",
      detail: `the oldest waits ${Math.round((o.oldest_s ?? 0) / 60)} min; check NATS and the consumers' health`,
      count: o.count,
      fix: { page: "attention-help", params: { topic: "owed" }, label: "What to check" },
    });
  const s = spike[0];
  if (s && s.recent_total >= SPIKE_MIN_REQUESTS) {
    const now = s.recent / s.recent_total;
    const usual = s.before_total > 0 ? s.before / s.before_total : 0;
    if (now > 0.1 && now > usual * SPIKE_FACTOR)
      items.push({
        kind: "rejected_postbacks_spike",
        severity: "warning",
        title: "Spike in rejected postbacks",
        detail: `last hour ${Math.round(now * 100)} % rejected, ${Math.round(usual * 100)} % the day before`,
        count: s.recent,
        rate: now,
        fix: { page: "reports", params: { report: "postbacks" }, label: "Postback report" },
      });
  }
  items.push(...traffic, ...odd);
  return items;
}
