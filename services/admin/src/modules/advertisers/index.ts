import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, assertStaff, authentication, hashKey } from "../../auth.ts";
import { announce, audit } from "../../changes.ts";
import { getRow, Id, IdParams, listRows, Page, withoutSecrets } from "../common.ts";

/** Canonical postback parameter names an advertiser may alias (`cid` → click_id, …). */
export const CANONICAL_PARAMS = [
  "click_id",
  "txid",
  "event",
  "amount",
  "payout",
  "currency",
  "status",
  "timestamp",
  "brand",
  "token",
];

export const AdvertiserCreate = t.Object({
  brand_id: Id,
  name: t.String({ minLength: 1, maxLength: 200 }),
  token: t.Optional(t.String({ minLength: 24, maxLength: 200, pattern: "^[A-Za-z0-9_-]+$" })),
  param_aliases: t.Optional(
    t.Record(
      t.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" }),
      t.Union(CANONICAL_PARAMS.map((p) => t.Literal(p))),
    ),
  ),
});

export function advertisers(sql: Sql, bus: Bus) {
  return new Elysia({ prefix: "/v1/advertisers", tags: ["advertisers"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) => {
        assertStaff(principal);
        return listRows(sql, "advertisers", { brand_id: query.brand_id }, query);
      },
      { query: t.Object({ brand_id: t.Optional(Id), ...Page }) },
    )
    .get(
      "/:id",
      ({ params, principal }) => {
        assertStaff(principal);
        return getRow(sql, "advertisers", params.id);
      },
      { params: IdParams },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        // The token is shown once, in this response; only its hash is kept.
        const token =
          body.token ?? Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
        const row = await sql.begin(async (tx) => {
          const [brand] = await tx`select id from brands where id = ${body.brand_id}`;
          if (!brand) throw new HttpError(400, "invalid_request", "no such brand", "brand_id");
          const [created] = await tx`
            insert into advertisers (brand_id, name, token_hash, token_hint, param_aliases)
            values (${body.brand_id}, ${body.name}, ${hashKey(token)}, ${token.slice(-4)}, ${tx.json(body.param_aliases ?? {})})
            returning *`;
          if (!created) throw new Error("insert returned nothing");
          const visible = withoutSecrets(created);
          await audit(tx, {
            actor: actor(principal),
            action: "create",
            resource: "advertisers",
            id: created.id,
            after: visible,
          });
          return visible;
        });
        await announce(bus, "advertisers", row.id);
        set.status = 201;
        return { ...row, token };
      },
      { body: AdvertiserCreate },
    );
}
