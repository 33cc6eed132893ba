import {
  captureTraceHeaders,
  enqueue,
  enqueueAll,
  PermanentError,
  type PreparedEvent,
  prepareEvent,
  subjects,
} from "@roundtrip/bus";
import type { ClickIdCodec } from "@roundtrip/clickid";
import {
  type ConversionChanged,
  type ConversionStatus,
  type IpListKind,
  type PostbackReceived,
  REVERSAL_EVENTS,
} from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import { listKinds, loadRuleBook, type RuleBook } from "@roundtrip/traffic";
import { giveBackCap, recordCapTakes, takeCap } from "./caps.ts";
import { isEarning, move } from "./lifecycle.ts";
import { outranks, type Report, reportOf } from "./report.ts";
import {
  heldBack,
  judgeConversion,
  type PendingVerdict,
  type RuleHit,
  recordVerdicts,
  startingStatus,
} from "./rules/conversion-rules.ts";

export type Applied = { event: string; status: ConversionStatus };

export type Outcome =
  /** `blocked`: over its cap, held back from commission and delivery until there is room (cap-blocks.ts). */
  | {
      kind: "created";
      conversionId: string;
      /** For the per-affiliate and per-offer series the anomaly alerts watch. */
      offerId: string;
      affiliateId: string;
      applied: Applied[];
      hits: RuleHit[];
      blocked?: "over_cap";
    }
  | { kind: "changed"; conversionId: string; applied: Applied[] }
  /** A pixel's conversion confirmed by the advertiser's S2S report (S2S wins). */
  | { kind: "confirmed"; conversionId: string; applied: Applied[] }
  | { kind: "duplicate"; conversionId: string }
  /** A refund or chargeback for a transaction not seen yet: applied when it arrives. */
  | { kind: "deferred" }
  | { kind: "rejected"; reason: RejectReason };

/** Reason codes reports group by (attribution_rejections.reason). */
export type RejectReason =
  | "invalid_click_id"
  | "unknown_link"
  | "advertiser_mismatch"
  | "brand_mismatch"
  | "unknown_event"
  | "offer_paused"
  | "outside_window"
  | "stale_status"
  | "missing_reference"
  | "untrusted_pixel";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * POSTBACKS messages handled in one transaction at most (attributeBatch): enough to turn a
 * backlog's round trips and commits into a few per batch, few enough that a batch that fails and
 * is handled again one by one costs little.
 */
export const POSTBACKS_PER_BATCH = 32;

type Link = {
  offer_id: string;
  affiliate_id: string;
  advertiser_id: string;
  brand_id: string;
  offer_status: string;
  currency: string;
  timezone: string;
  dedup_window_hours: number;
  pixel_sets_money: boolean;
  /** The offer's events a batch names, by code. */
  events: Record<string, EventConfig>;
};

export type ConversionRow = {
  id: string;
  advertiser_id: string;
  brand_id: string;
  offer_id: string;
  affiliate_id: string;
  click_id: string;
  txid: string | null;
  event: string;
  status: ConversionStatus;
  source: string;
  amount: string | null;
  currency: string;
  occurred_at: Date;
  receipt_id: string;
  amount_source: string | null;
  amount_at: Date | null;
  amount_receipt_id: string | null;
  payout_override: string | null;
  payout_at: Date | null;
  payout_receipt_id: string | null;
  /** Set while the conversion waits for room in its cap; nothing is announced meanwhile. */
  cap_blocked_since: Date | null;
  /** Set while the conversion waits for its click row (click-wait.ts); nothing is announced meanwhile. */
  awaiting_click_since: Date | null;
  /** The creating postback's trace, kept for an announcement made later (a release). */
  trace_context: Record<string, string> | null;
};

/** An offer event's configuration, read with its link. */
type EventConfig = {
  window_days: number;
  default_status: ConversionStatus;
  cap_daily: number | null;
  cap_monthly: number | null;
};

/** The click a new conversion credits, as stored (absent while its batch is in flight). */
type StoredClick = {
  subs: Record<string, string>;
  ip: string | null;
  user_agent: string | null;
  reasons: string[];
};

/** A postback past the checks that need no lock: its click ID verified, its link (and event) known. */
type Checked = {
  index: number;
  p: PostbackReceived & { click_id: string };
  linkId: number;
  clickedAt: Date;
  link: Link;
  /** Absent for a refund or chargeback. */
  event?: EventConfig;
};

/**
 * What one consumer batch reads once for all its postbacks, and what it writes once for all of
 * them at the end: the batch's transaction, the locks it holds, the clicks of its postbacks.
 */
type Batch = {
  tx: Tx;
  /** Advisory lock keys this transaction holds (to its end): taken again, they cost a round trip. */
  held: Set<string>;
  /** The stored clicks of the batch's postbacks (by click ID), read under the click locks where missing. */
  clicks: Map<string, StoredClick>;
  /** The IP lists the stored clicks' addresses are on now. */
  ipKinds: Map<string, Set<IpListKind>>;
  /** The traffic-quality rules of the batch's offers, read at the first conversion created. */
  rules: () => Promise<RuleBook>;
  /** Rule verdicts of the conversions created, recorded together (recordVerdicts). */
  verdicts: PendingVerdict[];
  /** The CONVERSIONS events, written together at the end in the order announced (enqueueAll). */
  events: PreparedEvent[];
};

/**
 * Turns one accepted postback into a conversion, a change of one, or a recorded refusal, inside
 * the caller's transaction (the consumer's inbox transaction, so a redelivery changes nothing).
 * A batch of one: see `attributeBatch`.
 */
export async function attribute(tx: Tx, codec: ClickIdCodec, p: PostbackReceived): Promise<Outcome> {
  return (await attributeBatch(tx, codec, [p]))[0] as Outcome;
}

/**
 * Turns accepted postbacks into conversions, changes of them, or recorded refusals, inside the
 * caller's transaction (the consumer's batch inbox transaction, so a redelivery changes nothing),
 * with one outcome per postback, in the order given. The click ID alone is enough to credit: it
 * names its link and click time under our HMAC, so a postback that overtakes its click row still
 * lands; the click row, when stored, only enriches the conversion.
 *
 * The final state is the same whatever order the postbacks of one conversion arrive in: its
 * status is the highest reported (lifecycle.ts), its amount and payout those of the
 * highest-ranked report carrying one (report.ts), and a refund or chargeback reverses every
 * conversion of its transaction, including those created after it. Within a batch the postbacks
 * are applied one after the other, each seeing the ones before it, as separate transactions
 * would; what a batch does once instead of once per postback is read (links and events, the
 * clicks, the IP lists, the rules), lock (every lock the batch needs, in one sorted order, so
 * two batches never deadlock on them) and record the rule verdicts.
 */
export async function attributeBatch(
  tx: Tx,
  codec: ClickIdCodec,
  ps: readonly PostbackReceived[],
  options: {
    /** Runs one postback's share (by index) where it belongs, e.g. in its own trace (inMessageTrace). */
    each?: (index: number, run: () => Promise<Outcome>) => Promise<Outcome>;
  } = {},
): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(ps.length);
  const refuse = async (i: number, reason: RejectReason) => {
    await record(tx, ps[i] as PostbackReceived, reason, null);
    outcomes[i] = { kind: "rejected", reason };
  };

  const verified: Omit<Checked, "link">[] = [];
  for (const [index, p] of ps.entries()) {
    const v = p.click_id ? codec.verify(p.click_id) : null;
    if (!v?.ok) await refuse(index, "invalid_click_id");
    else
      verified.push({
        index,
        p: p as Checked["p"],
        linkId: v.claims.linkId,
        clickedAt: v.claims.clickedAt,
      });
  }
  const links = await readLinks(tx, verified);
  const checked: Checked[] = [];
  for (const v of verified) {
    const { p } = v;
    const link = links.get(v.linkId);
    if (!link) await refuse(v.index, "unknown_link");
    else if (link.advertiser_id !== p.advertiser_id) await refuse(v.index, "advertiser_mismatch");
    else if (link.brand_id !== p.brand_id) await refuse(v.index, "brand_mismatch");
    else if (REVERSAL_EVENTS.includes(p.event)) {
      // A refund takes money back: a browser's word is not enough unless the operator trusts it.
      if (p.source === "pixel" && !link.pixel_sets_money) await refuse(v.index, "untrusted_pixel");
      else if (!(p.ref_txid ?? p.txid)) await refuse(v.index, "missing_reference");
      else checked.push({ ...v, link });
    } else {
      // Own keys only: an event code is outside input ("constructor" is no event).
      const event = Object.hasOwn(link.events, p.event) ? link.events[p.event] : undefined;
      if (!event) await refuse(v.index, "unknown_event");
      else checked.push({ ...v, link, event });
    }
  }
  if (checked.length === 0) return outcomes;

  // Serialise everything that could be the same conversion, whatever order postbacks arrive in
  // and however they are batched: the click and event (no-txid dedup, pixel/S2S hybrid), the txid,
  // and the transaction's refunds (so one parked concurrently is seen). One statement, every key
  // in one sorted order.
  const held = new Set(checked.flatMap((c) => conversionLocks(c.p)));
  await tx`
    select pg_advisory_xact_lock(k)
    from (select distinct hashtextextended(key, 0) as k from unnest(${tx.array([...held])}::text[]) as key order by 1) s`;
  const clicks = await readClicks(tx, checked);
  const kinds = await listKinds(
    tx,
    [...clicks.values()].flatMap((k) => (k.ip ? [k.ip] : [])),
  );
  let rules: Promise<RuleBook> | undefined;
  const b: Batch = {
    tx,
    held,
    clicks,
    ipKinds: kinds,
    rules: () => {
      rules ??= loadRuleBook(tx, [...new Set(checked.map((c) => c.link.offer_id))]);
      return rules;
    },
    verdicts: [],
    events: [],
  };
  const each = options.each ?? ((_: number, run: () => Promise<Outcome>) => run());
  // Offer by offer (a stable sort: the postbacks of one click keep their order), so the cap
  // counter rows a batch moves (caps.ts, held to the commit) are taken in one order by every batch.
  const byOffer = [...checked].sort((x, y) =>
    x.link.offer_id < y.link.offer_id ? -1 : x.link.offer_id > y.link.offer_id ? 1 : x.index - y.index,
  );
  for (const c of byOffer) outcomes[c.index] = await each(c.index, () => apply(b, c));
  await recordVerdicts(tx, b.verdicts);
  await enqueueAll(tx, b.events);
  return outcomes;
}

/** The advisory locks of one postback (see attributeBatch). */
function conversionLocks(p: PostbackReceived & { click_id: string }): string[] {
  if (REVERSAL_EVENTS.includes(p.event)) return [refLock(p.advertiser_id, (p.ref_txid ?? p.txid) as string)];
  const keys = [`conv:click:${p.click_id}:${p.event}`];
  if (p.txid) keys.push(`conv:tx:${p.advertiser_id}:${p.txid}:${p.event}`, refLock(p.advertiser_id, p.txid));
  return keys;
}

/** Every verified postback's link, with the offer's events the batch names. */
async function readLinks(
  tx: Tx,
  verified: readonly { linkId: number; p: PostbackReceived }[],
): Promise<Map<number, Link>> {
  if (verified.length === 0) return new Map();
  const ids = [...new Set(verified.map((v) => String(v.linkId)))];
  const codes = [...new Set(verified.map((v) => v.p.event))];
  const rows = await tx<(Link & { link_id: number })[]>`
    select l.id::int as link_id, l.offer_id, l.affiliate_id, o.advertiser_id, o.brand_id, o.status as offer_status,
           o.currency, b.timezone, a.dedup_window_hours, a.pixel_sets_money,
           coalesce((select json_object_agg(e.code, json_build_object('window_days', e.window_days,
                       'default_status', e.default_status, 'cap_daily', e.cap_daily, 'cap_monthly', e.cap_monthly))
                     from offer_events e where e.offer_id = l.offer_id and e.code = any(${tx.array(codes)}::text[])),
                    '{}') as events
    from links l join offers o on o.id = l.offer_id join brands b on b.id = o.brand_id join advertisers a on a.id = o.advertiser_id
    where l.id = any(${tx.array(ids)}::bigint[])`;
  return new Map(rows.map(({ link_id, ...link }) => [link_id, link]));
}

/**
 * The stored clicks of the batch's postbacks (refunds need none). A click found is committed, so
 * the conversion copies it. One not found makes its conversion wait for it (click-wait.ts): the
 * click's batch copies it and announces the conversion if it commits after this transaction; if
 * the two were in flight at once and missed each other, the release pass finds the stored click
 * once attribution-clicks has acknowledged its message. No lock is shared with the click batches:
 * striped click locks made every postback batch and click batch wait for each other (a batch of
 * clicks covers a third of any stripe set) — 0.75–2 s a batch at 1,000 clicks/s.
 */
async function readClicks(tx: Tx, checked: readonly Checked[]): Promise<Map<string, StoredClick>> {
  const wanted = checked.filter((c) => c.event);
  const found = new Map<string, StoredClick>();
  if (wanted.length === 0) return found;
  const times = wanted.map((c) => c.clickedAt.getTime());
  const rows = await tx<(StoredClick & { click_id: string })[]>`
    select k.click_id, k.subs, k.ip, k.user_agent, k.reasons
    from unnest(${tx.array(wanted.map((c) => c.p.click_id))}::text[],
                ${tx.array(wanted.map((c) => c.clickedAt.toISOString()))}::timestamptz[]) as q(click_id, clicked_at)
    join clicks k on k.click_id = q.click_id and k.clicked_at >= q.clicked_at
                 and k.clicked_at < q.clicked_at + interval '1 second'
    where k.clicked_at >= ${new Date(Math.min(...times))} and k.clicked_at < ${new Date(Math.max(...times) + 1000)}`;
  for (const { click_id, ...click } of rows) if (!found.has(click_id)) found.set(click_id, click);
  return found;
}

/** One checked postback, with the batch's locks held: a new conversion, a change, or a refusal. */
async function apply(b: Batch, c: Checked): Promise<Outcome> {
  const { tx } = b;
  const { p, link, linkId, clickedAt } = c;
  const reject = async (reason: RejectReason, conversionId: string | null = null): Promise<Outcome> => {
    await record(tx, p, reason, conversionId);
    return { kind: "rejected", reason };
  };
  if (!c.event) return reverseTransaction(b, p, reject);
  const event = c.event;

  const occurredAt = new Date(p.occurred_at ?? p.received_at);
  const report = reportOf(
    p,
    { status: event.default_status, currency: link.currency, pixelSetsMoney: link.pixel_sets_money },
    occurredAt,
  );
  const pixel = p.source === "pixel";

  // The conversion this postback reports, if known: by txid, else the same click and event within
  // the advertiser's window (the no-txid dedup, and the hybrid where one side — pixel or S2S —
  // knows the txid and the other does not). One statement, which also says whether a refund of
  // the txid stands (its lock is held, so none can be parked meanwhile).
  const windowMs = link.dedup_window_hours * 3_600_000;
  const match = pixel
    ? p.txid
      ? tx`txid is null`
      : tx`true`
    : p.txid
      ? tx`source = 'pixel' and txid is null`
      : tx`(txid is null or source = 'pixel')`;
  const [found] = await tx<(ConversionRow & { standing_refund: boolean })[]>`
    with found as (
      select * from conversions
      where advertiser_id = ${p.advertiser_id} and event = ${p.event}
        and (${p.txid ? tx`txid = ${p.txid} or` : tx``}
             (click_id = ${p.click_id} and ${match}
              and occurred_at > ${new Date(occurredAt.getTime() - windowMs)}
              and occurred_at < ${new Date(occurredAt.getTime() + windowMs)}))
      order by ${p.txid ? tx`(txid is not null) desc,` : tx``} id
      limit 1
      for update)
    select f.*, ${
      p.txid
        ? tx`exists (select 1 from pending_reversals r where r.advertiser_id = ${p.advertiser_id} and r.txid = ${p.txid})`
        : tx`false`
    } as standing_refund
    from (select) one left join found f on true`;
  const { standing_refund: standing, ...row } = found as ConversionRow & { standing_refund: boolean };
  if (row.id !== null) {
    // A conversion this batch created: its rule verdict must be recorded before a report reads it.
    if (b.verdicts.some((v) => v.conversionId === row.id)) await recordVerdicts(tx, b.verdicts.splice(0));
    return applyReport(b, p, row as ConversionRow, report, reject);
  }

  if (link.offer_status !== "active") return reject("offer_paused");
  if (occurredAt.getTime() - clickedAt.getTime() > event.window_days * DAY_MS)
    return reject("outside_window");
  const click = b.clicks.get(p.click_id);
  // Traffic-quality rules (rules/): a reject or hold decides the status the conversion starts in.
  const verdict = await judgeConversion(tx, {
    offerId: link.offer_id,
    affiliateId: link.affiliate_id,
    event: p.event,
    clickedAt,
    occurredAt,
    click,
    rules: await b.rules(),
    ipKinds: b.ipKinds,
  });
  const status = startingStatus(report.status, verdict);
  const taken = isEarning(status) ? await takeCap(tx, link, p.event, event, occurredAt) : [];
  // Over the cap the conversion still exists — deduplicated, reversible, visible in the trace —
  // but is held back from commission and delivery until the cap has room (cap-blocks.ts).
  const overCap = taken === null;
  const amount = report.amount !== null;
  const payout = report.payout !== null;
  // The conversion and its first history entry in one statement.
  const [created] = await tx<ConversionRow[]>`
    with c as (
      insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event,
                               status, amount, currency, occurred_at, receipt_id, source, subs, ip, user_agent, enriched_at,
                               amount_source, amount_at, amount_receipt_id, payout_override, payout_at, payout_receipt_id,
                               cap_blocked_since, awaiting_click_since, trace_context)
      values (${p.advertiser_id}, ${link.brand_id}, ${link.offer_id}, ${link.affiliate_id}, ${linkId}, ${p.click_id},
              ${clickedAt}, ${p.txid}, ${p.event}, ${status}, ${report.amount}, ${report.currency}, ${occurredAt},
              ${p.receipt_id}, ${p.source}, ${click ? tx.json(click.subs) : null}, ${click?.ip ?? null}, ${click?.user_agent ?? null},
              ${click ? new Date() : null},
              ${amount ? report.source : null}, ${amount ? report.at : null}, ${amount ? report.receiptId : null},
              ${report.payout}, ${payout ? report.at : null}, ${payout ? report.receiptId : null},
              ${overCap ? new Date() : null}, ${click ? null : tx`now()`},
              ${overCap || !click ? tx.json(captureTraceHeaders()) : null})
      returning *),
    h as (
      insert into conversion_history (conversion_id, seq, status, receipt_id, reason)
      select id, 1, status, receipt_id, ${overCap ? "over_cap" : null} from c)
    select * from c`;
  if (!created) throw new PermanentError("insert_failed", "conversion insert returned nothing");
  if (!overCap) await recordCapTakes(tx, created, taken);
  if (verdict.hits.length) b.verdicts.push({ conversionId: created.id, verdict, reported: report.status });
  await announce(tx, created, 1, null, b.events);
  const applied: Applied[] = [{ event: created.event, status }];

  // A refund of this transaction that arrived first reverses it now.
  if (created.txid && standing) applied.push(...(await applyStandingReversals(b, created)));
  return {
    kind: "created",
    conversionId: created.id,
    offerId: created.offer_id,
    affiliateId: created.affiliate_id,
    applied,
    hits: verdict.hits,
    ...(overCap ? { blocked: "over_cap" as const } : {}),
  };
}

const refLock = (advertiserId: string, txid: string) => `conv:ref:${advertiserId}:${txid}`;

/** One lock per advertiser transaction: its refunds, and every conversion that takes its txid. */
async function lockTransaction(b: Batch, advertiserId: string, txid: string): Promise<void> {
  const key = refLock(advertiserId, txid);
  if (b.held.has(key)) return;
  await b.tx`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`;
  b.held.add(key);
}

/**
 * A later report of a known conversion. Its status applies when it ranks higher (else it is
 * stale, or a duplicate), its amount and payout when they outrank the ones held. An S2S report
 * of a conversion a pixel created takes it over (its txid, source and receipt; history reason
 * `confirmed_by_s2s`); a conversion without a txid takes the report's (an S2S or pixel report
 * naming it), and a refund already parked for that txid then reverses it. A pixel never
 * overrides the advertiser's server: its report only counts where it ranks (report.ts).
 */
async function applyReport(
  b: Batch,
  p: PostbackReceived,
  existing: ConversionRow,
  report: Report,
  reject: (reason: RejectReason, conversionId: string | null) => Promise<Outcome>,
): Promise<Outcome> {
  const { tx } = b;
  const takeover = existing.source === "pixel" && report.source !== "pixel";
  // Whichever report names the transaction first, the conversion ends with its txid.
  const adoptsTxid = existing.txid === null && p.txid !== null;
  const amountWins =
    report.amount !== null &&
    outranks(report, {
      source: existing.amount_source,
      at: existing.amount_at,
      receiptId: existing.amount_receipt_id,
    });
  const payoutWins =
    report.payout !== null &&
    outranks(report, {
      source: existing.payout_at ? "s2s" : null,
      at: existing.payout_at,
      receiptId: existing.payout_receipt_id,
    });

  let current = existing;
  let figuresChanged = false;
  if (takeover || adoptsTxid || amountWins || payoutWins) {
    // The currency goes with the amount (else with the payout); `o` is the row before this update.
    const [row] = await tx<(ConversionRow & { figures_changed: boolean })[]>`
      update conversions c set
        source = case when ${takeover} then ${report.source} else c.source end,
        receipt_id = case when ${takeover} then ${report.receiptId}::bigint else c.receipt_id end,
        txid = coalesce(c.txid, ${p.txid}),
        amount = case when ${amountWins} then ${report.amount}::numeric else c.amount end,
        amount_source = case when ${amountWins} then ${report.source} else c.amount_source end,
        amount_at = case when ${amountWins} then ${report.at}::timestamptz else c.amount_at end,
        amount_receipt_id = case when ${amountWins} then ${report.receiptId}::bigint else c.amount_receipt_id end,
        payout_override = case when ${payoutWins} then ${report.payout}::numeric else c.payout_override end,
        payout_at = case when ${payoutWins} then ${report.at}::timestamptz else c.payout_at end,
        payout_receipt_id = case when ${payoutWins} then ${report.receiptId}::bigint else c.payout_receipt_id end,
        currency = case when ${amountWins} then ${report.currency}
                        when ${payoutWins} and c.amount is null then ${report.currency}
                        else c.currency end
      from conversions o
      where o.id = c.id and c.id = ${existing.id}
      returning c.*, (o.amount is distinct from c.amount or o.payout_override is distinct from c.payout_override
                      or o.currency <> c.currency) as figures_changed`;
    if (!row) throw new PermanentError("update_failed", "conversion update returned nothing");
    const { figures_changed, ...updated } = row;
    current = updated as ConversionRow;
    figuresChanged = figures_changed;
  }

  const m = move(current.status, await heldBack(tx, current.id, report.status));
  if (!takeover && !adoptsTxid && !figuresChanged && m.kind !== "apply") {
    // A pixel behind the conversion is a repeat of what is known, not a stale advertiser update.
    return m.kind === "stale" && report.source !== "pixel"
      ? reject("stale_status", existing.id)
      : duplicate(tx, p, existing.id);
  }

  const applied: Applied[] = [];
  const seq = takeover
    ? await history(tx, current.id, current.status, p.receipt_id, "confirmed_by_s2s")
    : null;
  if (m.kind === "apply") {
    for (const step of m.steps) {
      current = await changeStatus(tx, current, step.status, step.reason, p.receipt_id, b.events);
      applied.push({ event: current.event, status: step.status });
    }
  } else if (figuresChanged) {
    // Same status, new figures: a change of its own so commission reprices (adjustment entries).
    await announce(
      tx,
      current,
      seq ?? (await history(tx, current.id, current.status, p.receipt_id, "figures_changed")),
      current.status,
      b.events,
    );
  }
  if ((takeover || adoptsTxid) && current.txid) applied.push(...(await applyStandingReversals(b, current)));
  return { kind: takeover ? "confirmed" : "changed", conversionId: existing.id, applied };
}

/**
 * A refund or chargeback: a standing fact about the transaction it names (ref_txid, else its own
 * txid). Every conversion of that transaction is reversed now, and it is kept so a conversion of
 * the transaction created later — another event on the same txid, or a pixel's conversion the
 * S2S report gives this txid — is reversed as it is created. Nothing is created for it: when no
 * conversion exists yet the outcome is `deferred`.
 */
async function reverseTransaction(
  b: Batch,
  p: PostbackReceived,
  reject: (reason: RejectReason, conversionId?: string | null) => Promise<Outcome>,
): Promise<Outcome> {
  const { tx } = b;
  const target = p.ref_txid ?? p.txid;
  if (!target) return reject("missing_reference");
  await lockTransaction(b, p.advertiser_id, target);
  await tx`insert into pending_reversals (advertiser_id, txid, receipt_id, event)
           values (${p.advertiser_id}, ${target}, ${p.receipt_id}, ${p.event}) on conflict do nothing`;
  const rows = await tx<ConversionRow[]>`
    select * from conversions
    where advertiser_id = ${p.advertiser_id} and txid = ${target} and event not in ${tx(REVERSAL_EVENTS as string[])}
    order by id
    for update`;
  if (rows.length === 0) return { kind: "deferred" };
  await tx`update pending_reversals set applied_at = now()
           where advertiser_id = ${p.advertiser_id} and txid = ${target} and receipt_id = ${p.receipt_id}`;
  const applied: Applied[] = [];
  let last: Outcome | undefined;
  for (const row of rows) {
    const steps = await reverse(tx, row, p.event, p.receipt_id, b.events);
    if (steps.length === 0) continue;
    applied.push(...steps);
    last = { kind: "changed", conversionId: row.id, applied };
  }
  if (last) return last;
  // Everything it names is already reversed: a repeat of the refund.
  return duplicate(tx, p, (rows[0] as ConversionRow).id);
}

/** Reverses a conversion created or given its txid after a refund of that txid arrived. */
async function applyStandingReversals(b: Batch, row: ConversionRow): Promise<Applied[]> {
  const { tx } = b;
  if (!row.txid) return [];
  await lockTransaction(b, row.advertiser_id, row.txid);
  // The earliest refund names the reversal, whichever arrived first.
  const [first] = await tx<{ receipt_id: string; event: string }[]>`
    select receipt_id::text, event from pending_reversals
    where advertiser_id = ${row.advertiser_id} and txid = ${row.txid}
    order by receipt_id
    limit 1`;
  if (!first) return [];
  await tx`update pending_reversals set applied_at = coalesce(applied_at, now())
           where advertiser_id = ${row.advertiser_id} and txid = ${row.txid}`;
  return reverse(tx, row, first.event, first.receipt_id, b.events);
}

async function reverse(
  tx: Tx,
  row: ConversionRow,
  reason: string,
  receiptId: string,
  events: PreparedEvent[],
): Promise<Applied[]> {
  const m = move(row.status, "reversed");
  if (m.kind !== "apply") return [];
  const applied: Applied[] = [];
  let current = row;
  for (const step of m.steps) {
    current = await changeStatus(tx, current, step.status, step.reason ?? reason, receiptId, events);
    applied.push({ event: row.event, status: step.status });
  }
  return applied;
}

async function changeStatus(
  tx: Tx,
  row: ConversionRow,
  status: ConversionStatus,
  reason: string | null,
  receiptId: string,
  events: PreparedEvent[],
): Promise<ConversionRow> {
  const seq = await history(tx, row.id, status, receiptId, reason);
  // A conversion that stops earning needs no cap place: if it was waiting for one, it is released
  // with this change (commission books nothing for it, delivery reports the status).
  const [updated] = await tx<ConversionRow[]>`
    update conversions set status = ${status},
      cap_blocked_since = case when ${isEarning(status)} then cap_blocked_since end
    where id = ${row.id} returning *`;
  if (!updated) throw new PermanentError("update_failed", "conversion update returned nothing");
  // A conversion that stops earning frees the cap places it took.
  if (isEarning(row.status) && !isEarning(status)) await giveBackCap(tx, row.id);
  await announce(tx, updated, seq, row.status, events);
  return updated;
}

export async function history(
  tx: Tx,
  conversionId: string,
  status: ConversionStatus,
  receiptId: string | null,
  reason: string | null,
): Promise<number> {
  const [row] = await tx<{ seq: number }[]>`
    insert into conversion_history (conversion_id, seq, status, receipt_id, reason)
    select ${conversionId}, coalesce(max(seq), 0) + 1, ${status}, ${receiptId}, ${reason}
    from conversion_history where conversion_id = ${conversionId}
    returning seq`;
  return (row as { seq: number }).seq;
}

async function duplicate(tx: Tx, p: PostbackReceived, conversionId: string): Promise<Outcome> {
  await record(tx, p, "duplicate", conversionId);
  return { kind: "duplicate", conversionId };
}

/** One row per receipt attribution did not turn into a new status, with the reason reports group by. */
async function record(
  tx: Tx,
  p: PostbackReceived,
  reason: RejectReason | "duplicate",
  conversionId: string | null,
): Promise<void> {
  await tx`insert into attribution_rejections (receipt_id, advertiser_id, brand_id, event, reason, conversion_id, source)
           values (${p.receipt_id}, ${p.advertiser_id}, ${p.brand_id}, ${p.event}, ${reason}, ${conversionId}, ${p.source})
           on conflict (receipt_id) do nothing`;
}

/**
 * Tells commission and delivery about a change. A conversion waiting for cap room or for its
 * click row is not announced at all: its first announcement is its release, with its state at
 * that moment (cap-blocks.ts, click-wait.ts).
 */
export async function announce(
  tx: Tx,
  row: ConversionRow,
  seq: number,
  previous: ConversionStatus | null,
  /** A batch's events, written together at its end (attributeBatch); else written now. */
  events?: PreparedEvent[],
) {
  if (row.cap_blocked_since || row.awaiting_click_since) return;
  const event: ConversionChanged = {
    conversion_id: row.id,
    seq,
    status: row.status,
    previous_status: previous,
    advertiser_id: row.advertiser_id,
    brand_id: row.brand_id,
    offer_id: row.offer_id,
    affiliate_id: row.affiliate_id,
    click_id: row.click_id,
    txid: row.txid,
    event: row.event,
    amount: row.amount,
    // The conversion's own (a browser never sets it): every change carries the same figures.
    payout_override: row.payout_override,
    currency: row.currency,
    occurred_at: row.occurred_at.toISOString(),
  };
  const message = {
    subject: subjects.conversionChanged(row.event, row.status),
    payload: event,
    msgId: `conv:${row.id}:${seq}`,
    // A first announcement may be a release (cap room, click stored) from another transaction:
    // it continues the trace of the postback that created the conversion.
    ...(previous === null && row.trace_context ? { trace: row.trace_context } : {}),
  };
  if (events) events.push(prepareEvent(message));
  else await enqueue(tx, message);
}
