/** `bun services/admin/src/openapi/table-columns-gen.ts`: rewrite table-columns.gen.ts from a freshly migrated database. */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { createTestDatabase } from "@roundtrip/db";
import { ROW_TABLES } from "./row-tables.ts";
import { readTableColumns, renderTableColumns } from "./table-columns.ts";

const db = await createTestDatabase("columns");
try {
  const text = renderTableColumns(await readTableColumns(db.sql, ROW_TABLES));
  writeFileSync(resolve(import.meta.dir, "table-columns.gen.ts"), text);
  console.log("wrote table-columns.gen.ts");
} finally {
  await db.drop();
}
