/**
 * One bad message never holds back another: a CLICKS batch holding a row PostgreSQL refuses,
 * through the real attribution process. The row goes to DEADLETTER alone; its batch-mates and
 * the batches after it are stored.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Bus, connectBus, listDeadLetters, publish, replayDeadLetter, subjects } from "@roundtrip/bus";
import { headers as natsHeaders } from "@nats-io/nats-core";
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

test("a refused click's dead letter, replayed once its cause is fixed, stores the click exactly once", async () => {
  // A refusal the operator can fix in the database: a constraint this click breaks.
  await db.sql`alter table clicks add constraint poison_test_refuse check (click_id <> 'rc-2')`;
  const batchId = crypto.randomUUID();
  await publish(
    bus,
    subjects.clickRecorded(),
    { clicks: [click("rc-1"), click("rc-2", "8"), click("rc-3")] },
    { msgId: batchId },
  );
  await eventually(() => stored(["rc-1", "rc-3"]), "the batch-mates of the refused click", 20_000);
  const letter = await eventually(async () => {
    const all = await listDeadLetters(bus);
    return all.find((l) => JSON.stringify(l.payload).includes('"rc-2"'));
  }, "the refused click's dead letter");
  expect(letter).toMatchObject({ consumer: "attribution-clicks", errorCode: "23514", msgId: batchId });

  await db.sql`alter table clicks drop constraint poison_test_refuse`;
  const ack = await replayDeadLetter(bus, letter.seq);
  await eventually(() => stored(["rc-2"]), "the replayed click", 20_000);

  // The replay delivered again (a lost ack, a second replica) is a duplicate: counted once.
  const replayed = await bus.jsm.streams.getMessage(bus.names.stream("CLICKS"), { seq: ack.seq });
  const again = natsHeaders();
  for (const [k, v] of replayed?.header ?? []) if (!k.startsWith("Nats-") && v[0]) again.set(k, v[0]);
  const second = await bus.js.publish(replayed?.subject ?? "", replayed?.data, {
    headers: again,
    msgID: crypto.randomUUID(),
  });
  await eventually(async () => {
    const info = await bus.jsm.consumers.info(bus.names.stream("CLICKS"), "attribution-clicks");
    return info.ack_floor.stream_seq >= second.seq ? true : undefined;
  }, "the second delivery handled");
  const stats = await db.sql<{ clicks: number }[]>`select clicks from click_stats_hourly where link_id = 8`;
  expect(stats.map((s) => Number(s.clicks))).toEqual([1]);
  expect(await db.sql`select 1 from clicks where click_id = 'rc-2'`).toHaveLength(1);
}, 60_000);
