import type { Sql } from "@roundtrip/db";
import { newSecret } from "@roundtrip/outbound";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { audit, createAudited } from "../../changes.ts";
import { getRow, IdParams, listRows, Page } from "../common.ts";
import { view } from "../../visibility.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";
import { OperatorWebhookCreate, OperatorWebhookPatch } from "./model.ts";

/**
 * The operator's own webhooks for partner events (payout.paid, payout.failed, statement.ready of
 * every affiliate): a URL and the events it takes. Delivery sends them on the affiliates' signed
 * path (retries, attempt log, dead letters, replays), signed with the webhook's own secrets: one
 * is generated at creation and shown once; rotate through /v1/webhook-secrets with `webhook_id`.
 * Staff only: an affiliate neither reads them nor sees their deliveries.
 */
export function operatorWebhooks(sql: Sql) {
  return new Elysia({ prefix: "/v1/operator-webhooks", tags: ["affiliate-postbacks"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) =>
        listRows(
          sql,
          "operator_webhooks",
          { status: query.status },
          query,
          view("operator_webhooks", principal),
        ),
      {
        query: t.Object({
          status: t.Optional(t.Union([t.Literal("active"), t.Literal("disabled")])),
          ...Page,
        }),
        ...documented({
          summary: "List operator webhooks (the operator's endpoints for payout and statement events)",
          description:
            "Operator webhooks page by id, with their events, status and last success. Staff only.",
          response: Paged(Row("operator_webhooks")),
        }),
      },
    )
    .get(
      "/:id",
      ({ params, principal }) =>
        getRow(sql, "operator_webhooks", params.id, view("operator_webhooks", principal)),
      {
        params: IdParams,
        ...documented({
          summary: "Get one operator webhook",
          description: "One operator webhook by id. Staff only.",
          response: Row("operator_webhooks"),
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        view("operator_webhooks", principal);
        const secret = newSecret();
        const row = await createAudited(sql, null, principal, "operator-webhooks", async (tx) => {
          const [created] = await tx`
            insert into operator_webhooks (name, url, events) values (${body.name}, ${body.url}, ${body.events})
            returning *`;
          if (!created) throw new Error("insert returned nothing");
          await tx`
            insert into affiliate_webhook_secrets (webhook_id, secret, hint)
            values (${created.id}, ${secret}, ${`${secret.slice(0, 10)}…`})`;
          return created;
        });
        set.status = 201;
        return { ...row, secret };
      },
      {
        body: OperatorWebhookCreate,
        ...documented({
          summary: "Add an operator webhook; its signing secret is generated and shown once",
          description:
            "Creates a webhook for partner events of every affiliate and its Standard Webhooks signing secret (`secret`, shown once). Admin and manager keys; audited.",
          response: Row("operator_webhooks", {
            extra: { secret: t.String({ description: "the signing secret (whsec_…), shown once" }) },
          }),
          status: 201,
        }),
      },
    )
    .patch(
      "/:id",
      async ({ params, body, principal }) => {
        assertCanWrite(principal);
        view("operator_webhooks", principal);
        if (Object.keys(body).length === 0)
          throw new HttpError(400, "invalid_request", "nothing to change", "(body)");
        return sql.begin(async (tx) => {
          const [before] = await tx`select * from operator_webhooks where id = ${params.id} for update`;
          if (!before) throw new HttpError(404, "not_found", "no such operator-webhook", "id");
          const status = body.status ?? before.status;
          const enabling = status === "active" && before.status !== "active";
          const disabling = status === "disabled" && before.status !== "disabled";
          const [after] = await tx`
            update operator_webhooks set
              name = ${body.name ?? before.name}, url = ${body.url ?? before.url},
              events = ${body.events ?? before.events}, status = ${status},
              disabled_reason = ${enabling ? null : disabling ? "operator" : before.disabled_reason},
              disabled_at = ${enabling ? null : disabling ? new Date() : before.disabled_at},
              failing_since = ${enabling ? null : before.failing_since},
              updated_at = now()
            where id = ${params.id}
            returning *`;
          await audit(tx, {
            actor: actor(principal),
            action: "update",
            resource: "operator-webhooks",
            id: params.id,
            before,
            after,
          });
          return after;
        });
      },
      {
        params: IdParams,
        body: OperatorWebhookPatch,
        ...documented({
          summary: "Change an operator webhook, or pause/enable it",
          description:
            "Changes the name, URL or events, or pauses/enables it; applies to events planned from now on. Re-enabling one the sender disabled lets its dead deliveries be replayed (audited).",
          response: Row("operator_webhooks"),
        }),
      },
    );
}
