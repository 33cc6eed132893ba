import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { assertCanWrite, authentication } from "../../auth.ts";
import { createAudited } from "../../changes.ts";
import {
  Strict,
  Currency,
  getRow,
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
import { Paged, Row } from "../../openapi/rows.ts";

const IsTest = t.Boolean({
  description: "test traffic (launch validation): excluded from reports and payouts",
});

export const AffiliateCreate = Strict({
  name: t.String({ minLength: 1, maxLength: 200 }),
  payout_currency: t.Optional(Currency),
  is_test: t.Optional(IsTest),
});

export const AffiliateUpdate = Strict({
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  payout_currency: t.Optional(Currency),
  status: t.Optional(Status),
});

export function affiliates(sql: Sql, bus: Bus) {
  return new Elysia({ prefix: "/v1/affiliates", tags: ["affiliates"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) =>
        listRows(
          sql,
          "affiliates",
          { id: principal.affiliateId, status: query.status, is_test: query.is_test },
          query,
          view("affiliates", principal),
          searchWhere(sql, query.q, visibleColumns("affiliates", principal, ["name"])),
        ),
      {
        query: t.Object({
          status: t.Optional(Status),
          is_test: t.Optional(t.BooleanString()),
          ...Search("the name"),
          ...SortBy("name", "status", "created_at"),
          ...Page,
        }),
        ...documented({
          summary: "List affiliates (an affiliate key sees only itself)",
          description:
            "Affiliates page by id (or by `sort`, then id); filter by status, search the name with `q`. An affiliate key sees only itself.",
          response: Paged(Row("affiliates")),
        }),
      },
    )
    .get(
      "/:id",
      ({ params, principal }) =>
        getRow(sql, "affiliates", params.id, view("affiliates", principal), { id: principal.affiliateId }),
      {
        params: IdParams,
        ...documented({
          summary: "Get an affiliate",
          description: "One affiliate by id.",
          response: Row("affiliates"),
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const row = await createAudited(sql, bus, principal, "affiliates", async (tx) => {
          const [created] = await tx`
            insert into affiliates (name, payout_currency, is_test)
            values (${body.name}, ${body.payout_currency ?? "EUR"}, ${body.is_test ?? false})
            returning *`;
          if (!created) throw new HttpError(500, "internal", "insert returned nothing");
          return created;
        });
        set.status = 201;
        return row;
      },
      {
        body: AffiliateCreate,
        ...documented({
          summary: "Create an affiliate",
          description:
            "Creates an affiliate (a partner who receives tracking links and postbacks) with its payout currency.",
          response: Row("affiliates"),
          status: 201,
        }),
      },
    )
    .patch(
      "/:id",
      ({ params, body, principal }) =>
        patchRow(sql, bus, principal, {
          table: "affiliates",
          resource: "affiliates",
          id: params.id,
          changes: body,
        }),
      {
        params: IdParams,
        body: AffiliateUpdate,
        ...documented({
          summary: "Change an affiliate; status paused stops all its links within a second",
          description: "Changes an affiliate (audited); pausing it stops all its links within a second.",
          response: Row("affiliates"),
        }),
      },
    );
}
