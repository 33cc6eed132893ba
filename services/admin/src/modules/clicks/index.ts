import type { ClickIdCodec } from "@roundtrip/clickid";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { authentication } from "../../auth.ts";
import { MAX_ID } from "../../ids.ts";
import { view, visibleColumns } from "../../visibility.ts";
import { Id, Page, parseTime, Search, searchWhere, Timestamp } from "../common.ts";
import { ReasonCode } from "../traffic-rules/model.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";

const DAY_MS = 86_400_000;
const MAX_RANGE_DAYS = 31;
const SubValue = t.String({ maxLength: 255 });

export const ClickQuery = t.Object({
  from: t.Optional(Timestamp),
  to: t.Optional(Timestamp),
  link_id: t.Optional(Id),
  via_link_id: t.Optional(Id),
  offer_id: t.Optional(Id),
  affiliate_id: t.Optional(Id),
  brand_id: t.Optional(Id),
  sub1: t.Optional(SubValue),
  sub2: t.Optional(SubValue),
  sub3: t.Optional(SubValue),
  sub4: t.Optional(SubValue),
  sub5: t.Optional(SubValue),
  reason: t.Optional(ReasonCode),
  ...Search("the click ID, the referrer or a sub ID (within the period)"),
  cursor: t.Optional(
    t.String({ pattern: "^[A-Za-z0-9_-]{1,200}$", description: "next_cursor of the previous page" }),
  ),
  limit: Page.limit,
});

const COLUMNS = [
  "click_id",
  "clicked_at",
  "link_id",
  "offer_id",
  "affiliate_id",
  "brand_id",
  "ip",
  "user_agent",
  "referrer",
  "subs",
  "is_unique",
  "device_type",
  "os",
  "browser",
  "reasons",
  "country",
  "via_link_id",
  "route_rule_id",
  "route_destination_id",
];

/**
 * Raw clicks, newest first. Clicks are partitioned by day and have no serial ID, so pages are
 * keyed by (clicked_at, click_id) and every query is bounded in time (≤ 31 days, default the
 * last 24 hours): partition pruning keeps it to the days asked for.
 */
export function clicks(sql: Sql, codec: ClickIdCodec | null) {
  return new Elysia({ prefix: "/v1/clicks", tags: ["clicks"] })
    .use(authentication(sql))
    .get(
      "/",
      async ({ query, principal }) => {
        const to = parseTime(query.to, "to") ?? new Date();
        const from = parseTime(query.from, "from") ?? new Date(to.getTime() - DAY_MS);
        if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS || to <= from) {
          throw new HttpError(
            400,
            "invalid_request",
            `from: the range must be positive and at most ${MAX_RANGE_DAYS} days`,
            "from",
          );
        }
        const limit = query.limit ?? 100;
        let where = sql`clicked_at >= ${from} and clicked_at < ${to}`;
        const filters: Record<string, string | null | undefined> = {
          link_id: query.link_id,
          via_link_id: query.via_link_id,
          offer_id: query.offer_id,
          brand_id: query.brand_id,
          affiliate_id: principal.affiliateId ?? query.affiliate_id,
        };
        for (const [column, value] of Object.entries(filters))
          if (value) where = sql`${where} and ${sql(column)} = ${value}`;
        for (const k of ["sub1", "sub2", "sub3", "sub4", "sub5"] as const) {
          const v = query[k];
          if (v !== undefined) where = sql`${where} and subs ->> ${k} = ${v}`;
        }
        // Filtering by a column the caller may not read would reveal it through the rows that match.
        if (query.reason && visibleColumns("clicks", principal, ["reasons"]).length === 0)
          throw new HttpError(
            403,
            "forbidden",
            "reason: your role cannot read clicks' reason codes",
            "reason",
          );
        const search = searchWhere(
          sql,
          query.q,
          visibleColumns("clicks", principal, ["click_id", "referrer", "subs"]),
        );
        if (search) where = sql`${where} and ${search}`;
        if (query.reason)
          where = sql`${where} and cardinality(reasons) > 0 and reasons @> ${[query.reason]}::text[]`;
        if (query.cursor) {
          const [micros, id] = decodeCursor(query.cursor);
          where = sql`${where} and (clicked_at, click_id) < (timestamptz 'epoch' + ${micros}::bigint * interval '1 microsecond', ${id})`;
        }
        const rows = await sql`
          select ${sql(COLUMNS)}, (extract(epoch from clicked_at) * 1000000)::bigint::text as at_us from clicks where ${where}
          order by clicked_at desc, click_id desc limit ${limit + 1}`;
        const data = rows.slice(0, limit);
        const show = view("clicks", principal);
        const last = data[data.length - 1];
        return {
          data: data.map(({ at_us: _, ...r }) => show(r)),
          next_cursor:
            rows.length > limit && last ? encodeCursor(last.at_us as string, last.click_id as string) : null,
        };
      },
      {
        query: ClickQuery,
        ...documented({
          summary: "List raw clicks in a period (an affiliate key sees only its own)",
          description:
            "Raw clicks, newest first, in a period; filter by link, offer, affiliate, sub IDs or a traffic-quality reason code the click carries (`reason=bot`); search the click ID, referrer and sub IDs with `q`. An affiliate key sees only its own clicks and never the visitor's IP or user agent.",
          response: Paged(Row("clicks")),
        }),
      },
    )
    .get(
      "/:click_id",
      async ({ params, principal }) => {
        // A valid click ID carries its click time (whole seconds): the lookup touches one partition.
        const verified = codec?.verify(params.click_id);
        const at = verified?.ok ? verified.claims.clickedAt : null;
        let where = sql`click_id = ${params.click_id}`;
        if (at)
          where = sql`${where} and clicked_at >= ${at} and clicked_at < ${new Date(at.getTime() + 1_000)}`;
        if (principal.affiliateId) where = sql`${where} and affiliate_id = ${principal.affiliateId}`;
        const [row] = await sql`select ${sql(COLUMNS)} from clicks where ${where} limit 1`;
        if (!row) throw new HttpError(404, "not_found", "no such click", "click_id");
        return view("clicks", principal)(row);
      },
      {
        params: t.Object({ click_id: t.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" }) }),
        ...documented({
          summary: "Get one click by its click ID",
          description: "One click by its click ID.",
          response: Row("clicks"),
        }),
      },
    );
}

/** (click time in epoch microseconds, click ID): exact, whatever precision the column holds. */
function encodeCursor(micros: string, id: string): string {
  return Buffer.from(`${micros}|${id}`).toString("base64url");
}

function decodeCursor(cursor: string): [string, string] {
  const [micros, id] = Buffer.from(cursor, "base64url").toString().split("|");
  // The time part becomes a bigint in the query: it must be one.
  if (!id || !micros || !/^\d{1,19}$/.test(micros) || BigInt(micros) > MAX_ID) {
    throw new HttpError(400, "invalid_request", "cursor: not a cursor from this API", "cursor");
  }
  return [micros, id];
}
