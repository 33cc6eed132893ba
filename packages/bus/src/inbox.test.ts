import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TestDatabase } from "@roundtrip/db";
import fc from "fast-check";
import { handleBatchOnce, handleOnce, pruneInbox } from "./inbox.ts";
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

describe("handleBatchOnce", () => {
  // The effect writes one row per fresh id, so a count per id says how often it was applied.
  const applyBatch = (consumer: string, ids: string[], hold = 0) =>
    handleBatchOnce(
      db.sql,
      consumer,
      ids,
      (id) => id,
      async (tx, fresh) => {
        await tx`insert into bus_test_effects select id, ${consumer} from unnest(${tx.array(fresh)}::text[]) as id`;
        if (hold) await Bun.sleep(hold);
        return fresh.length;
      },
    );
  const applied = async (consumer: string) =>
    (
      await db.sql<{ message_id: string; n: number }[]>`
        select message_id, count(*)::int as n from bus_test_effects where note = ${consumer}
        group by message_id order by message_id`
    ).map((r) => [r.message_id, r.n]);

  test("a redelivered batch is all duplicates; a partly overlapping one applies only what is new", async () => {
    expect(await applyBatch("b1", ["a", "b", "c"])).toEqual({
      fresh: ["a", "b", "c"],
      duplicates: [],
      result: 3,
    });
    expect(await applyBatch("b1", ["c", "a", "b"])).toEqual({ fresh: [], duplicates: ["c", "a", "b"] });
    // A repeat inside one batch (a re-published copy fetched with its original) counts once.
    expect(await applyBatch("b1", ["c", "d", "e", "d"])).toEqual({
      fresh: ["d", "e"],
      duplicates: ["c", "d"],
      result: 2,
    });
    expect(await applied("b1")).toEqual([
      ["a", 1],
      ["b", 1],
      ["c", 1],
      ["d", 1],
      ["e", 1],
    ]);
    // One inbox row per message applied, whichever batch applied it.
    const rows = await db.sql`select message_id from bus_inbox where consumer = 'b1' order by message_id`;
    expect(rows.map((r) => r.message_id)).toEqual(["a", "b", "c", "d", "e"]);
  });

  test("a message handleOnce recorded is a duplicate for a batch, and the other way round", async () => {
    await handleOnce(db.sql, { consumer: "b2", messageId: "x" }, async () => {});
    expect(await applyBatch("b2", ["x", "y"])).toMatchObject({ fresh: ["y"], duplicates: ["x"] });
    expect(await handleOnce(db.sql, { consumer: "b2", messageId: "y" }, async () => {})).toEqual({
      duplicate: true,
    });
  });

  test("a failing effect marks nothing handled", async () => {
    await expect(
      handleBatchOnce(
        db.sql,
        "b3",
        ["p", "q"],
        (id) => id,
        async () => {
          throw new Error("boom");
        },
      ),
    ).rejects.toThrow("boom");
    expect(await applyBatch("b3", ["q", "p"])).toMatchObject({ fresh: ["q", "p"], duplicates: [] });
  });

  test("overlapping batches handled at once by several replicas apply every message exactly once", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 15 }), { minLength: 1, maxLength: 8 }), {
          minLength: 2,
          maxLength: 6,
        }),
        async (batches) => {
          const consumer = `race-${run++}`;
          // All at once, each holding its locks a moment, in the generated (arbitrary) orders.
          const outcomes = await Promise.all(
            batches.map((b) =>
              applyBatch(
                consumer,
                b.map((n) => `m${n}`),
                5,
              ),
            ),
          );
          const everyId = [...new Set(batches.flat())].map((n) => `m${n}`).sort();
          expect((await applied(consumer)).map(([id]) => id)).toEqual(everyId);
          expect((await applied(consumer)).every(([, n]) => n === 1)).toBe(true);
          expect(outcomes.flatMap((o) => o.fresh).sort()).toEqual(everyId);
        },
      ),
      { numRuns: 25 },
    );
  });

  test("pruneInbox deletes old rows, but not one holding the proof of an owed event", async () => {
    await db.sql`delete from bus_inbox`;
    await db.sql`
      insert into bus_inbox (consumer, message_id, handled_at)
      select 'b9', 'old-' || n, now() - interval '8 days' from generate_series(1, 1200) as n`;
    await db.sql`insert into bus_inbox (consumer, message_id) values ('b9', 'recent')`;
    await db.sql`insert into bus_outbox (subject, stream, msg_id, payload) values ('x', 'CLICKS', 'old-77', '{}')`;
    try {
      expect(await pruneInbox(db.sql, { batch: 500 })).toBe(1199);
      const left = await db.sql`select message_id from bus_inbox where consumer = 'b9' order by message_id`;
      expect(left.map((r) => r.message_id)).toEqual(["old-77", "recent"]);
    } finally {
      await db.sql`delete from bus_outbox`;
    }
  });
});
