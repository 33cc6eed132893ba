import type { Sql } from "@roundtrip/db";
import { ENTRY_TYPES } from "@roundtrip/ledger";
import { Elysia, t } from "elysia";
import { authentication } from "../../auth.ts";
import {
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

/**
 * The payouts behind every conversion: immutable ledger entries (packages/ledger names the
 * types: commission, reversal, adjustment, sub-affiliate shares, payouts, carryover). An affiliate key sees only its own entries, and never the revenue column.
 */
export function ledger(sql: Sql) {
  return new Elysia({ prefix: "/v1/ledger-entries", tags: ["payouts"] })
    .use(authentication(sql))
    .get(
      "/",
      async ({ query, principal }) => {
        const from = parseTime(query.from, "from");
        const to = parseTime(query.to, "to");
        let extra = sql`true`;
        if (from) extra = sql`${extra} and created_at >= ${from}`;
        if (to) extra = sql`${extra} and created_at < ${to}`;
        const search = searchWhere(
          sql,
          query.q,
          visibleColumns("ledger_entries", principal, ["reason", "type", "conversion_id"]),
        );
        if (search) extra = sql`${extra} and ${search}`;
        const filters = {
          affiliate_id: principal.affiliateId ?? query.affiliate_id,
          offer_id: query.offer_id,
          conversion_id: query.conversion_id,
          type: query.type,
          tier: query.tier,
          currency: query.currency,
        };
        return listRows(sql, "ledger_entries", filters, query, view("ledger_entries", principal), extra);
      },
      {
        query: t.Object({
          affiliate_id: t.Optional(Id),
          offer_id: t.Optional(Id),
          conversion_id: t.Optional(Id),
          type: t.Optional(t.Union(ENTRY_TYPES.map((type) => t.Literal(type)))),
          tier: t.Optional(
            t.Numeric({ minimum: 1, maximum: 3, description: "2 and 3: sub-affiliate shares" }),
          ),
          currency: t.Optional(t.String({ pattern: "^[A-Z]{3}$" })),
          from: t.Optional(Timestamp),
          to: t.Optional(Timestamp),
          ...Search("the reason, the type or the conversion id"),
          ...SortBy("created_at", "type", "currency", "affiliate_payout"),
          ...Page,
        }),
        ...documented({
          summary: "List ledger entries (payouts); an affiliate key sees only its own",
          description:
            "Ledger entries (immutable: a change is a new entry) page by id (or by `sort`, then id); filter by affiliate, conversion, type or currency, search with `q`.",
          response: Paged(Row("ledger_entries")),
        }),
      },
    )
    .get(
      "/:id",
      ({ params, principal }) =>
        getRow(sql, "ledger_entries", params.id, view("ledger_entries", principal), {
          affiliate_id: principal.affiliateId,
        }),
      {
        params: IdParams,
        ...documented({
          summary: "Get one ledger entry",
          description: "One ledger entry by id.",
          response: Row("ledger_entries"),
        }),
      },
    );
}
