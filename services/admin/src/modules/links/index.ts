import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { assertCanWrite, authentication, type Principal } from "../../auth.ts";
import { createAudited } from "../../changes.ts";
import {
  Strict,
  getRow,
  Id,
  IdParams,
  listRows,
  Page,
  patchRow,
  Search,
  searchWhere,
  SortBy,
  Status,
} from "../common.ts";
import { view, visibleColumns } from "../../visibility.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged } from "../../openapi/rows.ts";
import { LinkRow } from "../../openapi/schemas.ts";

export const LinkCreate = Strict({
  offer_id: Id,
  affiliate_id: Id,
  code: t.Optional(
    t.String({ pattern: "^[A-Za-z0-9_-]{1,64}$", description: "the /c/{code} path; random when absent" }),
  ),
});

export const LinkUpdate = Strict({ status: t.Optional(Status) });

export function links(sql: Sql, bus: Bus, publicClickUrl: string) {
  const present = (row: Record<string, unknown>) => ({
    ...row,
    tracking_url: `${publicClickUrl}/c/${row.code}`,
  });
  const shown = (principal: Principal) => {
    const show = view("links", principal);
    return (row: Record<string, unknown>) => show(present(row));
  };
  return new Elysia({ prefix: "/v1/links", tags: ["links"] })
    .use(authentication(sql))
    .get(
      "/",
      async ({ query, principal }) => {
        const filters = {
          code: query.code,
          offer_id: query.offer_id,
          affiliate_id: principal.affiliateId ?? query.affiliate_id,
          status: query.status,
        };
        const result = await listRows(
          sql,
          "links",
          filters,
          query,
          shown(principal),
          searchWhere(sql, query.q, visibleColumns("links", principal, ["code"])),
        );
        return result;
      },
      {
        query: t.Object({
          code: t.Optional(t.String({ maxLength: 64 })),
          offer_id: t.Optional(Id),
          affiliate_id: t.Optional(Id),
          status: t.Optional(Status),
          ...Search("the link code"),
          ...SortBy("code", "status", "created_at"),
          ...Page,
        }),
        ...documented({
          summary: "List tracking links (an affiliate key sees only its own)",
          description:
            "Tracking links page by id with their tracking URL; filter by offer, affiliate, code or status. An affiliate key sees only its own.",
          response: Paged(LinkRow),
        }),
      },
    )
    .get(
      "/build",
      async ({ query, principal }) => {
        const affiliateId = principal.affiliateId ?? query.affiliate_id;
        if (!affiliateId)
          throw new HttpError(400, "invalid_request", "affiliate_id: whose link to build", "affiliate_id");
        const show = shown(principal);
        const [link] = await sql`
          select * from links where offer_id = ${query.offer_id} and affiliate_id = ${affiliateId}
          order by (status = 'active') desc, id limit 1`;
        if (!link)
          throw new HttpError(
            404,
            "not_found",
            "offer_id: no tracking link on this offer yet; ask your manager",
            "offer_id",
          );
        const url = new URL(`${publicClickUrl}/c/${link.code}`);
        for (let i = 1; i <= 10; i++) {
          const value = query[`sub${i}` as keyof typeof query];
          if (typeof value === "string" && value !== "") url.searchParams.set(`sub${i}`, value);
        }
        return { ...show(link), tracking_url: url.toString() };
      },
      {
        query: t.Object({
          offer_id: Id,
          affiliate_id: t.Optional(Id),
          ...Object.fromEntries(
            Array.from({ length: 10 }, (_, i) => [
              `sub${i + 1}`,
              t.Optional(
                t.String({ maxLength: 255, description: `{sub${i + 1}}, carried to the offer and back` }),
              ),
            ]),
          ),
        }),
        ...documented({
          summary: "Link builder: the tracking URL of an affiliate's link on an offer, with sub IDs",
          description:
            "An affiliate gets its own link (affiliate_id is taken from the key or session); staff name the affiliate. " +
            "Sub IDs are URL-encoded into sub1…sub10; an active link is preferred. 404 when the affiliate has no link on the offer.",
          response: LinkRow,
        }),
      },
    )
    .get(
      "/:id",
      async ({ params, principal }) =>
        getRow(sql, "links", params.id, shown(principal), { affiliate_id: principal.affiliateId }),
      {
        params: IdParams,
        ...documented({
          summary: "Get a tracking link with its tracking URL",
          description: "One tracking link with the URL to hand to the affiliate.",
          response: LinkRow,
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const code =
          body.code ?? Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("base64url");
        const row = await createAudited(sql, bus, principal, "links", async (tx) => {
          const [offer] = await tx`select id from offers where id = ${body.offer_id}`;
          if (!offer) throw new HttpError(400, "invalid_request", "offer_id: no such offer", "offer_id");
          const [affiliate] = await tx`select id from affiliates where id = ${body.affiliate_id}`;
          if (!affiliate)
            throw new HttpError(400, "invalid_request", "affiliate_id: no such affiliate", "affiliate_id");
          const [created] = await tx`
            insert into links (code, offer_id, affiliate_id) values (${code}, ${body.offer_id}, ${body.affiliate_id})
            on conflict (code) do nothing returning *`;
          if (!created) throw new HttpError(409, "conflict", `code: link code ${code} is taken`, "code");
          return created;
        });
        set.status = 201;
        return present(row);
      },
      {
        body: LinkCreate,
        ...documented({
          summary: "Create a tracking link for an affiliate on an offer",
          description:
            "Creates a tracking link (`/c/{code}` on the click service) for an affiliate on an offer; the code is generated when not given, 409 when taken.",
          response: LinkRow,
          status: 201,
        }),
      },
    )
    .patch(
      "/:id",
      async ({ params, body, principal }) =>
        present(
          await patchRow(sql, bus, principal, {
            table: "links",
            resource: "links",
            id: params.id,
            changes: body,
          }),
        ),
      {
        params: IdParams,
        body: LinkUpdate,
        ...documented({
          summary: "Pause or resume a link (the click service follows within a second)",
          description:
            "Pauses or resumes a link: a paused link answers 404 at the click service within a second.",
          response: LinkRow,
        }),
      },
    );
}
