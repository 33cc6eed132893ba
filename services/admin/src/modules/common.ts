import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { t } from "elysia";

/** Shapes shared by the admin modules. IDs are strings: bigint must not pass through a float. */
export const Id = t.String({ pattern: "^[1-9]\\d{0,18}$", description: "numeric id" });
export const Currency = t.String({ pattern: "^[A-Z]{3}$", description: "ISO 4217 code" });
export const Decimal = t.String({
  pattern: "^\\d{1,14}(\\.\\d{1,6})?$",
  description: "non-negative decimal",
});
export const IdParams = t.Object({ id: Id });
export const Page = {
  cursor: t.Optional(t.String({ pattern: "^\\d{1,19}$", description: "next_cursor of the previous page" })),
  limit: t.Optional(t.Numeric({ minimum: 1, maximum: 500, default: 100 })),
};

export type Paged<T> = { data: T[]; next_cursor: string | null };

/** Keyset pagination over identity IDs: stable under inserts, no OFFSET scans. */
export function page<T extends { id: string }>(rows: T[], limit: number): Paged<T> {
  const data = rows.slice(0, limit);
  return { data, next_cursor: rows.length > limit ? (data[data.length - 1]?.id ?? null) : null };
}

/**
 * `select * from <table> where <column = value …> and id > cursor order by id` — table and
 * column names come from code (identifiers escaped by the client), values are parameters.
 */
export async function listRows(
  sql: Sql,
  table: string,
  filters: Record<string, string | number | undefined | null>,
  query: { cursor?: string; limit?: number },
) {
  const limit = query.limit ?? 100;
  let where = sql`id > ${query.cursor ?? "0"}`;
  for (const [column, value] of Object.entries(filters)) {
    if (value !== undefined && value !== null) where = sql`${where} and ${sql(column)} = ${value}`;
  }
  const rows = await sql`select * from ${sql(table)} where ${where} order by id limit ${limit + 1}`;
  return page(rows.map(withoutSecrets) as { id: string }[], limit);
}

export async function getRow(sql: Sql, table: string, id: string, scope: Record<string, string | null> = {}) {
  let where = sql`id = ${id}`;
  for (const [column, value] of Object.entries(scope))
    if (value !== null) where = sql`${where} and ${sql(column)} = ${value}`;
  const [row] = await sql`select * from ${sql(table)} where ${where}`;
  if (!row)
    throw new HttpError(404, "not_found", `no such ${table.replace(/_/g, "-").replace(/s$/, "")}`, "id");
  return withoutSecrets(row);
}

// Secrets are write-only: hashes and secrets never leave the database through the API.
const SECRET_COLUMNS = ["token_hash", "key_hash", "secret", "secrets"];

export function withoutSecrets<T extends Record<string, unknown>>(row: T): T {
  const copy: Record<string, unknown> = { ...row };
  for (const c of SECRET_COLUMNS) delete copy[c];
  return copy as T;
}
