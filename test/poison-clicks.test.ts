/**
 * One bad message never holds back another: a CLICKS batch holding a row PostgreSQL refuses,
 * through the real attribution process. The row goes to DEADLETTER alone; its batch-mates and
 * the batches after it are stored.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Bus, connectBus, listDeadLetters, publish, subjects } from "@roundtrip/bus";
import { createTestDatabase, type TestDatabase } from "@roundtrip/db";
import { type Stack, startStack } from "@roundtrip/stack";
import { CLICK_ID_KEYS, eventually, NATS_URL } from "./support/test-stack.ts";

let db: TestDatabase;
let bus: Bus;
let stack: Stack<"attribution">;

beforeAll(async () => {
  db = await createTestDatabase("poisonclicks");
  const prefix = `poison_${crypto.randomUUID().slice(0, 8)}`;
  stack = await startStack({
    databaseUrl: db.url,
    natsUrl: NATS_URL,
    busPrefix: prefix,
    services: ["attribution"],
    ports: "free",
    env: { CLICK_ID_KEYS, LOG_LEVEL: "error" },
    stopTimeoutMs: 8_000,
  });
  bus = await connectBus({ url: NATS_URL, prefix, name: "poison-clicks-test" });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  if (bus) {
    for await (const name of bus.jsm.streams.names())
      if (name.startsWith(`${bus.names.prefix}_`)) await bus.jsm.streams.delete(name);
    await bus.close();
  }
  await db?.drop();
}, 60_000);

const click = (id: string, linkId = "7") => ({
  click_id: id,
  clicked_at: new Date().toISOString(),
  link_id: linkId,
  offer_id: "3",
  affiliate_id: "5",
  brand_id: "1",
  is_unique: true,
  subs: { sub1: "x" },
});

const stored = async (ids: string[]) =>
  (await db.sql`select click_id from clicks where click_id in ${db.sql(ids)}`).length === ids.length;

test("a click PostgreSQL refuses is dead-lettered alone; the rest of its batch and the next batch are stored", async () => {
  // Past bigint: valid by the event schema (\d{1,19}), refused by PostgreSQL.
  const poison = click("pc-2", "9999999999999999999");
  await publish(
    bus,
    subjects.clickRecorded(),
    { clicks: [click("pc-1"), poison, click("pc-3")] },
    {
      msgId: crypto.randomUUID(),
    },
  );
  await eventually(() => stored(["pc-1", "pc-3"]), "the batch-mates of the refused click", 20_000);
  const letters = await eventually(async () => {
    const all = await listDeadLetters(bus);
    return all.length > 0 ? all : undefined;
  }, "the refused click's dead letter");
  expect(letters).toHaveLength(1);
  expect(letters[0]).toMatchObject({
    consumer: "attribution-clicks",
    reason: "permanent",
    errorCode: "22003",
    payload: { clicks: [expect.objectContaining({ click_id: "pc-2" })] },
  });
  // The consumer is not stuck on it.
  await publish(bus, subjects.clickRecorded(), { clicks: [click("pc-4")] }, { msgId: crypto.randomUUID() });
  await eventually(() => stored(["pc-4"]), "the next batch");
  expect(await db.sql`select 1 from clicks where click_id = 'pc-2'`).toHaveLength(0);
}, 60_000);
