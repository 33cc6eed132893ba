import type { Bus } from "@roundtrip/bus";
import { POSTBACK_MACROS, unknownMacros } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { announce, audit } from "../../changes.ts";
import { getRow, Id, IdParams, listRows, Page } from "../common.ts";

export const AffiliatePostbackCreate = t.Object({
  affiliate_id: Id,
  url_template: t.String({ pattern: "^https?://[^\\s]+$", maxLength: 2048 }),
  offer_id: t.Optional(Id),
  event: t.Optional(t.String({ pattern: "^[a-z0-9_]{1,40}$" })),
  method: t.Optional(t.Union([t.Literal("GET"), t.Literal("POST")])),
});

export function affiliatePostbacks(sql: Sql, bus: Bus) {
  return new Elysia({ prefix: "/v1/affiliate-postbacks", tags: ["affiliate-postbacks"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) =>
        listRows(
          sql,
          "affiliate_postbacks",
          { affiliate_id: principal.affiliateId ?? query.affiliate_id },
          query,
        ),
      { query: t.Object({ affiliate_id: t.Optional(Id), ...Page }) },
    )
    .get(
      "/:id",
      ({ params, principal }) =>
        getRow(sql, "affiliate_postbacks", params.id, { affiliate_id: principal.affiliateId }),
      { params: IdParams },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const unknown = unknownMacros(body.url_template, POSTBACK_MACROS);
        if (unknown.length) {
          throw new HttpError(
            400,
            "invalid_request",
            `unknown macro {${unknown[0]}} in url_template`,
            "url_template",
          );
        }
        const row = await sql.begin(async (tx) => {
          const [affiliate] = await tx`select id from affiliates where id = ${body.affiliate_id}`;
          if (!affiliate) throw new HttpError(400, "invalid_request", "no such affiliate", "affiliate_id");
          const [created] = await tx`
            insert into affiliate_postbacks (affiliate_id, offer_id, event, method, url_template)
            values (${body.affiliate_id}, ${body.offer_id ?? null}, ${body.event ?? null}, ${body.method ?? "GET"},
                    ${body.url_template})
            returning *`;
          if (!created) throw new Error("insert returned nothing");
          await audit(tx, {
            actor: actor(principal),
            action: "create",
            resource: "affiliate-postbacks",
            id: created.id,
            after: created,
          });
          return created;
        });
        await announce(bus, "affiliate-postbacks", row.id);
        set.status = 201;
        return row;
      },
      { body: AffiliatePostbackCreate },
    );
}
