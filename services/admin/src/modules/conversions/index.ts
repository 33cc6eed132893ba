import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { authentication, type Principal } from "../../auth.ts";
import { csvStream } from "../../csv.ts";
import {
  EventCode,
  getRow,
  Id,
  IdParams,
  listRows,
  Page,
  parseTime,
  Search,
  searchWhere,
  SortBy,
  Timestamp,
} from "../common.ts";
import { view, visibleColumns } from "../../visibility.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";
import { Csv } from "../../openapi/schemas.ts";

const ConversionStatus = t.Union([
  t.Literal("pending"),
  t.Literal("approved"),
  t.Literal("rejected"),
  t.Literal("reversed"),
]);

const Filters = {
  affiliate_id: t.Optional(Id),
  offer_id: t.Optional(Id),
  brand_id: t.Optional(Id),
  advertiser_id: t.Optional(Id),
  link_id: t.Optional(Id),
  click_id: t.Optional(t.String({ maxLength: 64 })),
  txid: t.Optional(t.String({ maxLength: 200 })),
  event: t.Optional(EventCode),
  status: t.Optional(ConversionStatus),
  is_test: t.Optional(t.BooleanString()),
  from: t.Optional(Timestamp),
  to: t.Optional(Timestamp),
  ...Search("the txid, click ID or event"),
};
type FilterQuery = { [K in keyof typeof Filters]?: (typeof Filters)[K]["static"] };

/** Every column the CSV export can carry; each caller gets those its role may read. */
const EXPORT_COLUMNS = [
  "id",
  "occurred_at",
  "created_at",
  "brand_id",
  "advertiser_id",
  "offer_id",
  "affiliate_id",
  "link_id",
  "click_id",
  "txid",
  "event",
  "status",
  "amount",
  "currency",
  "payout",
  "payout_currency",
  "revenue",
  "is_test",
];

export function conversions(sql: Sql) {
  const where = (query: FilterQuery, p: Principal) => {
    const from = parseTime(query.from, "from");
    const to = parseTime(query.to, "to");
    const filters = {
      affiliate_id: p.affiliateId ?? query.affiliate_id,
      offer_id: query.offer_id,
      brand_id: query.brand_id,
      advertiser_id: query.advertiser_id,
      link_id: query.link_id,
      click_id: query.click_id,
      txid: query.txid,
      event: query.event,
      status: query.status,
      is_test: query.is_test,
    };
    let extra = sql`true`;
    if (from) extra = sql`${extra} and occurred_at >= ${from}`;
    if (to) extra = sql`${extra} and occurred_at < ${to}`;
    const search = searchWhere(sql, query.q, visibleColumns("conversions", p, ["txid", "click_id", "event"]));
    if (search) extra = sql`${extra} and ${search}`;
    return { filters, extra };
  };

  return new Elysia({ prefix: "/v1/conversions", tags: ["conversions"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) => {
        const { filters, extra } = where(query, principal);
        return listRows(sql, "conversions", filters, query, view("conversions", principal), extra);
      },
      {
        query: t.Object({
          ...Filters,
          ...SortBy("occurred_at", "created_at", "event", "status", "currency"),
          ...Page,
        }),
        ...documented({
          summary: "List conversions (an affiliate key sees only its own); from/to bound the event time",
          description:
            "Conversions page by id (or by `sort`, then id); filter by affiliate, offer, click ID, txid, status and event time (from/to), search with `q`. The CSV export takes the same filters and search.",
          response: Paged(Row("conversions")),
        }),
      },
    )
    .get(
      "/export",
      ({ query, principal }) => {
        const { filters, extra } = where(query, principal);
        const columns = visibleColumns("conversion_export", principal, EXPORT_COLUMNS);
        // Keyset pages of raw conversions with their net ledger figures, streamed as they are read.
        const pages = async function* () {
          let cursor = "0";
          for (;;) {
            let w = sql`c.id > ${cursor} and ${extra}`;
            for (const [k, v] of Object.entries(filters))
              if (v !== undefined && v !== null) w = sql`${w} and ${sql(`c.${k}`)} = ${v}`;
            const rows = await sql`
              select c.id, c.occurred_at, c.created_at, c.brand_id, c.advertiser_id, c.offer_id, c.affiliate_id, c.link_id,
                     c.click_id, c.txid, c.event, c.status, c.amount, c.currency, l.payout, l.currency as payout_currency,
                     l.revenue, c.is_test
              from conversions c
              left join lateral (
                select sum(payout) as payout, sum(revenue) as revenue, min(currency) as currency
                from ledger_entries where conversion_id = c.id
              ) l on true
              where ${w} order by c.id limit 2000`;
            if (rows.length === 0) return;
            yield rows.map((r) => columns.map((c) => r[c]));
            cursor = rows[rows.length - 1]?.id as string;
          }
        };
        return csvStream(columns, pages(), `conversions-${new Date().toISOString().slice(0, 10)}.csv`);
      },
      {
        query: t.Object(Filters),
        ...documented({
          summary: "Export conversions as CSV (every matching row, streamed)",
          description: "Every matching conversion as CSV, streamed (same filters as the list).",
          response: Csv,
          mediaType: "text/csv",
        }),
      },
    )
    .get(
      "/:id",
      async ({ params, principal }) => {
        const conversion = await getRow(sql, "conversions", params.id, view("conversions", principal), {
          affiliate_id: principal.affiliateId,
        });
        const history = await sql`
          select seq, status, receipt_id, reason, at from conversion_history where conversion_id = ${params.id} order by seq`;
        const ledger = await sql`select * from ledger_entries where conversion_id = ${params.id} order by id`;
        return {
          ...conversion,
          history: history.map(view("conversion_history", principal)),
          ledger: ledger.map(view("ledger_entries", principal)),
        };
      },
      {
        params: IdParams,
        ...documented({
          summary: "Get a conversion with its status history and ledger entries",
          description: "One conversion with its status history and the ledger entries booked for it.",
          response: Row("conversions", {
            extra: { history: t.Array(Row("conversion_history")), ledger: t.Array(Row("ledger_entries")) },
          }),
        }),
      },
    );
}
