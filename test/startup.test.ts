import { afterAll, describe, expect, test } from "bun:test";
import { createTestDatabase, type TestDatabase } from "@roundtrip/db";
import { SERVICE_NAMES, startStack, stop } from "@roundtrip/stack";
import { CLICK_ID_KEYS, NATS_URL } from "./support/test-stack.ts";

const dbs: TestDatabase[] = [];
afterAll(async () => {
  for (const db of dbs) await db.drop();
});

describe("service start-up and shutdown", () => {
  test.each([...SERVICE_NAMES])(
    "%s refuses to start without its configuration and names the variable",
    async (name) => {
      const proc = Bun.spawn([process.execPath, `services/${name}/src/index.ts`], {
        env: { PATH: process.env.PATH ?? "", NATS_URL, CLICK_ID_KEYS },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
      expect(code).toBe(78);
      expect(stderr).toContain("DATABASE_URL is required");
    },
  );

  test("a bad value stops start-up with the variable's name", async () => {
    const proc = Bun.spawn([process.execPath, "services/click/src/index.ts"], {
      env: {
        PATH: process.env.PATH ?? "",
        NATS_URL,
        DATABASE_URL: "postgres://x/y",
        CLICK_ID_KEYS,
        PORT: "http",
      },
      stderr: "pipe",
    });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(code).toBe(78);
    expect(stderr).toContain("PORT is invalid");
  });

  test("SIGTERM drains and exits 0", async () => {
    const db = await createTestDatabase("startup");
    dbs.push(db);
    const stack = await startStack({
      databaseUrl: db.url,
      natsUrl: NATS_URL,
      busPrefix: `startup_${crypto.randomUUID().slice(0, 8)}`,
      ports: "free",
      services: ["gateway"],
      env: { CLICK_ID_KEYS, LOG_LEVEL: "info" },
    });
    const handle = stack.services.gateway;
    const result = await stop(handle, 10_000);
    expect(result).toMatchObject({ exitCode: 0, killed: false });
    expect(handle.logTail(20)).toContain('"msg":"stopped"');
  });
});
