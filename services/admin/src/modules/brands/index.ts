import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { assertAdmin, authentication } from "../../auth.ts";
import { createAudited } from "../../changes.ts";
import { Count, Strict, Currency, getRow, IdParams, listRows, Page, patchRow } from "../common.ts";
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

/** EU privacy per brand (docs/tracking.md): what the click keeps of the visitor, and for how long. */
const Privacy = {
  ip_truncation: t.Optional(
    t.Union([t.Literal("none"), t.Literal("last-octet"), t.Null()], {
      description:
        "the click's IP as stored: last-octet keeps /24 (IPv4) or /48 (IPv6); null: the click service's IP_TRUNCATE",
    }),
  ),
  click_cookie: t.Optional(
    t.Boolean({ description: "false: the click sets no rt_cid cookie (no pixel matching by cookie)" }),
  ),
  raw_retention_days: t.Optional(
    t.Union([Count({ minimum: 1 }), t.Null()], {
      description:
        "days after which IPs, user agents and referrers are dropped from clicks, conversions and logs (figures and ledger stay); null: kept",
    }),
  ),
};

export const BrandUpdate = Strict({
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  timezone: t.Optional(TimeZone),
  ...Privacy,
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
          summary:
            "Rename a brand, change its time zone, or its privacy: IP truncation, click cookie, raw-data retention (admin)",
          description:
            "Changes name, time zone or privacy settings (audited). The slug and currency are fixed once created.",
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
