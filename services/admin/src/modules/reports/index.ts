import type { ClickIdCodec } from "@roundtrip/clickid";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { authentication } from "../../auth.ts";
import { csvResponse } from "../../csv.ts";
import {
  DELIVERY_DIMENSIONS,
  deliveryReport,
  PERFORMANCE_DIMENSIONS,
  POSTBACK_DIMENSIONS,
  performanceReport,
  pixelGapReport,
  postbackReport,
  resolveRange,
} from "../../reports/queries.ts";
import { reconcile, reconcileRows } from "../../reports/reconcile.ts";
import { EventCode, Id, parseTime, Timestamp } from "../common.ts";
import { assertCanRead, canRead, type Resource, view } from "../../visibility.ts";
import { documented } from "../../openapi/documented.ts";
import { Report, ReportsIndex } from "../../openapi/schemas.ts";

const Format = t.Optional(
  t.Union([t.Literal("json"), t.Literal("csv")], { description: "csv downloads the rows" }),
);
const TimeZone = t.Optional(
  t.String({ minLength: 1, maxLength: 64, description: "IANA zone; default the brand's (brand_id) or UTC" }),
);
const groupBy = (allowed: readonly string[]) =>
  t.Optional(
    t.String({
      pattern: `^(${allowed.join("|")})(,(${allowed.join("|")}))*$`,
      description: `comma-separated: ${allowed.join(", ")}`,
    }),
  );
const Range = { from: t.Optional(Timestamp), to: t.Optional(Timestamp), tz: TimeZone, format: Format };
const Sub = t.Optional(t.String({ maxLength: 255 }));

function split<T extends string>(value: string | undefined, fallback: T[]): T[] {
  return value ? (value.split(",") as T[]) : fallback;
}

/** Flattens report rows into CSV columns (the union of their keys, in first-seen order). */
function reportCsv(rows: Record<string, unknown>[], name: string): Response {
  const columns: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  return csvResponse(
    columns,
    rows.map((r) => columns.map((c) => r[c])),
    `${name}-${new Date().toISOString().slice(0, 10)}.csv`,
  );
}

/**
 * Reports from the rollups (see reports/rollup.ts for why they stay fast), reconciliation and the
 * S2S-vs-pixel comparison. Affiliate keys get the performance and delivery reports of their own
 * traffic only (without revenue or profit); the rest is for staff.
 */
export function reports(sql: Sql, codec: ClickIdCodec | null, defaults: { pixelGapShare: number }) {
  return new Elysia({ prefix: "/v1/reports", tags: ["reports"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ principal }) => {
        const all: { resource: Resource; name: string; path: string; [k: string]: unknown }[] = [
          {
            resource: "performance_report",
            name: "performance",
            path: "/v1/reports/performance",
            group_by: PERFORMANCE_DIMENSIONS,
          },
          {
            resource: "postback_report",
            name: "postbacks",
            path: "/v1/reports/postbacks",
            group_by: POSTBACK_DIMENSIONS,
          },
          {
            resource: "delivery_report",
            name: "deliveries",
            path: "/v1/reports/deliveries",
            group_by: DELIVERY_DIMENSIONS,
          },
          { resource: "pixel_gap_report", name: "s2s-vs-pixel", path: "/v1/reports/s2s-vs-pixel" },
          {
            resource: "reconciliation",
            name: "reconciliation",
            path: "/v1/reports/reconciliation",
            method: "POST",
          },
          { resource: "conversion_export", name: "conversions (raw CSV)", path: "/v1/conversions/export" },
        ];
        return {
          reports: all.filter((r) => canRead(r.resource, principal)).map(({ resource: _, ...r }) => r),
        };
      },
      {
        ...documented({
          summary: "The reports the calling key may read",
          description: "The reports the calling key may read, with their paths.",
          response: ReportsIndex,
        }),
      },
    )
    .get(
      "/performance",
      async ({ query, principal }) => {
        const { from, to, tz, format, group_by, ...filters } = query;
        const show = view("performance_report", principal);
        if (principal.affiliateId) filters.affiliate_id = principal.affiliateId;
        const report = await performanceReport(sql, { from, to, tz }, split(group_by, ["day"]), filters);
        const rows = report.rows.map(show);
        return format === "csv"
          ? reportCsv(rows, "performance")
          : { ...report, rows, totals: report.totals.map(show) };
      },
      {
        query: t.Object({
          ...Range,
          group_by: groupBy(PERFORMANCE_DIMENSIONS),
          brand_id: t.Optional(Id),
          advertiser_id: t.Optional(Id),
          offer_id: t.Optional(Id),
          affiliate_id: t.Optional(Id),
          event: t.Optional(EventCode),
          currency: t.Optional(t.String({ pattern: "^[A-Z]{3}$" })),
          sub1: Sub,
          sub2: Sub,
          sub3: Sub,
          sub4: Sub,
          sub5: Sub,
          country: t.Optional(
            t.String({ pattern: "^[A-Z]{2}$", description: "the visitor's country (ISO 3166-1 alpha-2)" }),
          ),
        }),
        ...documented({
          summary:
            "Clicks (gross, unique), conversions by status, CR, approval rate, amount, payout, revenue, profit — by hour/day/week/month, brand, advertiser, offer, affiliate, event, sub1–sub5 or country",
          description:
            "The performance report: clicks (gross, unique), conversions by status, conversion and approval rates, amount, payout, revenue and profit, grouped by time and any of brand, advertiser, offer, affiliate, event and sub IDs — or by the visitor's country (offline GeoIP; '' unknown) with day/week/month, brand, advertiser, offer and affiliate. An affiliate key sees its own rows without revenue or profit. `format=csv` answers text/csv.",
          response: Report,
        }),
      },
    )
    .get(
      "/postbacks",
      async ({ query, principal }) => {
        const show = view("postback_report", principal);
        const range = await resolveRange(sql, query);
        const report = await postbackReport(sql, range, split(query.group_by, ["day"]), {
          brand_id: query.brand_id,
          advertiser_id: query.advertiser_id,
          source: query.source,
        });
        const rows = report.rows.map(show);
        return query.format === "csv" ? reportCsv(rows, "postbacks") : { ...report, rows };
      },
      {
        query: t.Object({
          ...Range,
          group_by: groupBy(POSTBACK_DIMENSIONS),
          brand_id: t.Optional(Id),
          advertiser_id: t.Optional(Id),
          source: t.Optional(t.String({ maxLength: 20 })),
        }),
        ...documented({
          summary:
            "Advertiser postbacks: accepted, duplicates, rejections by reason, duplicate and success rates",
          description:
            "Advertiser postbacks per advertiser: accepted, duplicates, rejections by reason, duplicate and success rates. `format=csv` answers text/csv.",
          response: Report,
        }),
      },
    )
    .get(
      "/deliveries",
      async ({ query, principal }) => {
        const show = view("delivery_report", principal);
        const range = await resolveRange(sql, query);
        const report = await deliveryReport(sql, range, split(query.group_by, ["day"]), {
          brand_id: query.brand_id,
          offer_id: query.offer_id,
          affiliate_id: principal.affiliateId ?? query.affiliate_id,
        });
        const rows = report.rows.map(show);
        return query.format === "csv" ? reportCsv(rows, "deliveries") : { ...report, rows };
      },
      {
        query: t.Object({
          ...Range,
          group_by: groupBy(DELIVERY_DIMENSIONS),
          brand_id: t.Optional(Id),
          offer_id: t.Optional(Id),
          affiliate_id: t.Optional(Id),
        }),
        ...documented({
          summary: "Outbound affiliate postbacks: delivered, pending, failed, dead, attempts, success rate",
          description:
            "Outbound postbacks per affiliate and template: delivered, pending, failed, dead, attempts, success rate. `format=csv` answers text/csv.",
          response: Report,
        }),
      },
    )
    .get(
      "/s2s-vs-pixel",
      async ({ query, principal }) => {
        const show = view("pixel_gap_report", principal);
        const range = await resolveRange(sql, query);
        const report = await pixelGapReport(sql, codec, range, {
          offer_id: query.offer_id,
          brand_id: query.brand_id,
          threshold: query.threshold ?? defaults.pixelGapShare,
        });
        const rows = report.rows.map(show);
        return query.format === "csv" ? reportCsv(rows, "s2s-vs-pixel") : { ...report, rows };
      },
      {
        query: t.Object({
          ...Range,
          offer_id: t.Optional(Id),
          brand_id: t.Optional(Id),
          threshold: t.Optional(
            t.Number({
              minimum: 0,
              maximum: 1,
              description: "gap share that flags an offer (default 0.05)",
            }),
          ),
        }),
        ...documented({
          summary: "S2S vs pixel conversions per offer, flagging a gap above the threshold",
          description:
            "Conversions per offer by channel (server-to-server vs pixel), flagging offers whose gap exceeds the threshold. `format=csv` answers text/csv.",
          response: Report,
        }),
      },
    )
    .post(
      "/reconciliation",
      async ({ body, principal }) => {
        assertCanRead("reconciliation", principal);
        const [advertiser] = await sql`select id from advertisers where id = ${body.advertiser_id}`;
        if (!advertiser)
          throw new HttpError(400, "invalid_request", "advertiser_id: no such advertiser", "advertiser_id");
        const result = await reconcile(sql, {
          advertiserId: body.advertiser_id,
          csv: await body.file.text(),
          columns: {
            txid: body.txid_column ?? "txid",
            event: body.event_column,
            amount: body.amount_column,
            status: body.status_column,
            currency: body.currency_column,
          },
          defaultEvent: body.event,
          from: parseTime(body.from, "from"),
          to: parseTime(body.to, "to"),
        });
        if (body.format === "csv") {
          const { columns, rows } = reconcileRows(result);
          return csvResponse(columns, rows, `reconciliation-${body.advertiser_id}.csv`);
        }
        return result;
      },
      {
        body: t.Object({
          file: t.File({
            description: "the advertiser's or finance's CSV, with a header row",
            maxSize: "20m",
          }),
          advertiser_id: Id,
          txid_column: t.Optional(t.String({ minLength: 1, maxLength: 64, description: "default txid" })),
          event_column: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
          amount_column: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
          status_column: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
          currency_column: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
          event: t.Optional(EventCode),
          from: t.Optional(Timestamp),
          to: t.Optional(Timestamp),
          format: Format,
        }),
        ...documented({
          summary:
            "Reconcile an uploaded CSV against our conversions: matched, missing on either side, amount/status mismatches",
          description:
            "Compares an advertiser's or finance's CSV (multipart field `file`) with our conversions: matched, missing on either side, amount and status mismatches. `format=csv` answers text/csv.",
          response: Report,
        }),
      },
    );
}
