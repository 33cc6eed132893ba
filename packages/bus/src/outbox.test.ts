import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { TestDatabase } from "@roundtrip/db";
import { Registry } from "prom-client";
import { consume } from "./consume.ts";
import { handleOnce } from "./inbox.ts";
import {
  enqueue,
  enqueueAll,
  OUTBOX_CHANNEL,
  prepareEvent,
  pruneOutbox,
  startOutboxRelay,
} from "./outbox.ts";
import { metricValue, quietLogger, type TestBus, testBus, testDatabase, waitFor } from "./test-support.ts";
import { provision } from "./provision.ts";
import { subjects, type TopologyOverrides } from "./topology.ts";

const OVERRIDES: TopologyOverrides = {
  consumers: { "commission-conversions": { backoffMs: [100, 200], maxDeliver: 4 } },
};

let db: TestDatabase;
let t: TestBus;
beforeAll(async () => {
  db = await testDatabase("bus_outbox");
  t = await testBus(OVERRIDES);
});
afterAll(async () => {
  await t.cleanup();
  await db.drop();
});
afterEach(async () => {
  await db.sql`delete from bus_outbox`;
});

const streamCount = async () =>
  (await t.bus.jsm.streams.info(t.bus.names.stream("CONVERSIONS"))).state.messages;
const consumed = (outcome: string) =>
  metricValue(t.registry, "roundtrip_bus_messages_consumed_total", {
    consumer: "commission-conversions",
    outcome,
  });
const unpublished = async () =>
  Number((await db.sql`select count(*)::int as n from bus_outbox where published_at is null`)[0]?.n);

describe("outbox", () => {
  test("pruneOutbox removes a settled backlog larger than one batch in one pass, never an owed row", async () => {
    await db.sql`
      insert into bus_outbox (subject, stream, payload, handled_at)
      select 'conversions.ftd.approved', 'CONVERSIONS', '{}', now() - interval '2 days' from generate_series(1, 1234)`;
    await db.sql`
      insert into bus_outbox (subject, stream, payload, handled_at, created_at)
      values ('conversions.ftd.approved', 'CONVERSIONS', '{"owed":true}', null, now() - interval '2 days'),
             ('conversions.ftd.approved', 'CONVERSIONS', '{"recent":true}', now(), now())`;
    expect(await pruneOutbox(db.sql, { olderThanMs: 86_400_000, batch: 100 })).toBe(1_234);
    const left = await db.sql`select payload from bus_outbox order by id`;
    expect(left.map((r) => r.payload)).toEqual([{ owed: true }, { recent: true }]);
  });

  test("enqueueAll writes prepared events in the order given, each as enqueue would (stream, ids, payload, trace)", async () => {
    const event = (n: number) => ({
      subject: subjects.conversionChanged("ftd", "approved"),
      payload: { conversion_id: String(n), big: 10n ** 20n, nested: { b: 1, a: [n] } },
      msgId: `conv:${n}:1`,
      headers: { "x-n": String(n) },
      trace: { traceparent: `00-${"a".repeat(31)}${n}-${"b".repeat(16)}-01` },
    });
    const order = [3, 1, 2];
    await db.sql.begin((tx) =>
      enqueueAll(
        tx,
        order.map((n) => prepareEvent(event(n))),
      ),
    );
    await db.sql.begin((tx) => enqueue(tx, event(9)));
    const rows = await db.sql<
      { subject: string; stream: string; msg_id: string; payload: unknown; headers: unknown }[]
    >`
      select subject, stream, msg_id, payload, headers from bus_outbox order by id`;
    expect(rows.map((r) => r.msg_id)).toEqual(["conv:3:1", "conv:1:1", "conv:2:1", "conv:9:1"]);
    const one = rows[0];
    const single = rows[3];
    expect(one?.stream).toBe(single?.stream as string);
    expect(one?.payload).toEqual({
      conversion_id: "3",
      big: "100000000000000000000",
      nested: { b: 1, a: [3] },
    });
    expect(one?.headers).toEqual({ "x-n": "3", traceparent: `00-${"a".repeat(31)}3-${"b".repeat(16)}-01` });
    await db.sql.begin((tx) => enqueueAll(tx, []));
    expect(await unpublished()).toBe(4);
  });

  test("an event exists only if its transaction committed", async () => {
    await expect(
      db.sql.begin(async (tx) => {
        await enqueue(tx, { subject: subjects.conversionChanged("ftd", "approved"), payload: { n: 1 } });
        throw new Error("business change failed");
      }),
    ).rejects.toThrow("business change failed");
    expect(await unpublished()).toBe(0);
  });

  test("a committed row is published promptly when its writer wakes the relay, without waiting for the poll interval", async () => {
    const before = await streamCount();
    const relay = startOutboxRelay(t.bus, db.sql, { intervalMs: 60_000 });
    try {
      const started = performance.now();
      const { msgId } = await db.sql.begin((tx) =>
        enqueue(tx, {
          subject: subjects.conversionChanged("ftd", "approved"),
          payload: { n: 2, big: 9007199254740993n },
        }),
      );
      relay.wake();
      expect(msgId).toMatch(/^outbox:\d+$/);
      await waitFor(streamCount, (n) => n === before + 1, { what: "the publish", timeoutMs: 5_000 });
      expect(performance.now() - started).toBeLessThan(2_000);
      const stream = await t.bus.jsm.streams.info(t.bus.names.stream("CONVERSIONS"));
      const stored = await t.bus.jsm.streams.getMessage(stream.config.name, { seq: stream.state.last_seq });
      expect(stored?.json()).toEqual({ n: 2, big: "9007199254740993" });
      expect(stored?.subject).toBe(`${t.prefix}.conversions.ftd.approved`);
      expect(stored?.header.get("Nats-Msg-Id")).toBe(msgId);
      await waitFor(unpublished, (n) => n === 0, { what: "published_at" });
    } finally {
      await relay.stop();
    }
  });

  test("enqueue sends no NOTIFY (a global commit lock); a writer elsewhere can still NOTIFY the relays awake", async () => {
    const before = await streamCount();
    const relay = startOutboxRelay(t.bus, db.sql, { intervalMs: 60_000 });
    const heard: string[] = [];
    const listening = await db.sql.listen(OUTBOX_CHANNEL, (payload) => heard.push(payload));
    try {
      await Bun.sleep(100); // LISTEN established
      await db.sql.begin((tx) =>
        enqueue(tx, { subject: subjects.conversionChanged("ftd", "approved"), payload: { n: 3 } }),
      );
      // A notification sent after the enqueue's commit arrives after any the enqueue had sent.
      await db.sql`select pg_notify(${OUTBOX_CHANNEL}, 'marker')`;
      await waitFor(
        () => heard.length,
        (n) => n > 0,
        { what: "the marker notification" },
      );
      expect(heard).toEqual(["marker"]);
      await waitFor(streamCount, (n) => n === before + 1, {
        what: "the publish on NOTIFY",
        timeoutMs: 5_000,
      });
    } finally {
      await listening.unlisten();
      await relay.stop();
    }
  });

  test("a row whose publish was lost is re-published and consumed once", async () => {
    const relay = startOutboxRelay(t.bus, db.sql, { intervalMs: 60_000, registry: t.registry });
    const seen: string[] = [];
    const c = consume(t.bus, {
      consumer: "commission-conversions",
      registry: t.registry,
      logger: quietLogger,
      handler: async (d) => {
        seen.push(d.msgId);
        return handleOnce(
          db.sql,
          { consumer: d.consumer, messageId: d.msgId },
          (tx) => tx`insert into bus_test_effects values (${d.msgId}, 'booked')`,
        );
      },
    });
    try {
      await c.ready;
      const { msgId } = await db.sql.begin((tx) =>
        enqueue(tx, {
          subject: subjects.conversionChanged("deposit", "approved"),
          payload: { conversion_id: "42" },
        }),
      );
      await relay.flush();
      const mine = () => seen.filter((id) => id === msgId).length;
      await waitFor(mine, (n) => n === 1, { what: "first consumption" });

      // The broker lost the stream's data after acknowledging (2.9 acks before fsync), so it no
      // longer remembers the msgId either; and published_at was lost too. The relay publishes the
      // row again, the consume loop finds its (re-provisioned) consumer, and the inbox absorbs it.
      await t.bus.jsm.streams.delete(t.bus.names.stream("CONVERSIONS"));
      await provision(t.bus, { overrides: OVERRIDES });
      await db.sql`update bus_outbox set published_at = null`;
      expect(await relay.flush()).toBe(1);
      expect(await unpublished()).toBe(0);
      expect(await streamCount()).toBe(1);
      // Wait for this message's second delivery itself: the duplicate counter is shared with the
      // file's other tests, so under load it can move before this redelivery is handled.
      await waitFor(mine, (n) => n === 2, { what: "second consumption" });
      await waitFor(
        () => consumed("duplicate"),
        (n) => n >= 1,
        { what: "the redelivery counted as a duplicate" },
      );
      const rows = await db.sql`select count(*)::int as n from bus_test_effects where message_id = ${msgId}`;
      expect(rows[0]?.n).toBe(1);
    } finally {
      await c.stop();
      await relay.stop();
    }
  });

  test("stop() publishes what committed before it (nothing is left for the next start)", async () => {
    const relay = startOutboxRelay(t.bus, db.sql, { intervalMs: 60_000 });
    await db.sql.begin((tx) =>
      enqueue(tx, { subject: subjects.conversionChanged("sale", "approved"), payload: {} }),
    );
    await relay.stop();
    expect(await unpublished()).toBe(0);
  });

  test("a re-publish inside the duplicate window is dropped by the stream", async () => {
    const relay = startOutboxRelay(t.bus, db.sql, { intervalMs: 60_000 });
    try {
      await db.sql.begin((tx) =>
        enqueue(tx, {
          subject: subjects.conversionChanged("sale", "pending"),
          payload: {},
          msgId: "conv:77:1",
        }),
      );
      await relay.flush();
      const after = await streamCount();
      await db.sql`update bus_outbox set published_at = null`; // the published_at update was lost
      await relay.flush();
      expect(await streamCount()).toBe(after);
      expect(await unpublished()).toBe(0);
    } finally {
      await relay.stop();
    }
  });

  test("a relay given its streams publishes only their rows and counts only them as backlog", async () => {
    const registry = new Registry();
    const relay = startOutboxRelay(t.bus, db.sql, {
      streams: ["COMMISSIONS"],
      registry,
      logger: quietLogger,
    });
    try {
      await db.sql.begin(async (tx) => {
        await enqueue(tx, {
          subject: subjects.conversionChanged("ftd", "approved"),
          payload: { other: true },
        });
        await enqueue(tx, { subject: subjects.commissionBooked(), payload: { mine: true } });
      });
      await relay.flush();
      const rows =
        await db.sql`select subject, published_at is not null as published from bus_outbox order by id`;
      expect([...rows]).toEqual([
        { subject: "conversions.ftd.approved", published: false },
        { subject: "commissions.booked", published: true },
      ]);
      // The other stream's unpublished row is not this relay's backlog.
      await waitFor(
        async () =>
          (await registry.getSingleMetric("roundtrip_outbox_backlog_messages")?.get())?.values.length ?? 0,
        (n) => n > 0,
        { what: "the backlog gauge" },
      );
      expect(await metricValue(registry, "roundtrip_outbox_backlog_messages", {})).toBe(0);
    } finally {
      await relay.stop();
    }
  });

  test("replicas share the backlog: every row published, none twice", async () => {
    await db.sql.begin(async (tx) => {
      for (let i = 0; i < 120; i++) {
        await enqueue(tx, { subject: subjects.conversionChanged("lead", "approved"), payload: { i } });
      }
    });
    const before = (await t.bus.jsm.streams.info(t.bus.names.stream("CONVERSIONS"))).state.last_seq;
    // Each relay counts its own publishes: a row published twice would show up in the sum even
    // though the stream's duplicate window would hide it.
    const registries = [0, 1, 2].map(() => new Registry());
    const relays = registries.map((registry) =>
      startOutboxRelay(t.bus, db.sql, { intervalMs: 60_000, batchSize: 10, registry }),
    );
    try {
      await Promise.all(relays.map((r) => r.flush()));
      // Each flush skips rows another relay holds, so wait for the slowest one.
      await waitFor(unpublished, (n) => n === 0, { what: "all rows published" });
      const last = (await t.bus.jsm.streams.info(t.bus.names.stream("CONVERSIONS"))).state.last_seq;
      expect(last - before).toBe(120);
      const counts = await Promise.all(
        registries.map((r) => metricValue(r, "roundtrip_bus_published_total", { stream: "CONVERSIONS" })),
      );
      expect(counts.reduce((a, b) => a + b, 0)).toBe(120);
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
  });

  test("a row that cannot be published stays in the backlog, visible in the gauges, and is retried", async () => {
    // No stream listens on this subject, so every publish fails (as when JetStream is down).
    await db.sql`
      insert into bus_outbox (subject, stream, payload, created_at)
      values ('unrouted.subject', 'POSTBACKS', '{}', now() - interval '90 seconds')`;
    const relay = startOutboxRelay(t.bus, db.sql, {
      intervalMs: 50,
      registry: t.registry,
      logger: quietLogger,
    });
    try {
      await waitFor(
        () => metricValue(t.registry, "roundtrip_outbox_backlog_messages"),
        (n) => n === 1,
      );
      expect(await metricValue(t.registry, "roundtrip_outbox_oldest_age_seconds")).toBeGreaterThanOrEqual(90);
      expect(await relay.flush()).toBe(0);
      expect(await unpublished()).toBe(1);
    } finally {
      await relay.stop();
    }
  });
});
