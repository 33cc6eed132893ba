import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, assertStaff, authentication } from "../../auth.ts";
import { announce, audit } from "../../changes.ts";
import { Currency, Decimal, getRow, Id, IdParams, listRows, Page } from "../common.ts";

export const PayoutRuleCreate = t.Object({
  offer_id: Id,
  event: t.String({ pattern: "^[a-z0-9_]{1,40}$" }),
  affiliate_id: t.Optional(Id),
  model: t.Union([t.Literal("cpa"), t.Literal("revshare")], {
    description: "cpa: fixed payout; revshare: payout is a percentage of the amount",
  }),
  payout: Decimal,
  revenue: t.Optional(Decimal),
  currency: Currency,
});

export function payoutRules(sql: Sql, bus: Bus) {
  return new Elysia({ prefix: "/v1/payout-rules", tags: ["payout-rules"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) => {
        assertStaff(principal);
        return listRows(
          sql,
          "payout_rules",
          { offer_id: query.offer_id, affiliate_id: query.affiliate_id },
          query,
        );
      },
      { query: t.Object({ offer_id: t.Optional(Id), affiliate_id: t.Optional(Id), ...Page }) },
    )
    .get(
      "/:id",
      ({ params, principal }) => {
        assertStaff(principal);
        return getRow(sql, "payout_rules", params.id);
      },
      { params: IdParams },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const row = await sql.begin(async (tx) => {
          const [event] =
            await tx`select 1 from offer_events where offer_id = ${body.offer_id} and code = ${body.event}`;
          if (!event)
            throw new HttpError(400, "invalid_request", `the offer has no event ${body.event}`, "event");
          const [created] = await tx`
            insert into payout_rules (offer_id, event, affiliate_id, model, payout, revenue, currency)
            values (${body.offer_id}, ${body.event}, ${body.affiliate_id ?? null}, ${body.model}, ${body.payout},
                    ${body.revenue ?? "0"}, ${body.currency})
            returning *`;
          if (!created) throw new Error("insert returned nothing");
          await audit(tx, {
            actor: actor(principal),
            action: "create",
            resource: "payout-rules",
            id: created.id,
            after: created,
          });
          return created;
        });
        await announce(bus, "payout-rules", row.id);
        set.status = 201;
        return row;
      },
      { body: PayoutRuleCreate },
    );
}
