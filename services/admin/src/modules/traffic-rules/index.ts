import { DEFAULT_RULES, THRESHOLD_UNIT } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { audit, deleteAudited } from "../../changes.ts";
import { IdParams, listRows, Page } from "../common.ts";
import { view } from "../../visibility.ts";
import { TrafficRulePut, TrafficRuleQuery } from "./model.ts";
import { putRule } from "./service.ts";

/**
 * Traffic-quality rules (docs/fraud.md): per offer, or program-wide with `offer_id` null; the
 * most specific applies, else the built-in default. Every change is audited. Clicks and
 * conversions already judged keep their verdict; a change applies to what comes next.
 */
export function trafficRules(sql: Sql) {
  return new Elysia({ prefix: "/v1/traffic-rules", tags: ["traffic-rules"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) =>
        listRows(
          sql,
          "traffic_rules",
          { offer_id: query.offer_id, reason: query.reason },
          query,
          view("traffic_rules", principal),
        ),
      {
        query: t.Composite([TrafficRuleQuery, t.Object(Page)]),
        detail: { summary: "List configured traffic-quality rules (program-wide rows have offer_id null)" },
      },
    )
    .get(
      "/defaults",
      ({ principal }) => {
        view("traffic_rules", principal);
        return {
          data: Object.entries(DEFAULT_RULES).map(([reason, s]) => ({
            reason,
            ...s,
            threshold_unit: THRESHOLD_UNIT[reason as keyof typeof THRESHOLD_UNIT] ?? null,
          })),
        };
      },
      {
        detail: { summary: "The built-in default of every rule (what applies where nothing is configured)" },
      },
    )
    .put(
      "/",
      async ({ body, principal }) => {
        assertCanWrite(principal);
        return sql.begin(async (tx) => {
          const { before, after } = await putRule(tx, body);
          await audit(tx, {
            actor: actor(principal),
            action: before ? "update" : "create",
            resource: "traffic-rules",
            id: String(after.id),
            before: before ?? undefined,
            after,
          });
          return after;
        });
      },
      {
        body: TrafficRulePut,
        detail: {
          summary: "Set a rule for an offer or program-wide (creates it, or replaces its scope's rule)",
        },
      },
    )
    .delete(
      "/:id",
      async ({ params, principal }) => {
        assertCanWrite(principal);
        return deleteAudited(sql, principal, "traffic_rules", "traffic-rules", params.id, "traffic rule");
      },
      {
        params: IdParams,
        detail: { summary: "Remove a rule: its scope falls back to the next (program-wide, then default)" },
      },
    );
}
