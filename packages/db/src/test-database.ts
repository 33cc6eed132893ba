import postgres from "postgres";
import { createSql, type Sql } from "./client.ts";
import { listMigrations, migrate } from "./migrate.ts";

export type TestDatabase = { url: string; name: string; sql: Sql; drop(): Promise<void> };

const TEMPLATE_LOCK_ID = 7_242_002;

function adminUrl(): string {
  return process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * A fresh, fully migrated database for one test file. The schema is migrated once into a template
 * named after the migrations' checksum, then each call copies it (`CREATE DATABASE … TEMPLATE`),
 * which takes milliseconds instead of re-running every migration.
 */
export async function createTestDatabase(label = "t"): Promise<TestDatabase> {
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  try {
    const template = await ensureTemplate(admin);
    const name = `rt_${label
      .replace(/[^a-z0-9]/gi, "")
      .toLowerCase()
      .slice(0, 20)}_${crypto.randomUUID().slice(0, 8)}`;
    await admin.unsafe(`create database ${name} template ${template}`);
    const url = withDatabase(adminUrl(), name);
    const sql = createSql(url, { max: 5, application: "roundtrip-test" });
    return {
      url,
      name,
      sql,
      async drop() {
        await sql.end({ timeout: 1 });
        const a = postgres(adminUrl(), { max: 1, onnotice: () => {} });
        try {
          await a.unsafe(`drop database if exists ${name} with (force)`);
        } finally {
          await a.end();
        }
      },
    };
  } finally {
    await admin.end();
  }
}

async function ensureTemplate(admin: Sql): Promise<string> {
  const digest = new Bun.CryptoHasher("sha256");
  for (const m of listMigrations()) digest.update(m.checksum);
  const template = `rt_template_${digest.digest("hex").slice(0, 12)}`;
  const [{ exists }] =
    (await admin`select exists(select 1 from pg_database where datname = ${template})`) as unknown as [
      { exists: boolean },
    ];
  if (exists) return template;
  const conn = await admin.reserve();
  try {
    await conn`select pg_advisory_lock(${TEMPLATE_LOCK_ID})`;
    const [row] = await conn`select 1 from pg_database where datname = ${template}`;
    if (!row) {
      const building = `${template}_build_${process.pid}`;
      await conn.unsafe(`drop database if exists ${building}`);
      await conn.unsafe(`create database ${building}`);
      const sql = createSql(withDatabase(adminUrl(), building), { max: 1 });
      try {
        await migrate(sql);
      } finally {
        await sql.end();
      }
      // Renamed only when complete, so a crashed build never leaves a half-migrated template.
      await conn.unsafe(`alter database ${building} rename to ${template}`);
    }
  } finally {
    await conn`select pg_advisory_unlock(${TEMPLATE_LOCK_ID})`.catch(() => {});
    conn.release();
  }
  return template;
}
