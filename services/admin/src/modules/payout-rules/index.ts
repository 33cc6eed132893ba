import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { announce, audit, createAudited } from "../../changes.ts";
import { getRow, IdParams, listRows, Page } from "../common.ts";
import { view } from "../../visibility.ts";
import { PayoutRuleCreate, PayoutRuleQuery } from "./model.ts";
import { createRule } from "./service.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";

export { PayoutRuleCreate } from "./model.ts";

/**
 * Payout rules: what an affiliate earns and the advertiser pays per offer event. The most
 * specific active rule wins (the affiliate's own, else the offer's). Rules are not edited in
 * place, so every booked commission keeps pointing at the terms it was priced with: archive a
 * rule and create its successor.
 */
export function payoutRules(sql: Sql, bus: Bus) {
  return new Elysia({ prefix: "/v1/payout-rules", tags: ["payout-rules"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) => {
        const filters = {
          offer_id: query.offer_id,
          affiliate_id: query.affiliate_id,
          event: query.event,
          status: query.status,
        };
        return listRows(sql, "payout_rules", filters, query, view("payout_rules", principal));
      },
      {
        query: t.Composite([PayoutRuleQuery, t.Object(Page)]),
        ...documented({
          summary: "List payout rules",
          description: "Payout rules page by id; filter by offer, affiliate, event or status.",
          response: Paged(Row("payout_rules")),
        }),
      },
    )
    .get(
      "/:id",
      ({ params, principal }) => {
        return getRow(sql, "payout_rules", params.id, view("payout_rules", principal));
      },
      {
        params: IdParams,
        ...documented({
          summary: "Get one payout rule",
          description: "One payout rule by id.",
          response: Row("payout_rules"),
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const row = await createAudited(sql, bus, principal, "payout-rules", async (tx) => {
          const created = await createRule(tx, body);
          return created;
        });
        set.status = 201;
        return row;
      },
      {
        body: PayoutRuleCreate,
        ...documented({
          summary: "Create a payout rule (CPA, RevShare or hybrid; tiers, caps, holds)",
          description:
            "Creates a payout rule: CPA, RevShare or hybrid, optionally per affiliate, with tiers, caps and hold periods. Applies to conversions booked from now on.",
          response: Row("payout_rules"),
          status: 201,
        }),
      },
    )
    .post(
      "/:id/archive",
      async ({ params, principal }) => {
        assertCanWrite(principal);
        const row = await sql.begin(async (tx) => {
          const [before] = await tx`select * from payout_rules where id = ${params.id} for update`;
          if (!before) throw new HttpError(404, "not_found", "no such payout-rule", "id");
          if (before.status === "archived") return before;
          const [after] = await tx`
            update payout_rules set status = 'archived', archived_at = now() where id = ${params.id} returning *`;
          await audit(tx, {
            actor: actor(principal),
            action: "archive",
            resource: "payout-rules",
            id: params.id,
            before,
            after,
          });
          return after;
        });
        await announce(bus, "payout-rules", params.id);
        return row;
      },
      {
        params: IdParams,
        ...documented({
          summary: "Archive a payout rule (it stops applying; booked entries keep it)",
          description:
            "Archives a rule: it stops applying to new conversions; ledger entries booked under it keep it. Archiving twice changes nothing.",
          response: Row("payout_rules"),
        }),
      },
    );
}
