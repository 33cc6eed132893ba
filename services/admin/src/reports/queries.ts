import type { ClickIdCodec } from "@roundtrip/clickid";
import { fromMicros, roundToCurrency, toMicros } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import type postgres from "postgres";
import { postbackWatermark } from "./fold.ts";

type Fragment = postgres.PendingQuery<postgres.Row[]>;
type Row = Record<string, unknown>;

export type Range = { from: Date; to: Date; tz: string };

const DAY_MS = 86_400_000;
export const MAX_REPORT_DAYS = 400;

/**
 * The report period. A date or a date-time without an offset is read in `tz` (the brand's time
 * zone by default), so "2026-03-01" means that day's midnight where the brand is; `to` is
 * exclusive and defaults to now, `from` to 30 days before `to`.
 */
export async function resolveRange(
  sql: Sql,
  input: { from?: string; to?: string; tz?: string; brand_id?: string },
): Promise<Range> {
  let tz = input.tz;
  if (!tz && input.brand_id) {
    const [brand] = await sql<
      { timezone: string }[]
    >`select timezone from brands where id = ${input.brand_id}`;
    tz = brand?.timezone;
  }
  tz ??= "UTC";
  const at = async (value: string | undefined, field: string): Promise<Date | undefined> => {
    if (value === undefined) return undefined;
    const absolute = /(Z|[+-]\d{2}:?\d{2})$/.test(value);
    try {
      const [row] = absolute
        ? await sql<{ t: Date }[]>`select ${value}::timestamptz as t`
        : await sql<{ t: Date }[]>`select ${value}::timestamp at time zone ${tz} as t`;
      return row?.t;
    } catch {
      throw new HttpError(400, "invalid_request", `${field}: not a valid date or time zone`, field);
    }
  };
  try {
    await sql`select now() at time zone ${tz}`;
  } catch {
    throw new HttpError(400, "invalid_request", `tz: unknown time zone ${tz}`, "tz");
  }
  const to = (await at(input.to, "to")) ?? new Date();
  const from = (await at(input.from, "from")) ?? new Date(to.getTime() - 30 * DAY_MS);
  if (from >= to) throw new HttpError(400, "invalid_request", "from: must be before to", "from");
  if (to.getTime() - from.getTime() > MAX_REPORT_DAYS * DAY_MS) {
    throw new HttpError(
      400,
      "invalid_request",
      `from: a report covers at most ${MAX_REPORT_DAYS} days`,
      "from",
    );
  }
  return { from, to, tz };
}

const num = (v: unknown) => Number(v ?? 0);
const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 10_000) / 10_000 : null);
const money = (v: unknown, currency: string) => roundToCurrency(String(v ?? "0"), currency.trim() || "EUR");

/** Dimension name → [output column, SQL expression over the rollup alias `r`]. */
function timeDims(sql: Sql, column: Fragment, tz: string): Record<string, Fragment> {
  return {
    hour: sql`to_char(${column} at time zone ${tz}, 'YYYY-MM-DD"T"HH24:00')`,
    day: sql`to_char(${column} at time zone ${tz}, 'YYYY-MM-DD')`,
    week: sql`to_char(date_trunc('week', ${column} at time zone ${tz}), 'YYYY-MM-DD')`,
    month: sql`to_char(${column} at time zone ${tz}, 'YYYY-MM')`,
  };
}

export const PERFORMANCE_DIMENSIONS = [
  "hour",
  "day",
  "week",
  "month",
  "brand",
  "advertiser",
  "offer",
  "affiliate",
  "event",
  "sub1",
  "sub2",
  "sub3",
  "sub4",
  "sub5",
  "country",
] as const;
export type PerformanceDimension = (typeof PERFORMANCE_DIMENSIONS)[number];

const ID_DIMS: Record<string, string> = {
  brand: "brand_id",
  advertiser: "advertiser_id",
  offer: "offer_id",
  affiliate: "affiliate_id",
};
const NAME_TABLES: Record<string, { table: string; column: string }> = {
  brand: { table: "brands", column: "slug" },
  advertiser: { table: "advertisers", column: "name" },
  offer: { table: "offers", column: "name" },
  affiliate: { table: "affiliates", column: "name" },
};

export type PerformanceFilters = {
  brand_id?: string;
  advertiser_id?: string;
  offer_id?: string;
  affiliate_id?: string;
  event?: string;
  currency?: string;
  sub1?: string;
  sub2?: string;
  sub3?: string;
  sub4?: string;
  sub5?: string;
  country?: string;
};

function outputName(dim: string): string {
  return ID_DIMS[dim] ?? dim;
}

/** Looks up display names for id dimensions (small tables), so a report row reads on its own. */
async function attachNames(sql: Sql, rows: Row[], dims: readonly string[]): Promise<void> {
  for (const dim of dims) {
    const meta = NAME_TABLES[dim];
    if (!meta) continue;
    const key = outputName(dim);
    const ids = [...new Set(rows.map((r) => r[key] as string))].filter(Boolean);
    if (!ids.length) continue;
    const found =
      await sql`select id, ${sql(meta.column)} as label from ${sql(meta.table)} where id in ${sql(ids)}`;
    const labels = new Map(found.map((f) => [f.id as string, f.label as string]));
    for (const r of rows) r[`${dim}_name`] = labels.get(r[key] as string) ?? null;
  }
}

export type PerformancePeriod = { from?: string; to?: string; tz?: string };

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const ABSOLUTE = /(Z|[+-]\d{2}:?\d{2})$/;
const TIME_FORMATS: Record<string, string> = {
  hour: 'YYYY-MM-DD"T"HH24:00',
  day: "YYYY-MM-DD",
  week: "YYYY-MM-DD",
  month: "YYYY-MM",
};

/**
 * Clicks, conversions by status, CR, approval rate, amount, payout, revenue and profit from the
 * rollups, grouped by any of the dimensions (plus currency: money is never summed across
 * currencies). With `event` among the dimensions, each event row carries the clicks of its group,
 * so CR is per event. Test traffic is excluded.
 *
 * Time: without `tz`, days and hours are each brand's own (its time zone) and `from`/`to` are
 * brand-local dates; day, week, month or no time dimension read the daily rollup (one row a day),
 * hour reads the hourly one. With `tz` (or absolute from/to), the hourly rollup in that zone.
 * Time dimensions group by cheap values and are formatted after grouping.
 *
 * Country (the visitor's, '' unknown) reads the country rollup (report_country_daily, brand-local
 * days): with it, no hour, event or sub ID dimension or filter, and no `tz` (400 naming the field).
 */
export async function performanceReport(
  sql: Sql,
  period: PerformancePeriod,
  groupBy: readonly PerformanceDimension[],
  filters: PerformanceFilters,
) {
  const dims = [...new Set(groupBy)];
  const absolute = [period.from, period.to].some((v) => v !== undefined && ABSOLUTE.test(v));
  const byCountry = dims.includes("country") || filters.country !== undefined;
  if (byCountry) {
    const field = ["hour", "event", "sub1", "sub2", "sub3", "sub4", "sub5"].find(
      (d) => dims.includes(d as PerformanceDimension) || filters[d as keyof PerformanceFilters] !== undefined,
    );
    if (field || period.tz !== undefined || absolute)
      throw new HttpError(
        400,
        "invalid_request",
        `${field ?? "tz"}: not with country (the country report is by the brand's day, per offer and affiliate)`,
        field ?? "tz",
      );
  }
  const mode = byCountry
    ? "country"
    : period.tz !== undefined || absolute
      ? "zone"
      : dims.includes("hour")
        ? "brand-hourly"
        : "daily";

  let table: Fragment;
  let where: Fragment;
  let timeKey: Record<string, Fragment>;
  let from: string;
  let to: string;
  let tz: string;
  const truncated = (local: Fragment) => ({
    hour: sql`date_trunc('hour', ${local})`,
    day: sql`date_trunc('day', ${local})`,
    week: sql`date_trunc('week', ${local})`,
    month: sql`date_trunc('month', ${local})`,
  });
  if (mode === "zone") {
    const range = await resolveRange(sql, { from: period.from, to: period.to, tz: period.tz ?? "UTC" });
    tz = range.tz;
    from = range.from.toISOString();
    to = range.to.toISOString();
    table = sql`report_hourly r`;
    where = sql`r.hour >= date_trunc('hour', ${range.from}::timestamptz) and r.hour < ${range.to}`;
    timeKey = truncated(sql`(r.hour at time zone ${tz})`);
  } else {
    tz = "brand";
    ({ from, to } = brandDates(period));
    if (mode === "daily" || mode === "country") {
      table = mode === "country" ? sql`report_country_daily r` : sql`report_daily r`;
      where = sql`r.day >= ${from.slice(0, 10)}::date and r.day < ${to.slice(0, 10)}::date`;
      timeKey = truncated(sql`r.day::timestamp`);
    } else {
      // Each row's hour in its brand's zone; the outer bounds (zones are within ±15 h) keep the index range scan.
      table = sql`report_hourly r join brands b on b.id = r.brand_id`;
      const local = sql`(r.hour at time zone b.timezone)`;
      where = sql`r.hour >= ${from}::timestamp at time zone 'UTC' - interval '15 hours'
        and r.hour < ${to}::timestamp at time zone 'UTC' + interval '15 hours'
        and ${local} >= ${from}::timestamp and ${local} < ${to}::timestamp`;
      timeKey = truncated(local);
    }
  }
  where = sql`${where} and r.affiliate_id not in (select id from affiliates where is_test)`;
  for (const [k, v] of Object.entries(filters))
    if (v !== undefined) where = sql`${where} and r.${sql(k)} = ${v}`;

  const exprs = dims.map((d) => {
    const name = outputName(d);
    const format = TIME_FORMATS[d];
    if (format)
      return { name, inner: timeKey[d] as Fragment, outer: sql`to_char(g.${sql(name)}, ${format})` };
    return { name, inner: sql`r.${sql(name)}`, outer: sql`g.${sql(name)}` };
  });
  const innerDims = exprs.reduce<Fragment>((acc, e) => sql`${acc} ${e.inner} as ${sql(e.name)},`, sql``);
  const outerDims = exprs.reduce<Fragment>((acc, e) => sql`${acc} ${e.outer} as ${sql(e.name)},`, sql``);
  const positions = sql.unsafe(Array.from({ length: exprs.length + 1 }, (_, i) => i + 1).join(", "));
  const raw = await sql`
    select ${outerDims} g.currency, g.clicks, g.unique_clicks, g.conversions, g.pending, g.approved, g.rejected,
           g.reversed, g.amount, g.payout, g.revenue
    from (
      select ${innerDims} r.currency as currency,
        sum(r.clicks) as clicks, sum(r.unique_clicks) as unique_clicks, sum(r.conversions) as conversions,
        sum(r.pending) as pending, sum(r.approved) as approved, sum(r.rejected) as rejected,
        sum(r.reversed) as reversed, sum(r.amount) as amount, sum(r.payout) as payout, sum(r.revenue) as revenue
      from ${table} where ${where}
      group by ${positions}
    ) g
    order by ${positions}`;

  const shape = (r: Row): Row => {
    const currency = String(r.currency).trim();
    const clicks = num(r.clicks);
    const conversions = num(r.conversions);
    const approved = num(r.approved);
    const out: Row = {};
    for (const e of exprs) out[e.name] = r[e.name];
    Object.assign(out, {
      currency,
      clicks,
      unique_clicks: num(r.unique_clicks),
      conversions,
      pending: num(r.pending),
      approved,
      rejected: num(r.rejected),
      reversed: num(r.reversed),
      cr: ratio(conversions, clicks),
      approval_rate: ratio(approved, conversions),
      amount: money(r.amount, currency),
      payout: money(r.payout, currency),
    });
    // Who may see revenue and profit is the caller's allow-list (visibility.ts), not this query's.
    out.revenue = money(r.revenue, currency);
    out.profit = roundToCurrency(
      fromMicros(toMicros(String(r.revenue ?? "0")) - toMicros(String(r.payout ?? "0"))),
      currency,
    );
    return out;
  };
  let rows = raw.map(shape);
  if (dims.includes("event")) rows = spreadClicksOverEvents(rows);
  await attachNames(sql, rows, dims);
  return { from, to, tz, group_by: dims, rows, totals: totalsOf(raw).map(shape) };
}

/** Brand-local bounds: dates or local date-times; `to` exclusive (default tomorrow), `from` default 30 days before. */
function brandDates(period: PerformancePeriod): { from: string; to: string } {
  const parse = (v: string | undefined, field: string): string | undefined => {
    if (v === undefined) return undefined;
    const normal = DATE_ONLY.test(v) ? `${v}T00:00:00` : v.replace(" ", "T");
    if (Number.isNaN(Date.parse(`${normal}Z`)))
      throw new HttpError(400, "invalid_request", `${field}: not a valid date`, field);
    return normal;
  };
  const to = parse(period.to, "to") ?? `${new Date(Date.now() + DAY_MS).toISOString().slice(0, 10)}T00:00:00`;
  const from =
    parse(period.from, "from") ??
    `${new Date(Date.parse(`${to}Z`) - 30 * DAY_MS).toISOString().slice(0, 10)}T00:00:00`;
  const span = Date.parse(`${to}Z`) - Date.parse(`${from}Z`);
  if (span <= 0) throw new HttpError(400, "invalid_request", "from: must be before to", "from");
  if (span > MAX_REPORT_DAYS * DAY_MS) {
    throw new HttpError(
      400,
      "invalid_request",
      `from: a report covers at most ${MAX_REPORT_DAYS} days`,
      "from",
    );
  }
  return { from, to };
}

/** Per currency, the sums of the grouped rows (exact: from the unrounded aggregates). */
function totalsOf(rows: readonly Row[]): Row[] {
  const byCurrency = new Map<string, Row>();
  const counts = ["clicks", "unique_clicks", "conversions", "pending", "approved", "rejected", "reversed"];
  const amounts = ["amount", "payout", "revenue"];
  for (const r of rows) {
    const t = byCurrency.get(r.currency as string) ?? { currency: r.currency };
    for (const c of counts) t[c] = num(t[c]) + num(r[c]);
    for (const a of amounts) t[a] = fromMicros(toMicros(String(t[a] ?? "0")) + toMicros(String(r[a] ?? "0")));
    byCurrency.set(r.currency as string, t);
  }
  return [...byCurrency.values()].sort((a, b) => String(a.currency).localeCompare(String(b.currency)));
}

/** Click rows have event ''; give each event row its group's clicks and drop the click row. */
function spreadClicksOverEvents(rows: Row[]): Row[] {
  const groupKey = (r: Row) =>
    JSON.stringify(Object.entries(r).filter(([k]) => isDimension(k) && k !== "event"));
  const clicksOf = new Map<string, Row>();
  const hasEvents = new Set<string>();
  for (const r of rows) {
    if (r.event === "") clicksOf.set(groupKey(r), r);
    else hasEvents.add(groupKey(r));
  }
  const out: Row[] = [];
  for (const r of rows) {
    const key = groupKey(r);
    if (r.event === "") {
      if (!hasEvents.has(key)) out.push({ ...r, event: null });
      continue;
    }
    const c = clicksOf.get(key);
    const clicks = num(c?.clicks);
    out.push({ ...r, clicks, unique_clicks: num(c?.unique_clicks), cr: ratio(num(r.conversions), clicks) });
  }
  return out;
}

const DIMENSION_KEYS = new Set([
  "hour",
  "day",
  "week",
  "month",
  "brand_id",
  "advertiser_id",
  "offer_id",
  "affiliate_id",
  "event",
  "sub1",
  "sub2",
  "sub3",
  "sub4",
  "sub5",
  "country",
  "currency",
  "source",
  "outcome",
  "reason",
  "status",
]);
function isDimension(key: string): boolean {
  return DIMENSION_KEYS.has(key);
}

export const POSTBACK_DIMENSIONS = ["hour", "day", "week", "month", "brand", "advertiser", "source"] as const;
export type PostbackDimension = (typeof POSTBACK_DIMENSIONS)[number];

/**
 * Advertiser postback quality: requests, accepted, duplicates, rejections by reason (at the
 * gateway and in attribution), duplicate rate and success rate. Closed hours come from the
 * folded rollup; the hours after its watermark from the raw log (at most the open hour or two);
 * attribution rejections (a small table) by their index on time.
 */
export async function postbackReport(
  sql: Sql,
  range: Range,
  groupBy: readonly PostbackDimension[],
  filters: { brand_id?: string; advertiser_id?: string; source?: string },
) {
  const dims = [...new Set(groupBy)];
  const watermark = await postbackWatermark(sql);
  const rawFrom = new Date(Math.max(range.from.getTime(), watermark.getTime()));
  const timeExpr = timeDims(sql, sql`s.hour`, range.tz);
  const exprs = dims.map((d) => {
    if (d in timeExpr) return { name: d, expr: timeExpr[d] as Fragment };
    if (d in ID_DIMS) return { name: outputName(d), expr: sql`s.${sql(outputName(d))}` };
    return { name: d, expr: sql`s.${sql(d)}` };
  });
  let where = sql`true`;
  for (const [k, v] of Object.entries(filters))
    if (v !== undefined) where = sql`${where} and s.${sql(k)} = ${v}`;
  const selectDims = exprs.reduce<Fragment>((acc, e) => sql`${acc} ${e.expr} as ${sql(e.name)},`, sql``);
  const n = exprs.length;
  const groupCols = sql.unsafe(Array.from({ length: n + 2 }, (_, i) => i + 1).join(", "));
  const rows = await sql`
    with s as (
      select hour, advertiser_id, brand_id, source, outcome, reason, requests
      from report_postbacks_hourly
      where hour >= date_trunc('hour', ${range.from}::timestamptz) and hour < ${range.to} and hour < ${watermark}
      union all
      select date_trunc('hour', l.received_at), coalesce(l.advertiser_id, 0), coalesce(a.brand_id, 0), l.source, l.outcome,
             coalesce(l.reason, ''), count(*)
      from postback_log l left join advertisers a on a.id = l.advertiser_id
      where l.received_at >= ${rawFrom} and l.received_at < ${range.to}
      group by 1, 2, 3, 4, 5, 6
      union all
      select date_trunc('hour', x.at), x.advertiser_id, coalesce(a.brand_id, 0), 'attribution', 'attribution_rejected',
             x.reason, count(*)
      from attribution_rejections x left join advertisers a on a.id = x.advertiser_id
      where x.at >= ${range.from} and x.at < ${range.to}
      group by 1, 2, 3, 4, 5, 6
    )
    select ${selectDims} s.outcome as outcome, s.reason as reason, sum(s.requests) as requests
    from s where ${where}
    group by ${groupCols} order by ${groupCols}`;

  const groups = new Map<string, Row>();
  for (const r of rows) {
    const dimValues = Object.fromEntries(exprs.map((e) => [e.name, r[e.name]]));
    const key = JSON.stringify(dimValues);
    const g =
      groups.get(key) ??
      ({
        ...dimValues,
        requests: 0,
        accepted: 0,
        duplicates: 0,
        rejected: 0,
        attribution_rejected: 0,
        rejected_by_reason: {},
      } as Row);
    const count = num(r.requests);
    const reasons = g.rejected_by_reason as Record<string, number>;
    if (r.outcome === "attribution_rejected") {
      g.attribution_rejected = num(g.attribution_rejected) + count;
      reasons[`attribution:${r.reason}`] = (reasons[`attribution:${r.reason}`] ?? 0) + count;
    } else {
      g.requests = num(g.requests) + count;
      if (r.outcome === "accepted") g.accepted = num(g.accepted) + count;
      else if (r.outcome === "duplicate") g.duplicates = num(g.duplicates) + count;
      else {
        g.rejected = num(g.rejected) + count;
        const reason = (r.reason as string) || (r.outcome as string);
        reasons[reason] = (reasons[reason] ?? 0) + count;
      }
    }
    groups.set(key, g);
  }
  const out = [...groups.values()].map((g) => ({
    ...g,
    duplicate_rate: ratio(num(g.duplicates), num(g.accepted) + num(g.duplicates)),
    success_rate: ratio(num(g.accepted) + num(g.duplicates), num(g.requests)),
  }));
  await attachNames(sql, out, dims);
  return {
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    tz: range.tz,
    group_by: dims,
    rows: out,
  };
}

export const DELIVERY_DIMENSIONS = ["hour", "day", "week", "month", "brand", "offer", "affiliate"] as const;
export type DeliveryDimension = (typeof DELIVERY_DIMENSIONS)[number];

/**
 * Outbound affiliate postbacks: deliveries created in the period by final state, attempts and
 * success rate (delivered over delivered + failed + dead; pending ones are still retrying).
 * Deliveries change state for a day after they are created, so this reads the deliveries table
 * through its time index; it is as large as conversions, not clicks.
 */
export async function deliveryReport(
  sql: Sql,
  range: Range,
  groupBy: readonly DeliveryDimension[],
  filters: { brand_id?: string; offer_id?: string; affiliate_id?: string },
) {
  const dims = [...new Set(groupBy)];
  const timeExpr = timeDims(sql, sql`d.created_at`, range.tz);
  const columnOf: Record<string, Fragment> = {
    brand: sql`c.brand_id`,
    offer: sql`c.offer_id`,
    affiliate: sql`d.affiliate_id`,
  };
  const exprs = dims.map((d) => ({ name: outputName(d), expr: (timeExpr[d] ?? columnOf[d]) as Fragment }));
  // Affiliate postbacks only: ad-platform forwards (destination_id) are the operator's, in the deliveries list.
  let where = sql`d.created_at >= ${range.from} and d.created_at < ${range.to} and not c.is_test and d.template_id is not null`;
  if (filters.brand_id) where = sql`${where} and c.brand_id = ${filters.brand_id}`;
  if (filters.offer_id) where = sql`${where} and c.offer_id = ${filters.offer_id}`;
  if (filters.affiliate_id) where = sql`${where} and d.affiliate_id = ${filters.affiliate_id}`;
  const selectDims = exprs.reduce<Fragment>((acc, e) => sql`${acc} ${e.expr} as ${sql(e.name)},`, sql``);
  const cols = exprs.map((_, i) => i + 1).join(", ");
  const rows = await sql`
    select ${selectDims}
      count(*) as deliveries,
      count(*) filter (where d.status = 'delivered') as delivered,
      count(*) filter (where d.status = 'pending') as pending,
      count(*) filter (where d.status = 'failed') as failed,
      count(*) filter (where d.status = 'dead') as dead,
      coalesce(sum(d.attempts), 0) as attempts
    from deliveries d join conversions c on c.id = d.conversion_id
    where ${where}
    ${cols ? sql`group by ${sql.unsafe(cols)} order by ${sql.unsafe(cols)}` : sql``}`;
  const out = rows.map((r) => {
    const row: Row = {};
    for (const e of exprs) row[e.name] = r[e.name];
    const delivered = num(r.delivered);
    const settled = delivered + num(r.failed) + num(r.dead);
    return {
      ...row,
      deliveries: num(r.deliveries),
      delivered,
      pending: num(r.pending),
      failed: num(r.failed),
      dead: num(r.dead),
      attempts: num(r.attempts),
      success_rate: ratio(delivered, settled),
    };
  });
  await attachNames(sql, out, dims);
  return {
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    tz: range.tz,
    group_by: dims,
    rows: out,
  };
}

/**
 * S2S vs pixel per offer: every conversion identity (click ID + event) reported in the period,
 * and which sources reported it (a hybrid setup sends both; the gateway books it once and logs
 * each request against the same receipt). The offer comes from the click ID itself. An offer is
 * comparable when both sources reported something; it is flagged when the gap
 * |s2s − pixel| / max(s2s, pixel) exceeds the threshold (the guides use 5–10 %).
 * This is a diagnostic over the raw request log of the period (and advertiser, when an offer is
 * given), read with a cursor.
 */
export async function pixelGapReport(
  sql: Sql,
  codec: ClickIdCodec | null,
  range: Range,
  options: { offer_id?: string; brand_id?: string; threshold: number },
) {
  if (!codec) throw new HttpError(503, "unavailable", "CLICK_ID_KEYS is not configured on admin");
  let advertiserFilter = sql`true`;
  if (options.offer_id) {
    const [offer] = await sql`select advertiser_id from offers where id = ${options.offer_id}`;
    if (!offer) throw new HttpError(400, "invalid_request", "offer_id: no such offer", "offer_id");
    advertiserFilter = sql`r.advertiser_id = ${offer.advertiser_id as string}`;
  }
  const links = new Map<number, { offer_id: string; brand_id: string; is_test: boolean }>(
    (
      await sql<{ id: string; offer_id: string; brand_id: string; is_test: boolean }[]>`
        select l.id, l.offer_id, o.brand_id, a.is_test from links l
        join offers o on o.id = l.offer_id join affiliates a on a.id = l.affiliate_id`
    ).map((l) => [Number(l.id), l]),
  );
  const perOffer = new Map<
    string,
    { offer_id: string; brand_id: string; conversions: number; s2s: number; pixel: number; both: number }
  >();
  const cursor = sql`
    select r.click_id, r.event, bool_or(l.source = 's2s') as s2s, bool_or(l.source = 'pixel') as pixel
    from postback_log l join postback_receipts r on r.id = l.receipt_id
    where l.received_at >= ${range.from} and l.received_at < ${range.to}
      and l.receipt_id is not null and l.outcome in ('accepted', 'duplicate') and r.click_id is not null and ${advertiserFilter}
    group by r.advertiser_id, r.click_id, r.event`.cursor(2_000);
  for await (const batch of cursor) {
    for (const r of batch) {
      const verified = codec.verify(r.click_id as string);
      if (!verified.ok) continue;
      const link = links.get(verified.claims.linkId);
      if (!link || link.is_test) continue;
      if (options.offer_id && link.offer_id !== options.offer_id) continue;
      if (options.brand_id && link.brand_id !== options.brand_id) continue;
      const o = perOffer.get(link.offer_id) ?? {
        offer_id: link.offer_id,
        brand_id: link.brand_id,
        conversions: 0,
        s2s: 0,
        pixel: 0,
        both: 0,
      };
      o.conversions++;
      if (r.s2s) o.s2s++;
      if (r.pixel) o.pixel++;
      if (r.s2s && r.pixel) o.both++;
      perOffer.set(link.offer_id, o);
    }
  }
  const rows = [...perOffer.values()]
    .sort((a, b) => Number(a.offer_id) - Number(b.offer_id))
    .map((o) => {
      const comparable = o.s2s > 0 && o.pixel > 0;
      const gap = ratio(Math.abs(o.s2s - o.pixel), Math.max(o.s2s, o.pixel));
      return {
        ...o,
        s2s_only: o.s2s - o.both,
        pixel_only: o.pixel - o.both,
        gap_share: gap,
        comparable,
        flagged: comparable && gap !== null && gap > options.threshold,
      };
    });
  await attachNames(sql, rows as Row[], ["offer"]);
  return { from: range.from.toISOString(), to: range.to.toISOString(), threshold: options.threshold, rows };
}
