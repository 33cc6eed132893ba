import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { authentication } from "../../auth.ts";
import { getRow, Id, IdParams, listRows, Page } from "../common.ts";

export function conversions(sql: Sql) {
  return new Elysia({ prefix: "/v1/conversions", tags: ["conversions"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) =>
        listRows(
          sql,
          "conversions",
          {
            affiliate_id: principal.affiliateId ?? query.affiliate_id,
            offer_id: query.offer_id,
            click_id: query.click_id,
            txid: query.txid,
            event: query.event,
            status: query.status,
          },
          query,
        ),
      {
        query: t.Object({
          affiliate_id: t.Optional(Id),
          offer_id: t.Optional(Id),
          click_id: t.Optional(t.String({ maxLength: 64 })),
          txid: t.Optional(t.String({ maxLength: 200 })),
          event: t.Optional(t.String({ maxLength: 40 })),
          status: t.Optional(t.String({ maxLength: 20 })),
          ...Page,
        }),
      },
    )
    .get(
      "/:id",
      async ({ params, principal }) => {
        const conversion = await getRow(sql, "conversions", params.id, {
          affiliate_id: principal.affiliateId,
        });
        const history =
          await sql`select seq, status, reason, at from conversion_history where conversion_id = ${params.id} order by seq`;
        const ledger = await sql`select * from ledger_entries where conversion_id = ${params.id} order by id`;
        return { ...conversion, history, ledger };
      },
      { params: IdParams },
    );
}
