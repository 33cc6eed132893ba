import { expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { ensureNats, ensurePostgres } from "./embedded.ts";
import { freePort } from "./ports.ts";
import { probeNats, probePostgres } from "./probe.ts";

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // As root, PostgreSQL runs as `postgres`, which must be able to enter the directory.
  chmodSync(dir, 0o755);
  return dir;
}

test(
  "embedded PostgreSQL starts on a fresh data directory, answers select 1, and stops",
  async () => {
    const dir = tempDir("stack-pg-");
    try {
      const pg = await ensurePostgres(undefined, {
        dataDir: join(dir, "data"),
        port: freePort(),
        database: "rt_test",
      });
      expect(pg.started).toBe(true);
      expect(pg.url).toEndWith("/rt_test");
      const sql = postgres(pg.url, { max: 1 });
      try {
        const [row] = await sql`select 1 as one, current_database() as db`;
        expect(row).toEqual({ one: 1, db: "rt_test" });
      } finally {
        await sql.end();
      }
      await pg.stop();
      expect(pg.process?.running).toBe(false);
      expect((await probePostgres(pg.url)).ok).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  { timeout: 120_000 },
);

test.skipIf(!Bun.which("nats-server"))(
  "a local nats-server is started with JetStream and stopped",
  async () => {
    const dir = tempDir("stack-nats-");
    try {
      const nats = await ensureNats("nats://127.0.0.1:1", { storeDir: dir, port: freePort() });
      expect(nats.started).toBe(true);
      const probe = await probeNats(nats.url);
      expect(probe.ok && probe.jetstream).toBe(true);
      await nats.stop();
      expect((await probeNats(nats.url)).ok).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
