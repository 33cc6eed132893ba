import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Sql } from "./client.ts";

export const MIGRATIONS_DIR = join(import.meta.dir, "..", "migrations");

export type Migration = { version: number; name: string; file: string; sql: string; checksum: string };

// Any constant works; it only has to be the same for every runner so they serialise.
const MIGRATION_LOCK_ID = 7_242_001;

/** Reads `NNNN_name.sql` files in order; a reused number is a bug in the repository, so it throws. */
export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .map((file) => {
      const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
      if (!match) throw new Error(`migration file name must look like 0001_name.sql: ${file}`);
      const sql = readFileSync(join(dir, file), "utf8");
      return {
        version: Number(match[1]),
        name: match[2] as string,
        file,
        sql,
        checksum: new Bun.CryptoHasher("sha256").update(sql).digest("hex"),
      };
    })
    .sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    const [prev, cur] = [migrations[i - 1], migrations[i]];
    if (prev && cur && prev.version === cur.version) {
      throw new Error(`migration number ${cur.version} is used twice: ${prev.file}, ${cur.file}`);
    }
  }
  return migrations;
}

/**
 * Applies every migration not yet recorded, each in its own transaction with its record.
 * A session advisory lock makes concurrent runners (several replicas, a Helm hook) queue up:
 * the second one finds everything applied and does nothing.
 */
export async function migrate(sql: Sql, dir = MIGRATIONS_DIR): Promise<{ applied: string[] }> {
  const migrations = listMigrations(dir);
  // One transaction for the whole run, serialised by a transaction-scoped advisory lock: concurrent
  // runners (several replicas, a Helm hook) queue up, and the second finds everything applied.
  // A failing migration rolls back the run and leaves the schema as it was.
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`;
    await tx`
      create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`;
    const rows = await tx<
      { version: number; checksum: string }[]
    >`select version, checksum from schema_migrations`;
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    const applied: string[] = [];
    for (const m of migrations) {
      const recorded = done.get(m.version);
      if (recorded !== undefined) {
        if (recorded !== m.checksum) {
          throw new Error(
            `migration ${m.file} was changed after it was applied; add a new migration instead`,
          );
        }
        continue;
      }
      await tx.unsafe(m.sql);
      await tx`insert into schema_migrations (version, name, checksum) values (${m.version}, ${m.name}, ${m.checksum})`;
      applied.push(m.file);
    }
    return { applied };
  });
}
