import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertAdmin, authentication, hashKey, newApiKey } from "../../auth.ts";
import { audit, createAudited } from "../../changes.ts";
import { getRow, Id, IdParams, listRows, Page } from "../common.ts";
import { view } from "../../visibility.ts";
import { Role } from "../auth/model.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";
import { ApiKeyCreated, ApiKeyRevoked } from "../../openapi/schemas.ts";

export const ApiKeyCreate = t.Object({
  name: t.String({ minLength: 1, maxLength: 200 }),
  role: Role,
  affiliate_id: t.Optional(Id),
});

export function apiKeys(sql: Sql) {
  return new Elysia({ prefix: "/v1/api-keys", tags: ["api-keys"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) => {
        return listRows(
          sql,
          "api_keys",
          { role: query.role, affiliate_id: query.affiliate_id },
          query,
          view("api_keys", principal),
        );
      },
      {
        query: t.Object({ role: t.Optional(Role), affiliate_id: t.Optional(Id), ...Page }),
        ...documented({
          summary: "List API keys (admin); keys themselves are never shown again",
          description:
            "API keys page by id: name, role, prefix, last use, revocation. The keys themselves are never shown again. Admin keys only.",
          response: Paged(Row("api_keys")),
        }),
      },
    )
    .get(
      "/:id",
      ({ params, principal }) => {
        return getRow(sql, "api_keys", params.id, view("api_keys", principal));
      },
      {
        params: IdParams,
        ...documented({
          summary: "Get an API key's name, role, prefix, last use and revocation",
          description: "One API key's metadata (never the key).",
          response: Row("api_keys"),
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertAdmin(principal);
        if ((body.role === "affiliate") !== (body.affiliate_id !== undefined)) {
          throw new HttpError(
            400,
            "invalid_request",
            "affiliate keys need affiliate_id, other roles must not have it",
            "affiliate_id",
          );
        }
        const key = newApiKey();
        const row = await createAudited(sql, null, principal, "api-keys", async (tx) => {
          if (body.affiliate_id) {
            const [affiliate] = await tx`select id from affiliates where id = ${body.affiliate_id}`;
            if (!affiliate)
              throw new HttpError(400, "invalid_request", "affiliate_id: no such affiliate", "affiliate_id");
          }
          const [created] = await tx`
            insert into api_keys (name, role, affiliate_id, key_hash, key_prefix)
            values (${body.name}, ${body.role}, ${body.affiliate_id ?? null}, ${hashKey(key)}, ${key.slice(0, 8)})
            returning id, name, role, affiliate_id, key_prefix, created_at`;
          if (!created) throw new Error("insert returned nothing");
          return created;
        });
        set.status = 201;
        // The key itself is shown once, here.
        return { ...row, key };
      },
      {
        body: ApiKeyCreate,
        ...documented({
          summary: "Create an API key; the key is in this response only",
          description:
            "Creates an API key for a role (admin, manager, analyst, or affiliate with its affiliate_id); the key is in this answer only (`key`), only its hash is kept.",
          response: ApiKeyCreated,
          status: 201,
        }),
      },
    )
    .delete(
      "/:id",
      async ({ params, principal }) => {
        assertAdmin(principal);
        return sql.begin(async (tx) => {
          const [revoked] = await tx`
            update api_keys set revoked_at = coalesce(revoked_at, now()) where id = ${params.id}
            returning id, name, role, revoked_at`;
          if (!revoked) throw new HttpError(404, "not_found", "no such api key", "id");
          await audit(tx, {
            actor: actor(principal),
            action: "revoke",
            resource: "api-keys",
            id: params.id,
            after: revoked,
          });
          return revoked;
        });
      },
      {
        params: IdParams,
        ...documented({
          summary: "Revoke an API key (at once)",
          description: "Revokes a key at once: its next request is a 401. Revoking twice is a 404.",
          response: ApiKeyRevoked,
        }),
      },
    );
}
