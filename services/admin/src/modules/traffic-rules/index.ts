import { DEFAULT_RULES, THRESHOLD_UNIT } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { audit, deleteAudited } from "../../changes.ts";
import { IdParams, listRows, Page } from "../common.ts";
import { view } from "../../visibility.ts";
import { TrafficRulePut, TrafficRuleQuery } from "./model.ts";
import { putRule } from "./service.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";

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
        ...documented({
          summary: "List configured traffic-quality rules (program-wide rows have offer_id null)",
          description:
            "Configured traffic-quality rules page by id; filter by offer or reason. Where none is configured the built-in default applies (GET /v1/traffic-rules/defaults).",
          response: Paged(Row("traffic_rules")),
        }),
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
        ...documented({
          summary: "The built-in default of every rule (what applies where nothing is configured)",
          description:
            "Every rule's built-in default (action, threshold and its unit), which applies where no rule is configured.",
          response: t.Object({ data: t.Array(t.Record(t.String(), t.Unknown())) }),
        }),
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
        ...documented({
          summary: "Set a rule for an offer or program-wide (creates it, or replaces its scope's rule)",
          description:
            "Creates or replaces the rule of a scope (an offer, or program-wide with offer_id null), audited; applies to clicks and conversions judged from now on.",
          response: Row("traffic_rules"),
        }),
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
        ...documented({
          summary: "Remove a rule: its scope falls back to the next (program-wide, then default)",
          description:
            "Deletes a rule (audited): its scope falls back to the program-wide rule, then to the built-in default.",
          response: Row("traffic_rules"),
        }),
      },
    );
}
