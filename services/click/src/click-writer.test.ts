import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Bus, connectBus, provision, streamConfig } from "@roundtrip/bus";
import { createTestDatabase, type TestDatabase } from "@roundtrip/db";
import { Registry } from "prom-client";
import { ClickQueueFullError, ClickWriter, type ClickRow, type ClickWriterOptions } from "./click-writer.ts";

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

const defaults = {
  maxBatch: 50,
  maxDelayMs: 5,
  maxConcurrentFlushes: 1,
  maxQueue: 10_000,
  publishTimeoutMs: 250,
  breaker: { failures: 3, halfOpenAfterMs: 5_000 },
} satisfies Partial<ClickWriterOptions>;

let n = 0;
const row = (): ClickRow => ({
  click_id: `click-${prefix}-${++n}`,
  clicked_at: new Date().toISOString(),
  link_id: "1",
  offer_id: "1",
  affiliate_id: "1",
  brand_id: "1",
  ip: "203.0.113.0",
  user_agent: "Mozilla/5.0",
  referrer: null,
  subs: { sub1: "a b" },
  is_unique: true,
  device_type: null,
  os: null,
  browser: null,
  reasons: [],
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
    const writer = new ClickWriter(db.sql, { ...defaults, sink: { bus } });
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
      ...defaults,
      sink: { bus: broken },
      onFallback: (err) => failures.push(err),
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

  test("a publish that timed out but reached the broker: the fallback finds the rows stored already and still succeeds", async () => {
    // Under load the publish timeout fires with the broker up: the batch may be in CLICKS and its
    // rows stored by attribution before the fallback write runs. That click is recorded.
    const rows = Array.from({ length: 2 }, row);
    const [first] = rows as [ClickRow, ClickRow];
    await db.sql`
      insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, is_unique)
      values (${first.click_id}, ${first.clicked_at}, 1, 1, 1, 1, true)`;
    const writer = new ClickWriter(db.sql, { ...defaults, sink: "postgres" });
    await Promise.all(rows.map((r) => writer.record(r)));
    const stored =
      await db.sql`select click_id from clicks where click_id in ${db.sql(rows.map((r) => r.click_id))}`;
    expect(stored).toHaveLength(2);
  });

  test("a broker that does not answer costs a batch the publish timeout; then the circuit opens and batches skip it", async () => {
    // A namespace whose CLICKS stream does not exist, with a plain subscriber on its subject: the
    // publish finds a responder that never acknowledges, as a hung broker would.
    const hungPrefix = `${prefix}h`;
    const hung = await connectBus({ url: NATS_URL, prefix: hungPrefix, name: "click-writer-hung" });
    const blackHole = hung.nc.subscribe(hung.names.subject("clicks.recorded"));
    const registry = new Registry();
    const writer = new ClickWriter(db.sql, {
      ...defaults,
      sink: { bus: hung },
      registry,
      publishTimeoutMs: 100,
      breaker: { failures: 2, halfOpenAfterMs: 300 },
    });
    try {
      const timed = async () => {
        const r = row();
        const t0 = performance.now();
        await writer.record(r);
        return { id: r.click_id, ms: performance.now() - t0 };
      };
      const first = [await timed(), await timed()];
      for (const f of first) expect(f.ms).toBeGreaterThanOrEqual(90); // waited for the timeout
      expect(writer.breakerState).toBe("open");
      // straight to PostgreSQL, without trying the broker (counted as breaker_open below)
      const rest = await Promise.all(Array.from({ length: 20 }, timed));
      const ids = [...first, ...rest].map((r) => r.id);
      const stored = await db.sql`select click_id from clicks where click_id in ${db.sql(ids)}`;
      expect(stored).toHaveLength(ids.length);
      const metrics = await registry.getMetricsAsJSON();
      const fallback = metrics.find((m) => m.name === "roundtrip_click_fallback_clicks_total")?.values ?? [];
      const by = (reason: string) => fallback.find((v) => v.labels.reason === reason)?.value;
      expect(by("publish_failed")).toBe(2);
      expect(by("breaker_open")).toBe(20);
      const state = metrics.find((m) => m.name === "roundtrip_click_breaker_state")?.values ?? [];
      expect(state.find((v) => v.labels.state === "open")?.value).toBe(1);

      // The broker comes back (the stream exists, the black hole is gone): a background probe
      // closes the circuit, and batches are published again.
      blackHole.unsubscribe();
      await hung.jsm.streams.add(streamConfig(hung.names, "CLICKS"));
      const deadline = Date.now() + 5_000;
      while (writer.breakerState !== "closed" && Date.now() < deadline) await Bun.sleep(20);
      expect(writer.breakerState).toBe("closed");
      const after = row();
      await writer.record(after);
      const m = await hung.jsm.streams.getMessage(hung.names.stream("CLICKS"), {
        last_by_subj: hung.names.subject("clicks.recorded"),
      });
      expect(m?.json<{ clicks: { click_id: string }[] }>().clicks.map((c) => c.click_id)).toEqual([
        after.click_id,
      ]);
    } finally {
      await writer.close();
      await hung.jsm.streams.delete(hung.names.stream("CLICKS")).catch(() => {});
      await hung.close();
    }
  });

  test("a full queue refuses a click at once and counts it; what was queued is still written", async () => {
    const registry = new Registry();
    const writer = new ClickWriter(db.sql, {
      ...defaults,
      sink: "postgres",
      registry,
      maxQueue: 3,
      maxDelayMs: 50, // the queue fills while the first batch waits for company
    });
    const queued = Array.from({ length: 3 }, row);
    const writes = queued.map((r) => writer.record(r));
    await expect(writer.record(row())).rejects.toBeInstanceOf(ClickQueueFullError);
    const gauge = async () =>
      (await registry.getMetricsAsJSON()).find((m) => m.name === "roundtrip_click_queue_clicks")?.values[0]
        ?.value;
    expect(await gauge()).toBe(3); // read from the queue when scraped
    await Promise.all(writes);
    expect(await gauge()).toBe(0);
    const stored =
      await db.sql`select click_id from clicks where click_id in ${db.sql(queued.map((r) => r.click_id))}`;
    expect(stored).toHaveLength(3);
    const shed = (await registry.getMetricsAsJSON()).find(
      (m) => m.name === "roundtrip_click_queue_shed_total",
    );
    expect(shed?.values[0]?.value).toBe(1);
    await writer.record(row()); // room again
    await writer.close();
  });
});
