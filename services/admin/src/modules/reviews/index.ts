import type { ClickIdCodec } from "@roundtrip/clickid";
import type { Sql } from "@roundtrip/db";
import { RequestLog } from "@roundtrip/intake";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { assertCanRead } from "../../visibility.ts";
import { ReviewDecision, ReviewQuery } from "./model.ts";
import { decide } from "./service.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged } from "../../openapi/rows.ts";

/**
 * The review queue (docs/fraud.md): conversions a traffic-quality rule held or flagged, with the
 * rules that fired and what they measured; decided in bulk, each decision audited.
 */
export function reviews(sql: Sql, codec: ClickIdCodec | null) {
  const log = new RequestLog(sql);
  return new Elysia({ prefix: "/v1/reviews", tags: ["reviews"] })
    .use(authentication(sql))
    .get(
      "/",
      async ({ query, principal }) => {
        assertCanRead("conversion_reviews", principal);
        const limit = query.limit ?? 100;
        const state = query.state ?? "open";
        let where = state === "open" ? sql`r.state in ('held', 'flagged')` : sql`r.state = ${state}`;
        if (query.reason) where = sql`${where} and ${query.reason} = any(r.reasons)`;
        if (query.offer_id) where = sql`${where} and c.offer_id = ${query.offer_id}`;
        if (query.affiliate_id) where = sql`${where} and c.affiliate_id = ${query.affiliate_id}`;
        if (query.cursor) where = sql`${where} and r.conversion_id > ${query.cursor}`;
        const rows = await sql`
          select r.conversion_id::text as conversion_id, r.state, r.reasons, r.created_at, r.decided_by, r.decided_at,
                 r.reject_reason, r.withheld_status, c.status, c.event, c.offer_id, c.affiliate_id, c.brand_id, c.click_id,
                 c.txid, c.occurred_at, c.amount, c.currency,
                 coalesce((select jsonb_agg(jsonb_build_object('reason', h.reason, 'action', h.action, 'measured', h.measured)
                                            order by h.reason)
                           from conversion_rule_hits h where h.conversion_id = r.conversion_id), '[]') as rules
          from conversion_reviews r join conversions c on c.id = r.conversion_id
          where ${where}
          order by r.conversion_id limit ${limit + 1}`;
        const more = rows.length > limit;
        const data = more ? rows.slice(0, limit) : [...rows];
        return { data, next_cursor: more ? (data[data.length - 1]?.conversion_id ?? null) : null };
      },
      {
        query: ReviewQuery,
        ...documented({
          summary: "List conversions under review (default: held and flagged) with the rules that fired",
          description:
            "Conversions a traffic-quality rule held or flagged (or, with state, those decided), with the rules that fired and what they measured; page by conversion id.",
          response: Paged(t.Record(t.String(), t.Unknown())),
        }),
      },
    )
    .post(
      "/decisions",
      async ({ body, principal }) => {
        assertCanWrite(principal);
        if (!codec) throw new HttpError(503, "unavailable", "CLICK_ID_KEYS is not configured on admin");
        return { results: await decide({ sql, codec, log }, body, actor(principal)) };
      },
      {
        body: ReviewDecision,
        ...documented({
          summary:
            "Approve or reject reviewed conversions in bulk (audited); a rejection reaches the affiliate's postback with {status} and {reject_reason}",
          description:
            "Decides reviewed conversions in bulk, one result per conversion; each decision is audited, and a rejection reaches the affiliate's postback with {status} and {reject_reason}.",
          response: t.Object({ results: t.Array(t.Record(t.String(), t.Unknown())) }),
        }),
      },
    );
}
