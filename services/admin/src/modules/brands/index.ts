import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertAdmin, authentication } from "../../auth.ts";
import { announce, audit } from "../../changes.ts";
import { Currency, getRow, IdParams, listRows, Page } from "../common.ts";

export const BrandCreate = t.Object({
  slug: t.String({ pattern: "^[a-z0-9][a-z0-9-]{0,62}$" }),
  name: t.String({ minLength: 1, maxLength: 200 }),
  currency: Currency,
  timezone: t.String({ minLength: 1, maxLength: 64, default: "UTC" }),
});
export type BrandCreate = typeof BrandCreate.static;

export function brands(sql: Sql, bus: Bus) {
  return new Elysia({ prefix: "/v1/brands", tags: ["brands"] })
    .use(authentication(sql))
    .get("/", ({ query }) => listRows(sql, "brands", { slug: query.slug }, query), {
      query: t.Object({ slug: t.Optional(t.String()), ...Page }),
    })
    .get("/:id", ({ params }) => getRow(sql, "brands", params.id), { params: IdParams })
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertAdmin(principal);
        if (!isTimeZone(body.timezone))
          throw new HttpError(400, "invalid_request", "unknown time zone", "timezone");
        const row = await sql.begin(async (tx) => {
          const [created] = await tx`
            insert into brands (slug, name, currency, timezone)
            values (${body.slug}, ${body.name}, ${body.currency}, ${body.timezone})
            on conflict (slug) do nothing returning *`;
          if (!created) throw new HttpError(409, "conflict", `brand ${body.slug} exists`, "slug");
          await audit(tx, {
            actor: actor(principal),
            action: "create",
            resource: "brands",
            id: created.id,
            after: created,
          });
          return created;
        });
        await announce(bus, "brands", row.id);
        set.status = 201;
        return row;
      },
      { body: BrandCreate },
    );
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
