import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TestDatabase } from "@roundtrip/db";
import { handleOnce, pruneInbox } from "./inbox.ts";
import { testDatabase } from "./test-support.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await testDatabase("bus_inbox");
});
afterAll(() => db.drop());

const effects = async (id: string) =>
  Number((await db.sql`select count(*)::int as n from bus_test_effects where message_id = ${id}`)[0]?.n);

describe("handleOnce", () => {
  test("runs the effect once per (consumer, message) and reports the repeat as a duplicate", async () => {
    const key = { consumer: "c1", messageId: "m-1" };
    const run = () =>
      handleOnce(db.sql, key, (tx) => tx`insert into bus_test_effects values ('m-1', 'x') returning 1`);
    expect((await run()).duplicate).toBe(false);
    expect(await run()).toEqual({ duplicate: true });
    expect(await effects("m-1")).toBe(1);
    // The same message for another consumer is a different effect.
    const other = await handleOnce(db.sql, { consumer: "c2", messageId: "m-1" }, async () => "ok");
    expect(other).toEqual({ duplicate: false, result: "ok" });
  });

  test("a failing effect rolls back its inbox row too, so the retry does the work", async () => {
    const key = { consumer: "c1", messageId: "m-2" };
    await expect(
      handleOnce(db.sql, key, async (tx) => {
        await tx`insert into bus_test_effects values ('m-2', 'first try')`;
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await effects("m-2")).toBe(0);
    const retry = await handleOnce(
      db.sql,
      key,
      (tx) => tx`insert into bus_test_effects values ('m-2', 'retry')`,
    );
    expect(retry.duplicate).toBe(false);
    expect(await effects("m-2")).toBe(1);
  });

  test("two replicas handling the same message at once produce one effect", async () => {
    const key = { consumer: "c1", messageId: "m-3" };
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        handleOnce(db.sql, key, async (tx) => {
          await tx`insert into bus_test_effects values ('m-3', 'race')`;
          await Bun.sleep(50); // hold the row lock while the others queue behind it
        }),
      ),
    );
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(await effects("m-3")).toBe(1);
  });

  test("pruneInbox removes old rows only", async () => {
    await db.sql`insert into bus_inbox (consumer, message_id, handled_at) values ('c9', 'old', now() - interval '8 days')`;
    await db.sql`insert into bus_inbox (consumer, message_id) values ('c9', 'new')`;
    expect(await pruneInbox(db.sql)).toBe(1);
    const left = await db.sql`select message_id from bus_inbox where consumer = 'c9'`;
    expect(left.map((r) => r.message_id)).toEqual(["new"]);
  });

  test("pruneInbox removes a backlog larger than one batch in one pass, and keeps an owed event's proof", async () => {
    await db.sql`
      insert into bus_inbox (consumer, message_id, handled_at)
      select 'c8', 'old-' || n, now() - interval '8 days' from generate_series(1, 2345) as n`;
    await db.sql`insert into bus_outbox (subject, stream, msg_id, payload) values ('x', 'CLICKS', 'old-7', '{}')`;
    try {
      expect(await pruneInbox(db.sql, { batch: 500 })).toBe(2_344);
      const left = await db.sql`select message_id from bus_inbox where consumer = 'c8'`;
      expect(left.map((r) => r.message_id)).toEqual(["old-7"]);
    } finally {
      await db.sql`delete from bus_outbox`;
    }
  });
});
