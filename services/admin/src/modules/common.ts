import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { DefaultErrorFunction, SetErrorFunction, ValueErrorType } from "@sinclair/typebox/errors";
import type { TProperties } from "@sinclair/typebox";
import { t } from "elysia";
import type postgres from "postgres";
import { actor, assertCanWrite, type Principal } from "../auth.ts";
import { ID_MESSAGE, ID_PATTERN, MAX_ID } from "../ids.ts";
import { announce, audit } from "../changes.ts";
import { withoutSecrets } from "../visibility.ts";

export { withoutSecrets };

/** Shapes shared by the admin modules. IDs are strings: bigint must not pass through a float. */
/** An id field (ids.ts: 1 to 2^63-1, canonical decimal), described for the document. */
export const IdOf = (description: string) =>
  t.String({ pattern: ID_PATTERN, description, errorMessage: ID_MESSAGE });
export const Id = IdOf(`numeric id, 1 to ${MAX_ID}`);
/** A keyset cursor is the last id of the previous page: the same rule as an id. */
export const Cursor = IdOf("next_cursor of the previous page");
export { CurrencyCode as Currency } from "@roundtrip/contracts";
/** The largest PostgreSQL integer: a count stored in an `integer` column (caps, windows). */
export const MAX_INT4 = 2_147_483_647;
/** A count kept in an `integer` column: past its range is a 400, never a failed insert. */
export const Count = (options: { minimum: number; description?: string }) =>
  t.Integer({ maximum: MAX_INT4, ...options });
export const Decimal = t.String({
  pattern: "^\\d{1,14}(\\.\\d{1,6})?$",
  description: "non-negative decimal",
});
export const EventCode = t.String({
  pattern: "^[a-z0-9_]{1,40}$",
  description: "event code, e.g. registration, ftd",
});
export const Status = t.Union([t.Literal("active"), t.Literal("paused")], {
  description: "paused = stops new clicks",
});
export const Timestamp = t.String({
  pattern: "^\\d{4}-\\d{2}-\\d{2}([T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,6})?)?(Z|[+-]\\d{2}:?\\d{2})?)?$",
  description: "ISO 8601 date or date-time",
});
export const IdParams = t.Object({ id: Id });

// A field a schema does not take is refused by name (an update that silently ignores a field is
// worse than an error); Never is only ever used for that here. A schema may say in words what a
// long pattern means (`errorMessage`), e.g. an id's range.
SetErrorFunction((e) => {
  if (e.errorType === ValueErrorType.Never) return "is not a field that can be set here";
  if (e.errorType === ValueErrorType.StringPattern && typeof e.schema.errorMessage === "string")
    return e.schema.errorMessage;
  return DefaultErrorFunction(e);
});

/** A request body that refuses any field it does not define, naming it. */
export const Strict = <P extends TProperties>(properties: P, options: { description?: string } = {}) =>
  t.Object(properties, { ...options, additionalProperties: t.Never() });
export const Page = {
  cursor: t.Optional(Cursor),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 500, default: 100, description: "page size" })),
  order: t.Optional(t.Union([t.Literal("asc"), t.Literal("desc")], { description: "by id; default asc" })),
};
export type PageQuery = {
  cursor?: string;
  limit?: number;
  order?: "asc" | "desc";
  q?: string;
  sort?: string;
};

/**
 * `q`: search a list on the server (every page, not only the one shown): a case-insensitive part
 * of any of the columns a route names (docs/console.md, "Lists").
 */
export const Search = (what: string) => ({
  q: t.Optional(
    t.String({ minLength: 1, maxLength: 200, description: `search: a case-insensitive part of ${what}` }),
  ),
});
/**
 * `sort`: order a list by one of these columns (never null), then by id, in `order`. Pages stay
 * keyset pages: the cursor is still the last row's id, and the next page starts after that row's
 * (column, id).
 */
export const SortBy = (...columns: [string, ...string[]]) => ({
  sort: t.Optional(
    t.Union(
      columns.map((c) => t.Literal(c)),
      { description: `order by ${columns.join(", ")} (then id), in \`order\`; default id` },
    ),
  ),
});

/** `ilike` text for a search: the caller's %, _ and \\ are matched as themselves. */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The conditions given, joined by `and` (undefined when none is). */
export function allOf(sql: Sql, ...parts: (Fragment | undefined)[]): Fragment | undefined {
  const given = parts.filter((x): x is Fragment => x !== undefined);
  if (given.length === 0) return undefined;
  return given.reduce((a, b) => sql`${a} and ${b}` as Fragment);
}

/**
 * The search condition: `q` is a part of one of `columns` (cast to text). The route passes only
 * columns the caller may read (`visibleColumns`), so a search never reveals a hidden value
 * through the rows it matches. Undefined without a search.
 */
export function searchWhere(sql: Sql, q: string | undefined, columns: string[]): Fragment | undefined {
  if (!q || columns.length === 0) return undefined;
  const pattern = likePattern(q);
  const any = columns.map((c) => sql`${sql(c)}::text ilike ${pattern}`).reduce((a, b) => sql`${a} or ${b}`);
  return sql`(${any})` as Fragment;
}

export type Paged<T> = { data: T[]; next_cursor: string | null };
type Fragment = postgres.PendingQuery<postgres.Row[]>;
/** How a read path shows a row to its caller: `view(resource, principal)` from visibility.ts. */
export type Show = (row: postgres.Row) => postgres.Row;

/** Keyset pagination over identity IDs: stable under inserts, no OFFSET scans. */
export function page<T extends { id: string }>(rows: T[], limit: number): Paged<T> {
  const data = rows.slice(0, limit);
  return { data, next_cursor: rows.length > limit ? (data[data.length - 1]?.id ?? null) : null };
}

/**
 * `select * from <table> where <column = value …> [and extra] and id > cursor order by id` —
 * table and column names come from code (identifiers escaped by the client), values are
 * parameters. `extra` is a fragment built by the caller with the same tagged template. Every row
 * leaves through `show` (the caller's role allow-list).
 */
export async function listRows(
  sql: Sql,
  table: string,
  filters: Record<string, string | number | boolean | undefined | null>,
  query: PageQuery,
  show: Show,
  extra?: Fragment,
) {
  const limit = query.limit ?? 100;
  const desc = query.order === "desc";
  const dir = desc ? sql`desc` : sql`asc`;
  // The route's TypeBox schema allowed only its own never-null columns (SortBy).
  const sort = query.sort;
  let where: Fragment;
  if (!query.cursor) where = sql`true` as Fragment;
  else if (!sort) where = (desc ? sql`id < ${query.cursor}` : sql`id > ${query.cursor}`) as Fragment;
  else {
    const after = sql`((select ${sql(sort)} from ${sql(table)} where id = ${query.cursor}), ${query.cursor}::bigint)`;
    where = (desc ? sql`(${sql(sort)}, id) < ${after}` : sql`(${sql(sort)}, id) > ${after}`) as Fragment;
  }
  for (const [column, value] of Object.entries(filters)) {
    if (value !== undefined && value !== null)
      where = sql`${where} and ${sql(column)} = ${value}` as Fragment;
  }
  if (extra) where = sql`${where} and ${extra}` as Fragment;
  const rows = await sql`
    select * from ${sql(table)} where ${where}
    order by ${sort ? sql`${sql(sort)} ${dir}, ` : sql``}id ${dir} limit ${limit + 1}`;
  // The cursor is the last raw row's id, whatever the caller may see of it.
  const paged = page(rows as unknown as { id: string }[], limit);
  return { data: paged.data.map((r) => show(r as postgres.Row)), next_cursor: paged.next_cursor };
}

export async function getRow(
  sql: Sql,
  table: string,
  id: string,
  show: Show,
  scope: Record<string, string | null> = {},
  extra?: Fragment,
) {
  let where = sql`id = ${id}`;
  for (const [column, value] of Object.entries(scope))
    if (value !== null) where = sql`${where} and ${sql(column)} = ${value}`;
  if (extra) where = sql`${where} and ${extra}`;
  const [row] = await sql`select * from ${sql(table)} where ${where}`;
  if (!row) throw notFound(table);
  return show(row);
}

export function notFound(table: string): HttpError {
  return new HttpError(404, "not_found", `no such ${table.replace(/_/g, "-").replace(/s$/, "")}`, "id");
}

/**
 * A PATCH: the row is locked, changed, audited with before and after in the same transaction,
 * then announced so the click and gateway caches reload (within a second). `check` may refuse
 * the change after seeing the current row.
 */
export async function patchRow(
  sql: Sql,
  bus: Bus | null,
  principal: Principal,
  spec: {
    table: string;
    resource: string;
    id: string;
    changes: Record<string, unknown>;
    check?: (tx: postgres.TransactionSql, before: postgres.Row) => Promise<void> | void;
  },
) {
  assertCanWrite(principal);
  const changes = Object.fromEntries(Object.entries(spec.changes).filter(([, v]) => v !== undefined));
  if (Object.keys(changes).length === 0)
    throw new HttpError(400, "invalid_request", "nothing to change", "(body)");
  const row = await sql.begin(async (tx) => {
    const [before] = await tx`select * from ${tx(spec.table)} where id = ${spec.id} for update`;
    if (!before) throw notFound(spec.table);
    await spec.check?.(tx, before);
    const values = Object.fromEntries(
      Object.entries(changes).map(([k, v]) => [
        k,
        v !== null && typeof v === "object" ? tx.json(v as never) : v,
      ]),
    );
    const [after] =
      await tx`update ${tx(spec.table)} set ${tx(values as Record<string, never>)} where id = ${spec.id} returning *`;
    if (!after) throw notFound(spec.table);
    await audit(tx, {
      actor: actor(principal),
      action: "update",
      resource: spec.resource,
      id: spec.id,
      before: withoutSecrets(before),
      after: withoutSecrets(after),
    });
    return after;
  });
  if (bus) await announce(bus, spec.resource, spec.id);
  return withoutSecrets(row);
}

/** `2026-03-01` or a date-time → Date; a bad one is a 400 naming the field. */
export function parseTime(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(d.getTime()))
    throw new HttpError(400, "invalid_request", `${field}: not a valid date`, field);
  return d;
}
