import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { CANONICAL_PARAMS as INTAKE_PARAMS } from "@roundtrip/intake";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication, hashKey } from "../../auth.ts";
import { announce, audit } from "../../changes.ts";
import { getRow, Id, IdParams, listRows, Page, withoutSecrets } from "../common.ts";
import { view } from "../../visibility.ts";
import {
  addSigningKey,
  authSummary,
  IntakeSettings,
  newSecret,
  normaliseAllowlist,
  SigningSecret,
} from "./intake-settings.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";
import { AdvertiserWithAuth, AdvertiserCreated } from "../../openapi/schemas.ts";

/** Canonical postback parameter names an advertiser may alias (`cid` → click_id, …). */
export const CANONICAL_PARAMS: string[] = [...INTAKE_PARAMS];

export const AdvertiserCreate = t.Object({
  brand_id: Id,
  name: t.String({ minLength: 1, maxLength: 200 }),
  token: t.Optional(
    t.Union([t.String({ minLength: 24, maxLength: 200, pattern: "^[A-Za-z0-9_-]+$" }), t.Null()], {
      description:
        "absent: one is generated (shown once); null: no token check (use a signature or IP allowlist)",
    }),
  ),
  signing_secret: t.Optional(
    t.Union([SigningSecret, t.Literal("generate")], {
      description: "turns on signed postbacks (X-Roundtrip-Signature); `generate` issues one, shown once",
    }),
  ),
  ...IntakeSettings,
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
        return listRows(
          sql,
          "advertisers",
          { brand_id: query.brand_id },
          query,
          view("advertisers", principal),
        );
      },
      {
        query: t.Object({ brand_id: t.Optional(Id), ...Page }),
        ...documented({
          summary: "List advertisers",
          description:
            "Advertisers (who fire postbacks) page by id; filter by brand. Staff keys only; never the token or signing secrets.",
          response: Paged(Row("advertisers")),
        }),
      },
    )
    .get(
      "/:id",
      async ({ params, principal }) => {
        const row = await getRow(sql, "advertisers", params.id, view("advertisers", principal));
        const [raw] = await sql`select * from advertisers where id = ${params.id}`;
        return { ...row, auth: await authSummary(sql, raw ?? row) };
      },
      {
        params: IdParams,
        ...documented({
          summary: "Get an advertiser",
          description:
            "One advertiser with a summary of the checks its postbacks must pass (token, signature, IP allowlist, pixel).",
          response: AdvertiserWithAuth,
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        // The token is shown once, in this response; only its hash is kept.
        const token =
          body.token === null
            ? null
            : (body.token ?? Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url"));
        const signingSecret = body.signing_secret === "generate" ? newSecret() : body.signing_secret;
        const allowlist = normaliseAllowlist(body.ip_allowlist) ?? [];
        const row = await sql.begin(async (tx) => {
          const [brand] = await tx`select id from brands where id = ${body.brand_id}`;
          if (!brand) throw new HttpError(400, "invalid_request", "no such brand", "brand_id");
          const [created] = await tx`
            insert into advertisers (brand_id, name, token_hash, token_hint, param_aliases, ip_allowlist,
                                     rate_limit_per_second, pixel_enabled, pixel_sets_money, dedup_window_hours)
            values (${body.brand_id}, ${body.name}, ${token ? hashKey(token) : null}, ${token ? token.slice(-4) : null},
                    ${tx.json(body.param_aliases ?? {})}, ${tx.json(allowlist)}, ${body.rate_limit_per_second ?? null},
                    ${body.pixel_enabled ?? false}, ${body.pixel_sets_money ?? false}, ${body.dedup_window_hours ?? 24})
            returning *`;
          if (!created) throw new Error("insert returned nothing");
          if (signingSecret) await addSigningKey(tx, created.id, signingSecret, 0);
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
        // Secrets are shown once, here; only the token's hash is kept.
        return {
          ...row,
          auth: await authSummary(sql, { ...row, token_hash: token }),
          token,
          ...(signingSecret ? { signing_secret: signingSecret } : {}),
        };
      },
      {
        body: AdvertiserCreate,
        ...documented({
          summary: "Create an advertiser",
          description:
            "Creates an advertiser with its postback token (generated unless given; `null` for none) and optional signing secret; both are shown once, in this answer, and only their hashes are kept.",
          response: AdvertiserCreated,
          status: 201,
        }),
      },
    );
}
