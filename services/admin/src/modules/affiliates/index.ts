import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { announce, audit } from "../../changes.ts";
import { Currency, getRow, IdParams, listRows, Page } from "../common.ts";

export const AffiliateCreate = t.Object({
  name: t.String({ minLength: 1, maxLength: 200 }),
  payout_currency: t.Optional(Currency),
});

export function affiliates(sql: Sql, bus: Bus) {
  return new Elysia({ prefix: "/v1/affiliates", tags: ["affiliates"] })
    .use(authentication(sql))
    .get("/", ({ query, principal }) => listRows(sql, "affiliates", { id: principal.affiliateId }, query), {
      query: t.Object(Page),
    })
    .get(
      "/:id",
      ({ params, principal }) => getRow(sql, "affiliates", params.id, { id: principal.affiliateId }),
      {
        params: IdParams,
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const row = await sql.begin(async (tx) => {
          const [created] = await tx`
            insert into affiliates (name, payout_currency) values (${body.name}, ${body.payout_currency ?? "EUR"})
            returning *`;
          if (!created) throw new HttpError(500, "internal", "insert returned nothing");
          await audit(tx, {
            actor: actor(principal),
            action: "create",
            resource: "affiliates",
            id: created.id,
            after: created,
          });
          return created;
        });
        await announce(bus, "affiliates", row.id);
        set.status = 201;
        return row;
      },
      { body: AffiliateCreate },
    );
}
