import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { authentication } from "../../auth.ts";
import { documented } from "../../openapi/documented.ts";
import { assertCanRead } from "../../visibility.ts";
import { Id, parseTime, Timestamp } from "../common.ts";

const DAY_MS = 86_400_000;
const MAX_DAYS = 31;

const TrafficQualityReport = t.Object({
  from: t.String({ format: "date-time" }),
  to: t.String({ format: "date-time" }),
  clicks: t.Array(t.Object({ reason: t.String(), clicks: t.Integer() })),
  conversions: t.Array(
    t.Object({
      reason: t.String(),
      action: t.String(),
      conversions: t.Integer(),
      rejected: t.Integer(),
      held: t.Integer(),
    }),
  ),
});

/**
 * Traffic quality grouped by reason code (docs/fraud.md): flagged clicks by reason, and the
 * conversions each rule fired on, by action, with how many ended rejected or are still held.
 * Read from the raw rows, so a range is at most 31 days (clicks are partitioned by day).
 */
export function trafficReport(sql: Sql) {
  return new Elysia({ prefix: "/v1/reports/traffic-quality", tags: ["reports"] })
    .use(authentication(sql))
    .get(
      "/",
      async ({ query, principal }) => {
        assertCanRead("conversion_rule_hits", principal);
        const to = parseTime(query.to, "to") ?? new Date();
        const from = parseTime(query.from, "from") ?? new Date(to.getTime() - 7 * DAY_MS);
        if (to <= from || to.getTime() - from.getTime() > MAX_DAYS * DAY_MS)
          throw new HttpError(400, "invalid_request", `from/to: a range of at most ${MAX_DAYS} days`, "from");
        let clickWhere = sql`clicked_at >= ${from} and clicked_at < ${to}`;
        let convWhere = sql`c.occurred_at >= ${from} and c.occurred_at < ${to}`;
        if (query.offer_id) {
          clickWhere = sql`${clickWhere} and offer_id = ${query.offer_id}`;
          convWhere = sql`${convWhere} and c.offer_id = ${query.offer_id}`;
        }
        if (query.affiliate_id) {
          clickWhere = sql`${clickWhere} and affiliate_id = ${query.affiliate_id}`;
          convWhere = sql`${convWhere} and c.affiliate_id = ${query.affiliate_id}`;
        }
        const clicks = await sql<{ reason: string; clicks: number }[]>`
        select r as reason, count(*)::int as clicks
        from clicks, unnest(reasons) as r
        where ${clickWhere} and cardinality(reasons) > 0
        group by r order by r`;
        const conversions = await sql<
          { reason: string; action: string; conversions: number; rejected: number; held: number }[]
        >`
        select h.reason, h.action, count(*)::int as conversions,
               count(*) filter (where c.status = 'rejected')::int as rejected,
               count(*) filter (where v.state = 'held')::int as held
        from conversion_rule_hits h
        join conversions c on c.id = h.conversion_id
        left join conversion_reviews v on v.conversion_id = h.conversion_id
        where ${convWhere}
        group by h.reason, h.action order by h.reason, h.action`;
        return {
          from: from.toISOString(),
          to: to.toISOString(),
          clicks: [...clicks],
          conversions: [...conversions],
        };
      },
      {
        query: t.Object({
          from: t.Optional(Timestamp),
          to: t.Optional(Timestamp),
          offer_id: t.Optional(Id),
          affiliate_id: t.Optional(Id),
        }),
        ...documented({
          summary: "Traffic quality by reason code: flagged clicks and the conversions each rule fired on",
          description:
            "Clicks carrying each reason code, and conversions each rule fired on by action (with how many ended rejected or are held), over at most 31 days (default the last 7), optionally for one offer or affiliate. Staff only.",
          response: TrafficQualityReport,
        }),
      },
    );
}
