import { expect, test } from "bun:test";
import { appendFileSync, chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
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

test(
  "a second embedded PostgreSQL runs beside the first: a free port instead of the taken one, socket and lock in its own data directory",
  async () => {
    const dir = tempDir("stack-pg-beside-");
    const statuses: string[] = [];
    const started: Awaited<ReturnType<typeof ensurePostgres>>[] = [];
    try {
      const first = await ensurePostgres(undefined, {
        dataDir: join(dir, "a", "postgres"),
        preferredPort: freePort(),
        database: "rt_a",
      });
      started.push(first);
      const firstPort = Number(new URL(first.url).port);
      const second = await ensurePostgres(undefined, {
        dataDir: join(dir, "b", "postgres"),
        preferredPort: firstPort,
        database: "rt_b",
        onStatus: (m) => statuses.push(m),
      });
      started.push(second);
      const secondPort = Number(new URL(second.url).port);
      expect(secondPort).not.toBe(firstPort);
      // Says which port was taken and by what (ss names our own child processes).
      expect(statuses.join("\n")).toContain(`port ${firstPort} is taken by postgres (pid `);
      for (const [pg, name, port] of [
        [first, "a", firstPort],
        [second, "b", secondPort],
      ] as const) {
        expect((await probePostgres(pg.url)).ok).toBe(true);
        expect(existsSync(join(dir, name, "postgres", `.s.PGSQL.${port}`))).toBe(true);
        expect(existsSync(join(dir, name, "postgres", `.s.PGSQL.${port}.lock`))).toBe(true);
        expect(existsSync(`/tmp/.s.PGSQL.${port}.lock`)).toBe(false);
      }
      // A second ensure on the same data directory reuses the running cluster instead of failing on its lock.
      const again = await ensurePostgres(undefined, {
        dataDir: join(dir, "a", "postgres"),
        database: "rt_a",
      });
      expect(again.started).toBe(false);
      expect(again.url).toBe(first.url);
    } finally {
      for (const pg of started) await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
  { timeout: 240_000 },
);

test(
  "an embedded PostgreSQL that cannot start says why (PostgreSQL's own FATAL line), never `undefined`",
  async () => {
    const dir = tempDir("stack-pg-fail-");
    const dataDir = join(dir, "postgres");
    try {
      const pg = await ensurePostgres(undefined, { dataDir, port: freePort(), database: "rt_fail" });
      await pg.stop();
      appendFileSync(join(dataDir, "postgresql.conf"), "\nshared_buffers = 'not a size'\n");
      const failure = await ensurePostgres(undefined, {
        dataDir,
        port: freePort(),
        database: "rt_fail",
      }).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(failure?.message).toContain(
        "embedded PostgreSQL exited before it was ready (PostgreSQL did not start",
      );
      expect(failure?.message).toContain("shared_buffers");
      expect(failure?.message).not.toContain("undefined");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  { timeout: 180_000 },
);

test("a fixed port that is taken is refused up front, naming who holds it", async () => {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const failure = await ensurePostgres(undefined, {
      dataDir: join(tmpdir(), "never-created"),
      port: listener.port,
    }).then(
      () => undefined,
      (err: Error) => err,
    );
    // The holder is named as the system sees it: `bun`, or `bun.exe` where npm installed Bun.
    expect(failure?.message).toMatch(
      new RegExp(
        `^PostgreSQL: port ${listener.port} is taken by bun(\\.exe)? \\(pid ${process.pid}\\); stop it or choose another port$`,
      ),
    );
  } finally {
    listener.stop(true);
  }
});
