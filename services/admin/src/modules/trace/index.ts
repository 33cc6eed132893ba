import type { ClickIdCodec } from "@roundtrip/clickid";
import { REASON, roundToCurrency } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import type postgres from "postgres";
import { Elysia, t } from "elysia";
import { authentication, type Principal } from "../../auth.ts";
import { assertCanRead, canRead, view } from "../../visibility.ts";
import { Id } from "../common.ts";
import { documented } from "../../openapi/documented.ts";
import { Trace as TraceBody } from "../../openapi/schemas.ts";

type Row = Record<string, unknown>;
// biome-ignore lint/suspicious/noExplicitAny: porsager rows are untyped records
type AnyRow = Record<string, any>;
type Fragment = postgres.PendingQuery<postgres.Row[]>;

const orAll = (sql: Sql, parts: (Fragment | null)[]) =>
  (parts.filter(Boolean) as Fragment[]).reduce<Fragment | null>(
    (acc, f) => (acc ? sql`${acc} or ${f}` : f),
    null,
  );

/** Parameter names that carry a click ID or a txid before aliases are applied (the gateway's defaults). */
const CLICK_ID_NAMES = ["click_id", "cid", "clickid", "click", "subid", "aff_sub"];
const TXID_NAMES = ["txid", "transaction_id", "tid", "order_id"];
const CAP_REASONS = new Set<string>([REASON.clickCap, REASON.conversionCap, REASON.payoutCap]);
const CAP_BLOCKED =
  "held back from commission and delivery; books itself once the cap has room (raised, removed, or a place given back)";
const AWAITING_CLICK =
  "credited before its click row was stored: held back from commission and delivery until the click is stored (announced then with its sub IDs), or until its click can no longer come";
const SECRET_KEYS = /^(token|signature|sig|secret|key|api_key|apikey|password|pass|auth|hmac)$/i;

/** A click ID carries its click time in whole seconds; the stored row has the exact time within that second. */
export function secondAfter(at: Date): Date {
  return new Date(at.getTime() + 1_000);
}

/** Secrets masked in any parameter map, whatever the log already did. */
export function maskParams(params: unknown): unknown {
  if (!params || typeof params !== "object") return params;
  return Object.fromEntries(
    Object.entries(params as Row).map(([k, v]) => [k, SECRET_KEYS.test(k) ? "***" : v]),
  );
}

/** Secret-looking query parameters of an outbound URL masked (affiliates put their own keys there). */
export function maskUrl(url: unknown): unknown {
  if (typeof url !== "string") return url;
  try {
    const u = new URL(url);
    for (const k of [...u.searchParams.keys()]) if (SECRET_KEYS.test(k)) u.searchParams.set(k, "***");
    return u.toString();
  } catch {
    return url;
  }
}

const TraceQuery = t.Object({
  click_id: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
  txid: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  conversion_id: t.Optional(Id),
  advertiser_id: t.Optional(Id),
});

/**
 * The conversion trace: from a click ID, a txid or a conversion, the whole journey — the click
 * (and what its ID says about itself), every postback request (raw, secrets masked) and receipt,
 * the dedup and attribution decision on each, status history, ledger entries and every outbound
 * attempt — with a timeline and a one-line verdict per postback. Staff only (it shows advertiser
 * traffic).
 */
export function traceModule(sql: Sql, codec: ClickIdCodec | null) {
  return new Elysia({ prefix: "/v1/trace", tags: ["trace"] }).use(authentication(sql)).get(
    "/",
    async ({ query, principal }) => {
      const shown = traceView(principal);
      if (!query.click_id && !query.txid && !query.conversion_id) {
        throw new HttpError(
          400,
          "invalid_request",
          "click_id: give a click_id, txid or conversion_id",
          "click_id",
        );
      }
      return shown(await buildTrace(sql, codec, query));
    },
    {
      query: TraceQuery,
      ...documented({
        summary: "Trace a conversion's journey by click ID, txid or conversion ID",
        description:
          "Everything known about a click ID, txid or conversion ID: the click, every postback request and receipt, attribution decisions, status history, ledger entries and outbound attempts, with a timeline. Staff only.",
        response: TraceBody,
      }),
    },
  );
}

type Trace = Awaited<ReturnType<typeof buildTrace>>;

/**
 * The trace as the caller's role may see it: each kind of row through its resource's allow-list
 * (refused outright for a role that may not read traces).
 */
export function traceView(principal: Principal): (trace: Trace) => Trace {
  assertCanRead("trace", principal);
  const click = view("clicks", principal);
  const conversion = view("conversions", principal);
  const history = view("conversion_history", principal);
  const entry = view("ledger_entries", principal);
  const delivery = view("deliveries", principal);
  const attempt = view("delivery_attempts", principal);
  // Rule verdicts are the operator's judgement: left out for a partner, with the timeline lines they make.
  const verdicts = canRead("conversion_rule_hits", principal);
  return (trace) => ({
    ...trace,
    clicks: trace.clicks.map((c) => ({
      ...c,
      click: c.click ? click(c.click as Row) : null,
      // Which rule served it names the operator's routing: staff only, as the rules are.
      route: canRead("link_routing", principal) ? c.route : null,
    })),
    timeline: verdicts ? trace.timeline : trace.timeline.filter((e) => e.kind !== "rule"),
    conversions: trace.conversions.map((c) => ({
      ...conversion(c),
      history: c.history.map(history),
      rules: verdicts ? c.rules : [],
      review: verdicts ? c.review : null,
      ledger: c.ledger.map(entry),
      deliveries: c.deliveries.map((d) => ({ ...delivery(d), attempts: d.attempts.map(attempt) })),
    })),
  });
}

/**
 * What routed a click (docs/routing.md): the link the visitor followed, the rule (kept after it
 * is replaced: rules are retired, never changed) and the destination that served it.
 */
async function routeOf(sql: Sql, click: Row) {
  const [route] = await sql`
    select l.id as via_link_id, l.code as via_link_code, r.id as rule_id, r.name as rule_name,
           r.position as rule_position, r.fallback, r.conditions, r.retired_at,
           d.id as destination_id, d.offer_id, d.weight
    from link_routes r
    join links l on l.id = r.link_id
    left join link_route_destinations d on d.id = ${(click.route_destination_id as string | null) ?? null}
    where r.id = ${click.route_rule_id as string}`;
  return route ? { ...route, country: click.country ?? null } : null;
}

export async function buildTrace(
  sql: Sql,
  codec: ClickIdCodec | null,
  q: { click_id?: string; txid?: string; conversion_id?: string; advertiser_id?: string },
) {
  const clickIds = new Set<string>();
  const txids = new Set<string>();
  if (q.click_id) clickIds.add(q.click_id);
  if (q.txid) txids.add(q.txid);
  const advertiser = q.advertiser_id ? sql`and advertiser_id = ${q.advertiser_id}` : sql``;

  if (q.conversion_id) {
    const [c] = await sql`select click_id, txid from conversions where id = ${q.conversion_id}`;
    if (!c) throw new HttpError(404, "not_found", "no such conversion", "conversion_id");
    clickIds.add(c.click_id as string);
  }
  if (q.txid) {
    for (const r of await sql`select distinct click_id from postback_receipts where txid = ${q.txid} and click_id is not null ${advertiser} limit 20`) {
      clickIds.add(r.click_id as string);
    }
    for (const r of await sql`select distinct click_id from conversions where txid = ${q.txid} ${advertiser} limit 20`) {
      clickIds.add(r.click_id as string);
    }
  }
  const ids = [...clickIds].slice(0, 20);

  // The clicks, and what each click ID proves by itself (link and time under our HMAC).
  const clicks: Row[] = [];
  for (const id of ids) {
    const verified = codec?.verify(id);
    const claims = verified?.ok ? verified.claims : null;
    const [row] = claims
      ? await sql`select * from clicks where click_id = ${id} and clicked_at >= ${claims.clickedAt} and clicked_at < ${secondAfter(claims.clickedAt)}`
      : await sql`select * from clicks where click_id = ${id} limit 1`;
    const linkId = claims?.linkId ?? (row?.link_id as string | undefined);
    const [link] = linkId
      ? await sql`
          select l.id as link_id, l.code, l.status as link_status, o.id as offer_id, o.name as offer_name, o.status as offer_status,
                 a.id as affiliate_id, a.name as affiliate_name, a.is_test, b.slug as brand, o.advertiser_id
          from links l join offers o on o.id = l.offer_id join affiliates a on a.id = l.affiliate_id join brands b on b.id = o.brand_id
          where l.id = ${linkId}`
      : [];
    clicks.push({
      route: row?.route_rule_id ? await routeOf(sql, row) : null,
      click_id: id,
      id_check: codec
        ? verified?.ok
          ? "valid"
          : `invalid (${verified && !verified.ok ? verified.reason : "?"})`
        : "not checked (no CLICK_ID_KEYS)",
      clicked_at: claims?.clickedAt ?? row?.clicked_at ?? null,
      stored: Boolean(row),
      click: row ?? null,
      link: link ?? null,
    });
  }

  // Receipts: accepted postbacks, by click ID or txid.
  const receiptWhere = orAll(sql, [
    ids.length ? sql`click_id in ${sql(ids)}` : null,
    txids.size ? sql`txid in ${sql([...txids])}` : null,
  ]);
  const receipts: AnyRow[] = receiptWhere
    ? await sql`select * from postback_receipts where (${receiptWhere}) ${advertiser} order by received_at, id limit 200`
    : [];
  const receiptIds = receipts.map((r) => r.id as string);

  // Raw requests: those that produced a receipt, and those refused before one (found by value,
  // under any parameter name that can carry a click ID or a txid).
  const aliasRows = await sql<{ alias: string; canonical: string }[]>`
    select key as alias, value as canonical from advertisers, jsonb_each_text(param_aliases)
    where value in ('click_id', 'txid')`;
  const names = (canonical: string, defaults: string[]) => [
    ...new Set([...defaults, ...aliasRows.filter((a) => a.canonical === canonical).map((a) => a.alias)]),
  ];
  const contains: unknown[] = [
    ...ids.flatMap((id) => names("click_id", CLICK_ID_NAMES).map((n) => ({ [n]: id }))),
    ...[...txids].flatMap((tx) => names("txid", TXID_NAMES).map((n) => ({ [n]: tx }))),
  ];
  const logs: AnyRow[] = [
    ...(receiptIds.length
      ? await sql`select * from postback_log where receipt_id in ${sql(receiptIds)} order by received_at, id limit 500`
      : []),
    ...(contains.length
      ? await sql`
          select * from postback_log
          where receipt_id is null and (${contains
            .map((c) => sql`params @> ${sql.json(c as never)}`)
            .reduce((acc, f) => sql`${acc} or ${f}`)})
          order by received_at, id limit 200`
      : []),
  ].map((l) => ({ ...l, params: maskParams(l.params) }));

  // Conversions, their history, ledger and deliveries.
  const conversionWhere = orAll(sql, [
    q.conversion_id ? sql`id = ${q.conversion_id}` : null,
    ids.length ? sql`click_id in ${sql(ids)}` : null,
    txids.size ? sql`txid in ${sql([...txids])}` : null,
  ]);
  const conversions: AnyRow[] = conversionWhere
    ? await sql`select * from conversions where (${conversionWhere}) ${advertiser} order by id limit 100`
    : [];
  const conversionIds = conversions.map((c) => c.id as string);
  const [history, ledger, deliveries, rejections, handled, blocks, refunds, ruleHits, reviews] =
    await Promise.all([
      conversionIds.length
        ? sql`select * from conversion_history where conversion_id in ${sql(conversionIds)} order by conversion_id, seq`
        : [],
      conversionIds.length
        ? sql`select * from ledger_entries where conversion_id in ${sql(conversionIds)} order by id`
        : [],
      conversionIds.length
        ? sql`select * from deliveries where conversion_id in ${sql(conversionIds)} order by id`
        : [],
      receiptIds.length
        ? sql`select * from attribution_rejections where receipt_id in ${sql(receiptIds)}`
        : [],
      receipts.length
        ? // Per message or in a batch's row, whichever inbox recorded it (bus_handled).
          sql`select id as message_id from unnest(${sql.array(receipts.map((r) => `pb:${r.advertiser_id}:${r.dedup_key}`))}::text[]) as id
            where bus_handled('attribution-postbacks', id)`
        : [],
      // Why commission has not booked a conversion yet (e.g. no FX rate), until it can.
      conversionIds.length
        ? sql`select conversion_id, change_seq, reason, detail, message, blocked_at, attempts, last_attempt_at
            from commission_blocks where conversion_id in ${sql(conversionIds)}`
        : [],
      // Refunds and chargebacks stand for their txid (docs/tracking.md, order independence).
      receiptIds.length
        ? sql`select receipt_id, txid, applied_at from pending_reversals where receipt_id in ${sql(receiptIds)}`
        : [],
      // Traffic-quality rules that fired on each conversion (docs/fraud.md), and its review.
      conversionIds.length
        ? sql`select * from conversion_rule_hits where conversion_id in ${sql(conversionIds)} order by conversion_id, reason`
        : [],
      conversionIds.length
        ? sql`select * from conversion_reviews where conversion_id in ${sql(conversionIds)}`
        : [],
    ]);
  const deliveryIds = deliveries.map((d) => d.id as string);
  const attempts = deliveryIds.length
    ? await sql`select * from delivery_attempts where delivery_id in ${sql(deliveryIds)} order by delivery_id, attempt`
    : [];

  // The decision on each receipt, in words.
  const handledIds = new Set(handled.map((h) => h.message_id as string));
  const receiptViews: AnyRow[] = receipts.map((r) => {
    const requests = logs.filter((l) => l.receipt_id === r.id);
    const change = history.find((h) => h.receipt_id === r.id);
    const rejection = rejections.find((x) => x.receipt_id === r.id);
    const conversion = change ? conversions.find((c) => c.id === change.conversion_id) : undefined;
    let decision: string;
    const refund = refunds.find((x) => x.receipt_id === r.id);
    if (rejection) decision = `rejected by attribution: ${rejection.reason}`;
    else if (refund && !change)
      decision = refund.applied_at
        ? `reverses every conversion of txid ${refund.txid} (including later ones)`
        : `refund of txid ${refund.txid} parked: no conversion of it yet; any that arrives is reversed at once`;
    else if (change && change.seq === 1)
      decision = `created conversion ${change.conversion_id} as ${change.status}${
        change.reason === "over_cap" ? `, over its cap: ${CAP_BLOCKED}` : ""
      }`;
    else if (change) decision = `changed conversion ${change.conversion_id} to ${change.status}`;
    else if (handledIds.has(`pb:${r.advertiser_id}:${r.dedup_key}`))
      decision = "duplicate: the conversion already had this status";
    else decision = "accepted at the gateway, waiting for attribution (delayed)";
    return {
      ...r,
      requests: requests.length,
      retries_answered_duplicate: requests.filter((l) => l.outcome === "duplicate").length,
      decision,
      conversion_id: conversion?.id ?? change?.conversion_id ?? null,
    };
  });

  const conversionViews = conversions.map((c) => {
    const entries = ledger.filter((e) => e.conversion_id === c.id);
    const ds = deliveries.filter((d) => d.conversion_id === c.id);
    const { conversion_id: _, ...blocked } = blocks.find((b) => b.conversion_id === c.id) ?? {};
    return {
      ...c,
      history: history.filter((h) => h.conversion_id === c.id),
      rules: ruleHits.filter((h) => h.conversion_id === c.id),
      review: reviews.find((r) => r.conversion_id === c.id) ?? null,
      commission_blocked: "reason" in blocked ? blocked : null,
      // Attribution holds a conversion over its offer event's cap back until the cap has room.
      cap_blocked: c.cap_blocked_since
        ? { reason: "over_cap", since: c.cap_blocked_since, message: CAP_BLOCKED }
        : null,
      // Attribution holds a conversion that overtook its click back until the click row is stored.
      awaiting_click: c.awaiting_click_since
        ? { reason: "awaiting_click", since: c.awaiting_click_since, message: AWAITING_CLICK }
        : null,
      ledger: entries,
      deliveries: ds.map((d) => ({
        ...d,
        url: maskUrl(d.url),
        attempts: attempts.filter((a) => a.delivery_id === d.id),
      })),
    };
  });

  const timeline: { at: unknown; kind: string; summary: string; ref?: unknown }[] = [];
  // Which cap sent the click to the offer's fallback URL (docs/routing.md), as its reason code says.
  const capOf = (reasons: unknown) => {
    const cap = (Array.isArray(reasons) ? (reasons as string[]) : []).find((r) => CAP_REASONS.has(r));
    return cap ? `, sent to the offer's fallback URL (${cap})` : "";
  };
  for (const c of clicks)
    if (c.clicked_at)
      timeline.push({
        at: c.clicked_at,
        kind: "click",
        summary: `click on link ${(c.route as Row | null)?.via_link_code ?? (c.link as Row | null)?.code ?? "?"}${
          c.route ? ` routed to offer ${(c.link as Row | null)?.offer_id ?? "?"}` : ""
        }${capOf((c.click as Row | null)?.reasons)}${c.stored ? "" : " (row not stored)"}`,
        ref: c.click_id,
      });
  for (const l of logs)
    timeline.push({
      at: l.received_at,
      kind: "postback",
      summary: `${l.method} ${l.source} → ${l.http_status} ${l.outcome}${l.reason ? ` (${l.reason})` : ""}`,
      ref: l.id,
    });
  for (const r of receiptViews)
    timeline.push({
      at: r.received_at,
      kind: "decision",
      summary: `receipt ${r.id} (${r.event}${r.status ? `/${r.status}` : ""}): ${r.decision}`,
      ref: r.id,
    });
  for (const h of history)
    timeline.push({
      at: h.at,
      kind: "status",
      summary: `conversion ${h.conversion_id} → ${h.status}${h.reason ? ` (${h.reason})` : ""}`,
      ref: h.conversion_id,
    });
  for (const h of ruleHits)
    timeline.push({
      at: h.at,
      kind: "rule",
      summary: `rule ${h.reason} fired on conversion ${h.conversion_id}: ${h.action}${h.measured ? ` (${measuredText(h.measured)})` : ""}`,
      ref: h.conversion_id,
    });
  for (const e of ledger)
    timeline.push({
      at: e.created_at,
      kind: "ledger",
      // In the currency's minor units (the ledger keeps six places): "commission 25.00 EUR".
      summary: `${e.type} ${amountText(e.payout, e.currency)}${
        e.revenue !== undefined && e.revenue !== null ? ` (revenue ${amountText(e.revenue, e.currency)})` : ""
      }`,
      ref: e.id,
    });
  for (const b of blocks)
    timeline.push({
      at: b.blocked_at,
      kind: "blocked",
      summary: `commission blocked (${b.reason}): ${b.message}; retried ${b.attempts} time(s), books itself once fixed`,
      ref: b.conversion_id,
    });
  for (const c of conversions)
    if (c.cap_blocked_since)
      timeline.push({
        at: c.cap_blocked_since,
        kind: "blocked",
        summary: `conversion ${c.id} blocked (over_cap): ${CAP_BLOCKED}`,
        ref: c.id,
      });
  for (const c of conversions)
    if (c.awaiting_click_since)
      timeline.push({
        at: c.awaiting_click_since,
        kind: "blocked",
        summary: `conversion ${c.id} waiting for its click (awaiting_click): ${AWAITING_CLICK}`,
        ref: c.id,
      });
  // Ad-platform forwards (docs/conversions-api.md) are told apart from the affiliate's postback,
  // and one skipped (too old, nothing to match) shows with its reason though it has no attempt.
  const forwards = new Set(deliveries.filter((d) => d.destination_id).map((d) => d.id as string));
  for (const a of attempts)
    timeline.push({
      at: a.started_at,
      kind: "delivery",
      summary: `${forwards.has(a.delivery_id as string) ? "ad-platform forward" : "outbound"} attempt ${a.attempt} → ${a.status_code ?? a.error ?? "?"}`,
      ref: a.delivery_id,
    });
  for (const d of deliveries)
    if (d.status === "skipped")
      timeline.push({
        at: d.dead_at ?? d.created_at,
        kind: "delivery",
        summary: `ad-platform forward skipped: ${d.last_error ?? "?"}`,
        ref: d.id,
      });
  timeline.sort((a, b) => new Date(a.at as string).getTime() - new Date(b.at as string).getTime());

  return {
    query: q,
    clicks,
    postback_requests: logs,
    receipts: receiptViews,
    conversions: conversionViews,
    timeline,
  };
}

/** An amount as people read it: rounded to its currency's minor unit, with the currency. */
function amountText(amount: unknown, currency: unknown): string {
  const code = String(currency ?? "").trim();
  try {
    return `${roundToCurrency(String(amount), code)} ${code}`;
  } catch {
    return `${String(amount)} ${code}`;
  }
}

/** What a rule measured, in words: {"min_seconds":10,"ctit_seconds":0} → "min seconds 10, ctit seconds 0". */
function measuredText(measured: unknown): string {
  if (!measured || typeof measured !== "object") return String(measured);
  return Object.entries(measured as Record<string, unknown>)
    .map(([k, v]) => `${k.replaceAll("_", " ")} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(", ");
}
