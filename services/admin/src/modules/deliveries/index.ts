import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { authentication } from "../../auth.ts";
import { getRow, Id, IdParams, listRows, Page } from "../common.ts";

export function deliveries(sql: Sql) {
  return new Elysia({ prefix: "/v1/deliveries", tags: ["deliveries"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) =>
        listRows(
          sql,
          "deliveries",
          {
            affiliate_id: principal.affiliateId ?? query.affiliate_id,
            conversion_id: query.conversion_id,
            status: query.status,
          },
          query,
        ),
      {
        query: t.Object({
          affiliate_id: t.Optional(Id),
          conversion_id: t.Optional(Id),
          status: t.Optional(t.String({ maxLength: 20 })),
          ...Page,
        }),
      },
    )
    .get(
      "/:id",
      async ({ params, principal }) => {
        const delivery = await getRow(sql, "deliveries", params.id, { affiliate_id: principal.affiliateId });
        const attempts =
          await sql`select * from delivery_attempts where delivery_id = ${params.id} order by attempt`;
        return { ...delivery, attempts };
      },
      { params: IdParams },
    );
}
