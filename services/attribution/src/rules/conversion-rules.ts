import {
  type ConversionStatus,
  type IpListKind,
  REASON,
  type Reason,
  type RuleAction,
} from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import { ipReasons, listKinds, loadRuleBook, type RuleBook } from "@roundtrip/traffic";

/** How many of a device's latest conversions the same-device rule reads (see its query). */
const DEVICE_SCAN = 500;

/** One rule that fired on a conversion, with what it measured. */
export type RuleHit = { reason: Reason; action: RuleAction; measured: Record<string, unknown> | null };

export type Verdict = {
  hits: RuleHit[];
  /** The strongest action among the hits (reject > hold > flag), null when none fired. */
  action: RuleAction | null;
};

const STRENGTH: Record<RuleAction, number> = { flag: 1, hold: 2, reject: 3 };
const HOURS_MS = 3_600_000;

/** The click a conversion credits, as stored (absent while its batch is in flight). */
export type ClickFacts = { ip: string | null; user_agent: string | null; reasons: string[] } | undefined;

/**
 * The traffic-quality rules for a new conversion (docs/fraud.md): click-to-conversion time from
 * the click ID's own time (always known), the reasons its click carries (bot, floods, IP lists,
 * judged when the click was stored), a device converting for several affiliates, and a
 * conversion from an address its affiliate signed in from (or is otherwise known to use). Rules needing the click's IP or user agent
 * cannot fire while the click row is not stored yet.
 */
export async function judgeConversion(
  tx: Tx,
  c: {
    offerId: string;
    affiliateId: string;
    event: string;
    clickedAt: Date;
    occurredAt: Date;
    click: ClickFacts;
    /** The rule book, when the caller read it for many conversions (else read here). */
    rules?: RuleBook;
    /** The IP lists of addresses the caller looked up for many conversions (else looked up here). */
    ipKinds?: Map<string, Set<IpListKind>>;
  },
): Promise<Verdict> {
  const rules = c.rules ?? (await loadRuleBook(tx, [c.offerId]));
  const hits: RuleHit[] = [];
  const fire = (reason: Reason, measured: Record<string, unknown> | null, event: string | null = null) => {
    const s = rules.active(c.offerId, reason, event);
    if (s) hits.push({ reason, action: s.action, measured });
  };

  const seconds = Math.round((c.occurredAt.getTime() - c.clickedAt.getTime()) / 1000);
  const fast = rules.active(c.offerId, REASON.ctitTooFast, c.event);
  if (fast?.threshold && seconds < fast.threshold)
    fire(REASON.ctitTooFast, { ctit_seconds: seconds, min_seconds: fast.threshold }, c.event);
  const slow = rules.active(c.offerId, REASON.ctitTooSlow, c.event);
  if (slow?.threshold && seconds > slow.threshold)
    fire(REASON.ctitTooSlow, { ctit_seconds: seconds, max_seconds: slow.threshold }, c.event);

  const click = c.click;
  if (click) {
    const known = new Set<string>(click.reasons);
    // IP lists as they are now, as well as when the click was judged: a range added since counts.
    if (click.ip) {
      const kinds = c.ipKinds ?? (await listKinds(tx, [click.ip]));
      for (const r of ipReasons(kinds.get(click.ip))) known.add(r);
    }
    for (const reason of known)
      fire(reason as Reason, click.ip && reason.startsWith("ip_") ? { ip: click.ip } : null);

    const device = rules.active(c.offerId, REASON.sameDevice);
    if (device?.threshold && click.ip && click.user_agent) {
      // The device's latest conversions in the window, at most DEVICE_SCAN: a shared address and
      // browser (a carrier's NAT, a load from one host) converting thousands of times would
      // otherwise make every conversion read all the earlier ones — quadratic. Past that many,
      // the count of other affiliates is a lower bound (the device is suspect by then anyway).
      const [row] = await tx<{ n: number }[]>`
        select count(distinct affiliate_id)::int as n from (
          select affiliate_id from conversions
          where ip = ${click.ip} and user_agent = ${click.user_agent}
            and occurred_at > ${new Date(c.occurredAt.getTime() - device.threshold * HOURS_MS)}
            and occurred_at <= ${c.occurredAt}
          order by occurred_at desc
          limit ${DEVICE_SCAN}) latest
        where affiliate_id <> ${c.affiliateId}`;
      if (row && row.n > 0)
        fire(REASON.sameDevice, { other_affiliates: row.n, window_hours: device.threshold });
    }
    if (click.ip && rules.active(c.offerId, REASON.selfReferral)) {
      // Console sign-ins of the affiliate's users (user_sessions keeps each session's address),
      // and any address recorded for it (affiliate_addresses). Compared as text: a click's IP
      // is outside input and must not fail the conversion with a bad cast.
      const [seen] = await tx<{ source: string }[]>`
        select 'sign_in' as source from user_sessions s join users u on u.id = s.user_id
        where u.affiliate_id = ${c.affiliateId} and s.ip = ${click.ip}
        union all
        select source from affiliate_addresses where affiliate_id = ${c.affiliateId} and host(ip) = ${click.ip}
        limit 1`;
      if (seen) fire(REASON.selfReferral, { ip: click.ip, seen_by: seen.source });
    }
  }

  let action: RuleAction | null = null;
  for (const h of hits) if (!action || STRENGTH[h.action] > STRENGTH[action]) action = h.action;
  return { hits, action };
}

/** The status a new conversion starts in: a reject rejects it, a hold keeps it pending. */
export function startingStatus(reported: ConversionStatus, verdict: Verdict): ConversionStatus {
  if (reported === "rejected" || reported === "reversed") return reported;
  if (verdict.action === "reject") return "rejected";
  if (verdict.action === "hold") return "pending";
  return reported;
}

/** A new conversion's verdict, to record with the others of its batch (recordVerdicts). */
export type PendingVerdict = { conversionId: string; verdict: Verdict; reported: ConversionStatus };

/**
 * Records the hits beside each conversion and opens its review: held (waiting for a decision),
 * flagged (paid, to look at) or, for a rule's reject, already decided. A rule-rejected or held
 * conversion's first history entry names the reason, so the trace shows why. Three statements
 * for a whole batch of conversions, none when no rule fired.
 */
export async function recordVerdicts(tx: Tx, pending: readonly PendingVerdict[]): Promise<void> {
  const fired = pending.filter((v) => v.verdict.hits.length > 0);
  if (fired.length === 0) return;
  const hits = fired.flatMap((v) => v.verdict.hits.map((h) => ({ conversion_id: v.conversionId, ...h })));
  await tx`
    insert into conversion_rule_hits (conversion_id, reason, action, measured)
    select conversion_id, reason, action, measured
    from json_populate_recordset(null::conversion_rule_hits, ${JSON.stringify(hits)}::text::json)
    on conflict do nothing`;
  const reviews = fired.map(({ conversionId, verdict, reported }) => {
    const deciding = verdict.hits.find((h) => h.action === verdict.action)?.reason ?? null;
    const state = verdict.action === "reject" ? "rejected" : verdict.action === "hold" ? "held" : "flagged";
    return {
      conversion_id: conversionId,
      state,
      reasons: verdict.hits.map((h) => h.reason),
      decided_by: state === "rejected" ? "rule" : null,
      decided: state === "rejected",
      reject_reason: state === "rejected" ? deciding : null,
      withheld_status: state === "held" && reported === "approved" ? "approved" : null,
      history_reason: state === "flagged" ? null : deciding,
    };
  });
  await tx`
    insert into conversion_reviews (conversion_id, state, reasons, decided_by, decided_at, reject_reason, withheld_status)
    select r.conversion_id, r.state, r.reasons, r.decided_by, case when r.decided then now() end, r.reject_reason,
           r.withheld_status
    from json_to_recordset(${JSON.stringify(reviews)}::text::json)
      as r(conversion_id bigint, state text, reasons text[], decided_by text, decided boolean, reject_reason text,
           withheld_status text)
    on conflict do nothing`;
  const named = reviews.filter((r) => r.history_reason !== null);
  if (named.length)
    await tx`
      update conversion_history h set reason = r.reason
      from unnest(${tx.array(named.map((r) => r.conversion_id))}::bigint[],
                  ${tx.array(named.map((r) => r.history_reason as string))}::text[]) as r(conversion_id, reason)
      where h.conversion_id = r.conversion_id and h.seq = 1 and h.reason is null`;
}

/**
 * A held conversion stays pending whatever the advertiser approves until someone decides: an
 * approval is kept back (the review's approve applies it); a rejection or reversal goes through.
 */
export async function heldBack(
  tx: Tx,
  conversionId: string,
  status: ConversionStatus,
): Promise<ConversionStatus> {
  if (status !== "approved") return status;
  const held = await tx`
    update conversion_reviews set withheld_status = 'approved'
    where conversion_id = ${conversionId} and state = 'held' returning 1`;
  return held.length ? "pending" : status;
}
