import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { assertAdmin, authentication } from "../../auth.ts";
import { createAudited } from "../../changes.ts";
import { Strict, Currency, getRow, IdParams, listRows, Page, patchRow } from "../common.ts";
import { view } from "../../visibility.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";

const TimeZone = t.String({
  minLength: 1,
  maxLength: 64,
  description: "IANA time zone; reports by day use it",
});

export const BrandCreate = Strict({
  slug: t.String({ pattern: "^[a-z0-9][a-z0-9-]{0,62}$" }),
  name: t.String({ minLength: 1, maxLength: 200 }),
  currency: Currency,
  timezone: t.Optional(TimeZone),
});
export type BrandCreate = typeof BrandCreate.static;

export const BrandUpdate = Strict({
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  timezone: t.Optional(TimeZone),
});

export function brands(sql: Sql, bus: Bus) {
  // Affiliates see only the brands they run traffic for.
  const scope = (affiliateId: string | null) =>
    affiliateId
      ? sql`id in (select o.brand_id from links l join offers o on o.id = l.offer_id where l.affiliate_id = ${affiliateId})`
      : undefined;
  return new Elysia({ prefix: "/v1/brands", tags: ["brands"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) =>
        listRows(
          sql,
          "brands",
          { slug: query.slug },
          query,
          view("brands", principal),
          scope(principal.affiliateId),
        ),
      {
        query: t.Object({ slug: t.Optional(t.String({ maxLength: 63 })), ...Page }),
        ...documented({
          summary: "List brands",
          description:
            "Brands (tenants) page by id; filter by slug. An affiliate key sees only the brands it runs traffic for.",
          response: Paged(Row("brands")),
        }),
      },
    )
    .get(
      "/:id",
      ({ params, principal }) =>
        getRow(sql, "brands", params.id, view("brands", principal), {}, scope(principal.affiliateId)),
      {
        params: IdParams,
        ...documented({
          summary: "Get a brand",
          description:
            "One brand by id; 404 when it does not exist or an affiliate key does not run traffic for it.",
          response: Row("brands"),
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertAdmin(principal);
        const timezone = body.timezone ?? "UTC";
        if (!isTimeZone(timezone))
          throw new HttpError(400, "invalid_request", "timezone: unknown time zone", "timezone");
        const row = await createAudited(sql, bus, principal, "brands", async (tx) => {
          const [created] = await tx`
            insert into brands (slug, name, currency, timezone)
            values (${body.slug}, ${body.name}, ${body.currency}, ${timezone})
            on conflict (slug) do nothing returning *`;
          if (!created) throw new HttpError(409, "conflict", `brand ${body.slug} exists`, "slug");
          return created;
        });
        set.status = 201;
        return row;
      },
      {
        body: BrandCreate,
        ...documented({
          summary: "Create a brand (admin)",
          description:
            "Creates a brand with its reporting currency and time zone (default UTC). Admin keys only; 409 when the slug exists.",
          response: Row("brands"),
          status: 201,
        }),
      },
    )
    .patch(
      "/:id",
      ({ params, body, principal }) => {
        assertAdmin(principal);
        if (body.timezone !== undefined && !isTimeZone(body.timezone)) {
          throw new HttpError(400, "invalid_request", "timezone: unknown time zone", "timezone");
        }
        return patchRow(sql, bus, principal, {
          table: "brands",
          resource: "brands",
          id: params.id,
          changes: body,
        });
      },
      {
        params: IdParams,
        body: BrandUpdate,
        ...documented({
          summary: "Rename a brand or change its time zone (admin)",
          description: "Changes name or time zone (audited). The slug and currency are fixed once created.",
          response: Row("brands"),
        }),
      },
    );
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
