import { afterAll, describe, expect, test } from "bun:test";
import { createSql } from "./client.ts";

const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const sql = createSql(url, {
  max: 3,
  application: "rt-client-test",
  settings: { plan_cache_mode: "force_custom_plan" },
});
afterAll(() => sql.end());

describe("createSql", () => {
  test("every connection of the pool starts with the settings given (admin's plan_cache_mode)", async () => {
    // Three at once: each on its own connection of the pool.
    const shown = await Promise.all(
      [1, 2, 3].map(() =>
        sql.begin(async (tx) => {
          const [row] = await tx`select current_setting('plan_cache_mode') as mode, pg_backend_pid() as pid,
            current_setting('application_name') as app, pg_sleep(0.05)`;
          return row as { mode: string; pid: number; app: string };
        }),
      ),
    );
    expect(new Set(shown.map((r) => r.pid)).size).toBe(3);
    expect(shown.map((r) => [r.mode, r.app])).toEqual([
      ["force_custom_plan", "rt-client-test"],
      ["force_custom_plan", "rt-client-test"],
      ["force_custom_plan", "rt-client-test"],
    ]);
    const plain = createSql(url, { max: 1 });
    const [row] = await plain`select current_setting('plan_cache_mode') as mode`;
    expect(row?.mode).toBe("auto");
    await plain.end();
  });
});
