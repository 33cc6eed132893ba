import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { audit, createAudited, deleteAudited } from "../../changes.ts";
import { getRow, IdParams, listRows, Page } from "../common.ts";
import { view } from "../../visibility.ts";
import { readEntries, storeEntries } from "./entries.ts";
import { EntriesQuery, IpListCreate } from "./model.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";

/**
 * Operator-managed address lists (docs/fraud.md): data centre, VPN/proxy, TOR exit, block and
 * allow. Ranges are uploaded as JSON or CSV (`PUT /v1/ip-lists/:id/entries`); clicks are judged
 * against the lists as they are when their batch is stored, conversions when they are created.
 */
export function ipLists(sql: Sql) {
  const MAX_BODY_BYTES = 16 * 1024 * 1024;
  return new Elysia({ prefix: "/v1/ip-lists", tags: ["ip-lists"] })
    .use(authentication(sql))
    .get("/", ({ query, principal }) => listRows(sql, "ip_lists", {}, query, view("ip_lists", principal)), {
      query: t.Object(Page),
      ...documented({
        summary: "List IP lists",
        description:
          "Operator-managed address lists (data centre, VPN/proxy, TOR exit, block, allow) page by id.",
        response: Paged(Row("ip_lists")),
      }),
    })
    .get(
      "/:id",
      async ({ params, principal }) => {
        const list = await getRow(sql, "ip_lists", params.id, view("ip_lists", principal));
        const entries = await sql<{ range: string }[]>`
          select range::text from ip_list_entries where list_id = ${params.id} order by range limit 1000`;
        const [count] = await sql<
          { n: number }[]
        >`select count(*)::int as n from ip_list_entries where list_id = ${params.id}`;
        return { ...list, entry_count: count?.n ?? 0, entries: entries.map((e) => e.range) };
      },
      {
        params: IdParams,
        ...documented({
          summary: "Get an IP list with its entry count and first 1000 ranges",
          description: "One IP list with its number of ranges and the first 1000 of them.",
          response: Row("ip_lists", { extra: { entry_count: t.Integer(), entries: t.Array(t.String()) } }),
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const row = await createAudited(sql, null, principal, "ip-lists", async (tx) => {
          const [dup] = await tx`select id from ip_lists where name = ${body.name}`;
          if (dup) throw new HttpError(409, "conflict", "name: an IP list of that name exists", "name");
          const [created] = await tx`
            insert into ip_lists (name, kind, source) values (${body.name}, ${body.kind}, ${body.source ?? null}) returning *`;
          return created as Record<string, unknown>;
        });
        set.status = 201;
        return row;
      },
      {
        body: IpListCreate,
        ...documented({
          summary: "Create an IP list (kind: datacenter, vpn, tor, block, allow)",
          description:
            "Creates an empty IP list of a kind (audited); 409 when the name is taken. Upload its ranges with PUT /v1/ip-lists/{id}/entries.",
          response: Row("ip_lists"),
          status: 201,
        }),
      },
    )
    .put(
      "/:id/entries",
      async ({ params, query, request, principal }) => {
        assertCanWrite(principal);
        const type = request.headers.get("content-type") ?? "";
        const text = await request.text();
        if (text.length > MAX_BODY_BYTES)
          throw new HttpError(413, "too_large", `at most ${MAX_BODY_BYTES} bytes per upload`, "body");
        let body: { entries: string[] } | { csv: string };
        if (type.includes("json")) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            throw new HttpError(400, "invalid_request", "body: not JSON", "body");
          }
          const entries = (parsed as { entries?: unknown })?.entries;
          if (!Array.isArray(entries) || entries.some((e) => typeof e !== "string"))
            throw new HttpError(
              400,
              "invalid_request",
              "entries: an array of addresses or CIDR ranges",
              "entries",
            );
          body = { entries };
        } else body = { csv: text };
        const entries = readEntries(body);
        const mode = query.mode ?? "replace";
        return sql.begin(async (tx) => {
          const [list] = await tx`select * from ip_lists where id = ${params.id} for update`;
          if (!list) throw new HttpError(404, "not_found", "no such IP list", "id");
          const before = await tx<
            { n: number }[]
          >`select count(*)::int as n from ip_list_entries where list_id = ${params.id}`;
          const count = await storeEntries(tx, params.id, entries, mode);
          await audit(tx, {
            actor: actor(principal),
            action: mode === "replace" ? "replace_entries" : "append_entries",
            resource: "ip-lists",
            id: params.id,
            before: { entry_count: before[0]?.n ?? 0 },
            after: { entry_count: count, uploaded: entries.length },
          });
          return { id: params.id, mode, uploaded: entries.length, entry_count: count };
        });
      },
      {
        parse: "none",
        params: IdParams,
        query: EntriesQuery,
        ...documented({
          summary: "Upload ranges to an IP list",
          description:
            "Uploads ranges as JSON {entries: [...]} or a CSV (text/csv, first column an address or CIDR); mode replace (default) or append. Audited.",
          requestBody: {
            "application/json": t.Object({
              entries: t.Array(t.String({ description: "an address or CIDR range" })),
            }),
            "text/csv": t.String({ description: "first column an address or CIDR range" }),
          },
          response: t.Object({
            id: t.String(),
            mode: t.String(),
            uploaded: t.Integer(),
            entry_count: t.Integer(),
          }),
        }),
      },
    )
    .delete(
      "/:id",
      async ({ params, principal }) => {
        assertCanWrite(principal);
        return deleteAudited(sql, principal, "ip_lists", "ip-lists", params.id, "IP list");
      },
      {
        params: IdParams,
        ...documented({
          summary: "Delete an IP list and its ranges",
          description:
            "Deletes an IP list and all its ranges (audited); judgements already made keep their verdict.",
          response: Row("ip_lists"),
        }),
      },
    );
}
