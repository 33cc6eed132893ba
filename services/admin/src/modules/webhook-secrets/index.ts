import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, assertStaff, authentication } from "../../auth.ts";
import { announce, audit, createAudited } from "../../changes.ts";
import { Id, IdOf, IdParams, listRows, Page } from "../common.ts";
import { view } from "../../visibility.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";

const Secret = t.String({
  pattern: "^whsec_[A-Za-z0-9+/]{32,88}={0,2}$",
  description: "Standard Webhooks secret: whsec_ + base64 of 24 to 64 random bytes",
});

export const WebhookSecretCreate = t.Object({
  affiliate_id: t.Optional(Id),
  webhook_id: t.Optional(
    IdOf("an operator webhook's secret instead of an affiliate's (name one of the two)"),
  ),
  secret: t.Optional(Secret),
  expires_at: t.Optional(t.String({ format: "date-time" })),
});

/** `whsec_` + base64 of 32 random bytes. */
function newSecret(): string {
  return `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`;
}

/**
 * Signing secrets for an affiliate's postbacks (Standard Webhooks). Write-only: a secret is shown
 * once, when it is generated, and never returned afterwards. Rotation: add the new secret, then
 * expire the old one (both sign until then, so the affiliate can switch over).
 */
export function webhookSecrets(sql: Sql, bus: Bus) {
  return new Elysia({ prefix: "/v1/webhook-secrets", tags: ["affiliate-postbacks"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) =>
        listRows(
          sql,
          "affiliate_webhook_secrets",
          { affiliate_id: principal.affiliateId ?? query.affiliate_id, webhook_id: query.webhook_id },
          query,
          view("webhook_secrets", principal),
        ),
      {
        query: t.Object({ affiliate_id: t.Optional(Id), webhook_id: t.Optional(Id), ...Page }),
        ...documented({
          summary: "List signing secrets (id, hint, expiry; never the secret)",
          description:
            "The signing secrets of affiliate postbacks and operator webhooks: id, hint, creation and expiry; never the secret. An affiliate key sees its own.",
          response: Paged(Row("affiliate_webhook_secrets")),
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const generated = body.secret === undefined;
        const secret = body.secret ?? newSecret();
        if ((body.affiliate_id === undefined) === (body.webhook_id === undefined))
          throw new HttpError(
            400,
            "invalid_request",
            "name an affiliate_id or a webhook_id (one)",
            "affiliate_id",
          );
        // An operator webhook's secrets are the operator's business: staff only.
        if (body.webhook_id !== undefined) view("operator_webhooks", principal);
        const row = await createAudited(sql, bus, principal, "webhook-secrets", async (tx) => {
          if (body.affiliate_id !== undefined) {
            const [affiliate] = await tx`select id from affiliates where id = ${body.affiliate_id}`;
            if (!affiliate) throw new HttpError(400, "invalid_request", "no such affiliate", "affiliate_id");
          } else {
            const [webhook] =
              await tx`select id from operator_webhooks where id = ${body.webhook_id ?? null}`;
            if (!webhook)
              throw new HttpError(400, "invalid_request", "no such operator webhook", "webhook_id");
          }
          const [created] = await tx`
            insert into affiliate_webhook_secrets (affiliate_id, webhook_id, secret, hint, expires_at)
            values (${body.affiliate_id ?? null}, ${body.webhook_id ?? null}, ${secret}, ${`${secret.slice(0, 10)}…`},
                    ${body.expires_at ? new Date(body.expires_at) : null})
            returning id, affiliate_id, webhook_id, hint, created_at, expires_at`;
          if (!created) throw new Error("insert returned nothing");
          return created;
        });
        set.status = 201;
        return generated ? { ...row, secret } : row;
      },
      {
        body: WebhookSecretCreate,
        ...documented({
          summary: "Add a signing secret (generated and shown once when not given)",
          description:
            "Adds a signing secret for an affiliate's outbound postbacks or an operator webhook (generated and shown once in `secret` when not given); every unexpired secret signs during a rotation.",
          response: Row("affiliate_webhook_secrets", {
            extra: { secret: t.Optional(t.String({ description: "shown once, when generated" })) },
          }),
          status: 201,
        }),
      },
    )
    .post(
      "/:id/expire",
      async ({ params, body, principal }) => {
        assertCanWrite(principal);
        assertStaff(principal);
        // Elysia does not validate an optional body sent as something other than JSON (text/csv,
        // text/plain): whatever sits under `at` then is not a checked string, so only a string is a time.
        const at = typeof body?.at === "string" ? new Date(body.at) : new Date();
        const row = await sql.begin(async (tx) => {
          const [before] =
            await tx`select id, affiliate_id, hint, expires_at from affiliate_webhook_secrets where id = ${params.id}`;
          if (!before) throw new HttpError(404, "not_found", "no such webhook-secret", "id");
          const [after] = await tx`
            update affiliate_webhook_secrets set expires_at = ${at} where id = ${params.id}
            returning id, affiliate_id, webhook_id, hint, created_at, expires_at`;
          await audit(tx, {
            actor: actor(principal),
            action: "expire",
            resource: "webhook-secrets",
            id: params.id,
            before,
            after,
          });
          return after;
        });
        await announce(bus, "webhook-secrets", params.id);
        return row;
      },
      {
        params: IdParams,
        body: t.Optional(
          t.Object({ at: t.Optional(t.String({ format: "date-time", description: "default now" })) }),
        ),
        ...documented({
          summary: "Expire a signing secret (now or at a time): the end of a rotation",
          description: "Expires a secret now or at a given time: the end of a rotation.",
          response: Row("affiliate_webhook_secrets"),
        }),
      },
    );
}
