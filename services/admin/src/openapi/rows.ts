/**
 * Response schemas for rows, built from the migrated schema (table-columns.gen.ts) so they cannot
 * drift from what a `select *` returns: bigint and numeric are strings (never through a float),
 * times are ISO 8601 strings, secrets are never there. A column is required when it is never
 * null and every role that may read the resource sees it (visibility.ts).
 */
import type { TObject, TProperties, TSchema } from "@sinclair/typebox";
import { t } from "elysia";
import { SECRET_COLUMNS, VISIBILITY } from "../visibility.ts";
import type { RowTable } from "./row-tables.ts";
import { TABLE_COLUMNS } from "./table-columns.gen.ts";

const ID = "^[1-9][0-9]{0,18}$";

function columnSchema(name: string, udt: string): TSchema {
  if (udt.startsWith("_")) return t.Array(columnSchema(name, udt.slice(1)));
  switch (udt) {
    case "int8":
      return name === "id" || name.endsWith("_id")
        ? t.String({ pattern: ID, description: "id (a bigint, as a string)" })
        : t.String({ pattern: "^-?[0-9]+$", description: "a bigint, as a string" });
    case "int2":
    case "int4":
      return t.Integer();
    case "numeric":
      return t.String({ pattern: "^-?[0-9]+(\\.[0-9]+)?$", description: "decimal, as a string" });
    case "float4":
    case "float8":
      return t.Number();
    case "bool":
      return t.Boolean();
    case "timestamptz":
    case "timestamp":
      return t.String({ format: "date-time" });
    case "date":
      return t.String({ format: "date" });
    case "json":
    case "jsonb":
      return t.Unknown({ description: "JSON" });
    default:
      return t.String();
  }
}

/** Columns every reader of `table` sees, or undefined when staff only (then: all of them). */
function seenByEveryone(table: string): readonly string[] | undefined {
  const rule = (VISIBILITY as Record<string, { affiliate: unknown } | undefined>)[table];
  return Array.isArray(rule?.affiliate) ? (rule.affiliate as readonly string[]) : undefined;
}

/**
 * The schema of a row of `table` as admin answers it; `extra` adds fields a route joins in
 * (an offer's events, a link's tracking URL), `omit` drops columns a route does not return.
 */
export function Row<E extends TProperties = TProperties>(
  table: RowTable,
  options: { extra?: E; omit?: readonly string[]; title?: string; description?: string } = {},
): TObject {
  const columns = TABLE_COLUMNS[table] as Record<string, string>;
  const everyone = seenByEveryone(table);
  const properties: TProperties = {};
  for (const [name, type] of Object.entries(columns)) {
    if (SECRET_COLUMNS.includes(name) || options.omit?.includes(name)) continue;
    const nullable = type.endsWith("?");
    const schema = columnSchema(name, nullable ? type.slice(0, -1) : type);
    const required = !nullable && (everyone === undefined || everyone.includes(name));
    const value = nullable ? t.Union([schema, t.Null()]) : schema;
    properties[name] = required ? value : t.Optional(value);
  }
  Object.assign(properties, options.extra);
  return t.Object(properties, {
    title: options.title ?? table,
    ...(options.description ? { description: options.description } : {}),
  });
}

/** A page of a list: `{ data, next_cursor }` (keyset pagination). */
export const Paged = (row: TSchema) =>
  t.Object({
    data: t.Array(row),
    next_cursor: t.Union([t.String({ pattern: ID }), t.Null()], {
      description: "pass as `cursor` for the next page; null on the last page",
    }),
  });
