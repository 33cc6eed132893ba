import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { TestDatabase } from "@roundtrip/db";
import { consume, type Delivery } from "./consume.ts";
import { listDeadLetters } from "./deadletter.ts";
import { PermanentError } from "./errors.ts";
import { handleBatchOnce } from "./inbox.ts";
import { publish } from "./publish.ts";
import { metricValue, quietLogger, type TestBus, testBus, testDatabase, waitFor } from "./test-support.ts";
import { type ConsumerName, subjects } from "./topology.ts";

const CONSUMER: ConsumerName = "attribution-clicks";
type Payload = { n: number; bad?: boolean };

let db: TestDatabase;
beforeAll(async () => {
  db = await testDatabase("bus_consume_batches");
});
afterAll(() => db.drop());

let t: TestBus | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
  await db.sql`delete from bus_test_effects`;
  await db.sql`delete from bus_inbox`;
});

async function start() {
  t = await testBus({ consumers: { [CONSUMER]: { backoffMs: [200, 400], maxDeliver: 4 } } });
  return t;
}

const consumed = (tb: TestBus, outcome: string) =>
  metricValue(tb.registry, "roundtrip_bus_messages_consumed_total", { consumer: CONSUMER, outcome });

async function publishAll(tb: TestBus, ids: string[], payload = (i: number): Payload => ({ n: i })) {
  await Promise.all(ids.map((id, i) => publish(tb.bus, subjects.clickRecorded(), payload(i), { msgId: id })));
}

// The effect: one row per fresh message, so a count per id says how often it was applied.
const applyOnce = (ds: Delivery<Payload>[]) =>
  handleBatchOnce(
    db.sql,
    CONSUMER,
    ds,
    (d) => d.msgId,
    async (tx, fresh) => {
      await tx`insert into bus_test_effects select id, 'x' from unnest(${tx.array(fresh.map((d) => d.msgId))}::text[]) as id`;
      return fresh.length;
    },
  );

async function appliedCounts(): Promise<Map<string, number>> {
  const rows = await db.sql<{ id: string; n: number }[]>`
    select message_id as id, count(*)::int as n from bus_test_effects group by message_id`;
  return new Map(rows.map((r) => [r.id, r.n]));
}

async function settledState(tb: TestBus) {
  await tb.bus.nc.flush();
  const ci = await tb.bus.jsm.consumers.info(tb.bus.names.stream("CLICKS"), CONSUMER);
  return { pending: ci.num_pending, ackPending: ci.num_ack_pending };
}

describe("consume with a batch handler", () => {
  test("messages that wait together are handled together: each applied once, one inbox row per message", async () => {
    const tb = await start();
    const ids = Array.from({ length: 60 }, (_, i) => `clicks:b${i}`);
    await publishAll(tb, ids);
    const sizes: number[] = [];
    const c = consume<Payload>(tb.bus, {
      consumer: CONSUMER,
      logger: quietLogger,
      concurrency: 2,
      maxBatch: 16,
      batchHandler: async (ds) => {
        sizes.push(ds.length);
        return applyOnce(ds);
      },
    });
    await waitFor(
      () => consumed(tb, "ack"),
      (n) => n === 60,
      { what: "60 messages acked", timeoutMs: 30_000 },
    );
    await c.stop();
    const applied = await appliedCounts();
    expect([...applied.keys()].sort()).toEqual([...ids].sort());
    expect([...applied.values()].every((n) => n === 1)).toBe(true);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(16);
    expect(sizes.length).toBeLessThan(60); // a backlog travels in batches, not message by message
    const rows = Number(
      (await db.sql`select count(*)::int as n from bus_inbox where consumer = ${CONSUMER}`)[0]?.n,
    );
    expect(rows).toBe(60);
    expect(await settledState(tb)).toEqual({ pending: 0, ackPending: 0 });
  });

  test("a batch that fails after part of it committed, and a message redelivered after its commit, are applied once", async () => {
    const tb = await start();
    const ids = Array.from({ length: 12 }, (_, i) => `clicks:r${i}`);
    await publishAll(tb, ids);
    let firstBatch = true;
    const c = consume<Payload>(tb.bus, {
      consumer: CONSUMER,
      logger: quietLogger,
      concurrency: 1,
      batchHandler: async (ds) => {
        if (firstBatch && ds.length > 1) {
          // The first half commits, then the handler dies: the loop splits the batch and
          // handles each message again alone, overlapping what did commit.
          firstBatch = false;
          await applyOnce(ds.slice(0, Math.ceil(ds.length / 2)));
          throw new Error("crashed half way");
        }
        const r = await applyOnce(ds);
        // Committed, then not acked: the server redelivers it after the ack deadline.
        if (ds.some((d) => d.msgId === "clicks:r11" && d.deliveryCount === 1)) throw new Error("lost ack");
        return r;
      },
    });
    await waitFor(
      async () => (await consumed(tb, "ack")) + (await consumed(tb, "duplicate")),
      (n) => n === 12,
      { what: "all 12 messages settled", timeoutMs: 30_000 },
    );
    await c.stop();
    const applied = await appliedCounts();
    expect([...applied.keys()].sort()).toEqual([...ids].sort());
    expect([...applied.values()].every((n) => n === 1)).toBe(true);
    // The overlap (the committed half) and the redelivered message came back as duplicates.
    expect(await consumed(tb, "duplicate")).toBeGreaterThanOrEqual(2);
    expect(await consumed(tb, "retry")).toBeGreaterThanOrEqual(1);
    expect(await settledState(tb)).toEqual({ pending: 0, ackPending: 0 });
  });

  test("a message that cannot be parsed or handled is dead-lettered alone; the rest of its batch is applied", async () => {
    const tb = await start();
    const ids = Array.from({ length: 10 }, (_, i) => `clicks:p${i}`);
    await publishAll(tb, ids, (i) => ({ n: i, bad: i === 3 }));
    const c = consume<Payload>(tb.bus, {
      consumer: CONSUMER,
      sql: db.sql,
      logger: quietLogger,
      concurrency: 1,
      parse: (p) => {
        if ((p as Payload).n === 7) throw new Error("n must not be 7");
        return p as Payload;
      },
      batchHandler: async (ds) => {
        if (ds.some((d) => d.payload.bad)) throw new PermanentError("poison", "a poison click");
        return applyOnce(ds);
      },
    });
    await waitFor(
      () => consumed(tb, "dead_letter"),
      (n) => n === 2,
      { what: "two dead letters", timeoutMs: 30_000 },
    );
    await waitFor(
      () => consumed(tb, "ack"),
      (n) => n === 8,
      { what: "the other eight applied", timeoutMs: 30_000 },
    );
    await c.stop();
    const applied = await appliedCounts();
    expect([...applied.keys()].sort()).toEqual(
      ids.filter((id) => id !== "clicks:p3" && id !== "clicks:p7").sort(),
    );
    const letters = await listDeadLetters(tb.bus);
    expect(letters.map((l) => l.msgId).sort()).toEqual(["clicks:p3", "clicks:p7"]);
    expect(await settledState(tb)).toEqual({ pending: 0, ackPending: 0 });
  });
});
