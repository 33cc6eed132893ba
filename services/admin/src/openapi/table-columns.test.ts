import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase } from "@roundtrip/db";
import { ROW_TABLES } from "./row-tables.ts";
import { readTableColumns, renderTableColumns } from "./table-columns.ts";

test("the response schemas' columns are the migrated schema's (else: bun services/admin/src/openapi/table-columns-gen.ts)", async () => {
  const db = await createTestDatabase("columns");
  try {
    const current = renderTableColumns(await readTableColumns(db.sql, ROW_TABLES));
    const committed = readFileSync(join(import.meta.dir, "table-columns.gen.ts"), "utf8");
    expect(
      committed,
      "a migration changed a table: run bun services/admin/src/openapi/table-columns-gen.ts",
    ).toBe(current);
    expect(Object.keys(await readTableColumns(db.sql, ROW_TABLES)).sort()).toEqual([...ROW_TABLES].sort());
  } finally {
    await db.drop();
  }
});
