import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Bus, connectBus, provision } from "@roundtrip/bus";
import { createTestDatabase, type TestDatabase } from "@roundtrip/db";
import { ClickWriter, type ClickRow } from "./click-writer.ts";

const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const prefix = `cw${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
let db: TestDatabase;
let bus: Bus;

beforeAll(async () => {
  db = await createTestDatabase("clickwriter");
  bus = await connectBus({ url: NATS_URL, prefix, name: "click-writer-test" });
  await provision(bus);
});

afterAll(async () => {
  for await (const name of bus.jsm.streams.names())
    if (name.startsWith(`${prefix}_`)) await bus.jsm.streams.delete(name);
  await bus.close();
  await db.drop();
});

let n = 0;
const row = (): ClickRow => ({
  click_id: `click-${prefix}-${++n}`,
  clicked_at: new Date(),
  link_id: 1,
  offer_id: "1",
  affiliate_id: "1",
  brand_id: "1",
  ip: "203.0.113.0",
  user_agent: "Mozilla/5.0",
  referrer: null,
  subs: { sub1: "a b" },
  is_unique: true,
});

async function clickEvents(): Promise<{ click_id: string; subs?: Record<string, string> }[]> {
  const stream = bus.names.stream("CLICKS");
  const info = await bus.jsm.streams.info(stream);
  const out: { click_id: string; subs?: Record<string, string> }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await bus.jsm.streams.getMessage(stream, { seq });
    out.push(...(m?.json<{ clicks: { click_id: string }[] }>().clicks ?? []));
  }
  return out;
}

describe("the click writer", () => {
  test("a batch is one CLICKS publish carrying every click's details; PostgreSQL is not on the path", async () => {
    const writer = new ClickWriter(db.sql, {
      sink: { bus },
      maxBatch: 50,
      maxDelayMs: 5,
      maxConcurrentFlushes: 1,
    });
    const rows = Array.from({ length: 10 }, row);
    await Promise.all(rows.map((r) => writer.record(r)));
    const events = await clickEvents();
    expect(events.map((e) => e.click_id).sort()).toEqual(rows.map((r) => r.click_id).sort());
    expect(events[0]).toMatchObject({ subs: { sub1: "a b" }, user_agent: "Mozilla/5.0", ip: "203.0.113.0" });
    const [{ count }] = (await db.sql`select count(*)::int as count from clicks`) as unknown as [
      { count: number },
    ];
    expect(count).toBe(0);
    const info = await bus.jsm.streams.info(bus.names.stream("CLICKS"));
    expect(info.state.messages).toBeLessThan(10); // grouped, not one publish per click
  });

  test("when the publish fails, the batch is written to PostgreSQL with its CLICKS event in the outbox", async () => {
    const broken = await connectBus({ url: NATS_URL, prefix, name: "click-writer-broken" });
    await broken.close(); // every publish on a closed connection fails
    const failures: unknown[] = [];
    const writer = new ClickWriter(db.sql, {
      sink: { bus: broken },
      onFallback: (err) => failures.push(err),
      maxBatch: 50,
      maxDelayMs: 5,
      maxConcurrentFlushes: 1,
    });
    const rows = Array.from({ length: 3 }, row);
    await Promise.all(rows.map((r) => writer.record(r)));
    expect(failures.length).toBeGreaterThan(0);
    const stored =
      await db.sql`select click_id, subs from clicks where click_id in ${db.sql(rows.map((r) => r.click_id))}`;
    expect(stored).toHaveLength(3);
    const outbox = await db.sql`select payload from bus_outbox where subject = 'clicks.recorded'`;
    const relayed = outbox.flatMap((o) =>
      (o.payload as { clicks: { click_id: string }[] }).clicks.map((c) => c.click_id),
    );
    expect(relayed.sort()).toEqual(rows.map((r) => r.click_id).sort());
  });
});
