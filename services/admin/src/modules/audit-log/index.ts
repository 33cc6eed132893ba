import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { authentication } from "../../auth.ts";
import {
  getRow,
  IdParams,
  listRows,
  Page,
  parseTime,
  Search,
  searchWhere,
  SortBy,
  Timestamp,
} from "../common.ts";
import { view, visibleColumns } from "../../visibility.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";

/** Every configuration change: who, when, what, before and after (written with the change). */
export function auditLog(sql: Sql) {
  return new Elysia({ prefix: "/v1/audit-log", tags: ["audit-log"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) => {
        const show = view("audit_log", principal);
        const from = parseTime(query.from, "from");
        const to = parseTime(query.to, "to");
        let extra = sql`true`;
        if (from) extra = sql`${extra} and at >= ${from}`;
        if (to) extra = sql`${extra} and at < ${to}`;
        const search = searchWhere(
          sql,
          query.q,
          visibleColumns("audit_log", principal, ["actor", "action", "resource", "resource_id"]),
        );
        if (search) extra = sql`${extra} and ${search}`;
        const filters = {
          resource: query.resource,
          resource_id: query.resource_id,
          action: query.action,
          actor: query.actor,
        };
        return listRows(sql, "audit_log", filters, { order: "desc", ...query }, show, extra);
      },
      {
        query: t.Object({
          resource: t.Optional(t.String({ maxLength: 64 })),
          resource_id: t.Optional(t.String({ maxLength: 64 })),
          action: t.Optional(t.String({ maxLength: 64 })),
          actor: t.Optional(t.String({ maxLength: 300 })),
          from: t.Optional(Timestamp),
          to: t.Optional(Timestamp),
          ...Search("the actor, action, resource or resource id"),
          ...SortBy("at", "actor", "action", "resource"),
          ...Page,
        }),
        ...documented({
          summary: "List audit entries, newest first by default",
          description:
            "Every change made through the API, with actor, before and after; filter by resource, id, actor or time, search with `q`, order with `sort`.",
          response: Paged(Row("audit_log")),
        }),
      },
    )
    .get(
      "/:id",
      ({ params, principal }) => {
        return getRow(sql, "audit_log", params.id, view("audit_log", principal));
      },
      {
        params: IdParams,
        ...documented({
          summary: "Get one audit entry",
          description: "One audit entry by id.",
          response: Row("audit_log"),
        }),
      },
    );
}
