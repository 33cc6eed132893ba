import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createSql, type Sql } from "./client.ts";
import { listMigrations, migrate } from "./migrate.ts";

const adminUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const name = `rt_migrate_${crypto.randomUUID().slice(0, 8)}`;
const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
let admin: Sql;

beforeAll(async () => {
  admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
});
afterAll(async () => {
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.end();
});

describe("migrations", () => {
  test("two runners started at once apply each migration exactly once", async () => {
    const [a, b] = [createSql(url, { max: 2 }), createSql(url, { max: 2 })];
    try {
      const results = await Promise.all([migrate(a), migrate(b)]);
      const applied = results.flatMap((r) => r.applied);
      const files = listMigrations().map((m) => m.file);
      // Every file applied by exactly one of the two runners.
      expect(applied.sort()).toEqual([...files].sort());
      const rows = await a`select version from schema_migrations order by version`;
      expect(rows.map((r) => r.version)).toEqual(listMigrations().map((m) => m.version));
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });

  test("a second run changes nothing", async () => {
    const sql = createSql(url, { max: 1 });
    try {
      const before = await sql`select version, applied_at from schema_migrations order by version`;
      const { applied } = await migrate(sql);
      expect(applied).toEqual([]);
      const after = await sql`select version, applied_at from schema_migrations order by version`;
      expect(after).toEqual(before);
    } finally {
      await sql.end();
    }
  });

  test("a migration edited after it was applied is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rt-mig-"));
    const first = listMigrations()[0];
    if (!first) throw new Error("the repository has no migrations");
    writeFileSync(join(dir, first.file), `${first.sql}\n-- edited`);
    const sql = createSql(url, { max: 1 });
    try {
      await expect(migrate(sql, dir)).rejects.toThrow(/changed after it was applied/);
    } finally {
      await sql.end();
    }
  });

  test("a reused migration number is rejected", () => {
    const dir = mkdtempSync(join(tmpdir(), "rt-mig-"));
    writeFileSync(join(dir, "0001_a.sql"), "select 1;");
    writeFileSync(join(dir, "0001_b.sql"), "select 2;");
    expect(() => listMigrations(dir)).toThrow(/used twice/);
  });

  test("the repository's migrations have unique numbers", () => {
    expect(() => listMigrations()).not.toThrow();
  });
});
