import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertAdmin, authentication, hashKey, newApiKey } from "../../auth.ts";
import { audit, createAudited } from "../../changes.ts";
import { getRow, Id, IdParams, listRows, Page } from "../common.ts";
import { view } from "../../visibility.ts";
import { Role } from "../auth/model.ts";

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
        detail: { summary: "List API keys (admin); keys themselves are never shown again" },
      },
    )
    .get(
      "/:id",
      ({ params, principal }) => {
        return getRow(sql, "api_keys", params.id, view("api_keys", principal));
      },
      {
        params: IdParams,
        detail: { summary: "Get an API key's name, role, prefix, last use and revocation" },
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
      { body: ApiKeyCreate, detail: { summary: "Create an API key; the key is in this response only" } },
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
      { params: IdParams, detail: { summary: "Revoke an API key (at once)" } },
    );
}
