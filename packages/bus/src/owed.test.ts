/**
 * Owed until handled, and a topology that heals itself, against a broker of this file's own that
 * the tests kill, wipe (the JetStream store directory deleted) and start again.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { TestDatabase } from "@roundtrip/db";
import { type NatsServer, startNatsServer } from "@roundtrip/stack";
import { Registry } from "prom-client";
import { type Bus, connectBus } from "./connection.ts";
import { type Consumer, consume } from "./consume.ts";
import { declareConsumers } from "./consumers.ts";
import { listDeadLetters, replayDeadLetter } from "./deadletter.ts";
import { PermanentError } from "./errors.ts";
import { handleBatchOnce, handleOnce, pruneInbox } from "./inbox.ts";
import { enqueue, type OutboxRelayOptions, startOutboxRelay } from "./outbox.ts";
import { provision } from "./provision.ts";
import { metricValue, quietLogger, recordingLogger, testDatabase, waitFor } from "./test-support.ts";
import { type ConsumerName, subjects } from "./topology.ts";

// Both consumers of CONVERSIONS must handle an event before it is settled.
const CONVERSION_CONSUMERS: ConsumerName[] = ["commission-conversions", "reports-conversions"];

let nats: NatsServer;
let db: TestDatabase;
let bus: Bus;
let registry: Registry;
let log: ReturnType<typeof recordingLogger>;
const running: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  [nats, db] = await Promise.all([startNatsServer(), testDatabase("bus_owed")]);
});
afterAll(async () => {
  await nats.dispose();
  await db.drop();
});

async function freshBus() {
  registry = new Registry();
  log = recordingLogger();
  bus = await connectBus({ url: nats.url, prefix: "", name: "owed-test", registry, logger: log });
  await provision(bus);
}

afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
  await bus?.close();
  await db.sql`delete from bus_outbox`;
  await db.sql`delete from bus_inbox`;
  await db.sql`delete from bus_test_effects`;
  await db.sql`delete from bus_consumers`;
  await db.sql`delete from bus_dead_letters`;
  // Every test starts from an empty broker.
  await nats.kill();
  nats.wipeStore();
  await nats.start();
});

function relay(options: OutboxRelayOptions = {}) {
  const r = startOutboxRelay(bus, db.sql, {
    streams: ["CONVERSIONS"],
    intervalMs: 100,
    republishAfterMs: 1_000,
    reconcileIntervalMs: 100,
    registry,
    logger: log,
    ...options,
  });
  running.push(r);
  return r;
}

function consumers(names = CONVERSION_CONSUMERS): Consumer[] {
  const started = names.map((consumer) =>
    consume(bus, {
      consumer,
      registry,
      logger: quietLogger,
      pullExpiresMs: 1_000,
      handler: (d) =>
        handleOnce(
          db.sql,
          { consumer: d.consumer, messageId: d.msgId },
          (tx) => tx`insert into bus_test_effects values (${d.msgId}, ${d.consumer})`,
        ),
    }),
  );
  running.unshift(...started); // stopped before the relay
  return started;
}

async function enqueueConversions(n: number, tag: string): Promise<void> {
  await db.sql.begin(async (tx) => {
    for (let i = 0; i < n; i++)
      await enqueue(tx, {
        subject: subjects.conversionChanged("ftd", "approved"),
        payload: { tag, i },
        msgId: `conv:${tag}:${i}`,
      });
  });
}

const count = async (where: "owed" | "settled" | "unpublished") => {
  const rows =
    where === "owed"
      ? await db.sql`select count(*)::int as n from bus_outbox where handled_at is null`
      : where === "settled"
        ? await db.sql`select count(*)::int as n from bus_outbox where handled_at is not null`
        : await db.sql`select count(*)::int as n from bus_outbox where published_at is null`;
  return Number(rows[0]?.n);
};

/** Per consumer: effects and distinct messages; equal counts mean nothing was applied twice. */
async function effects() {
  const rows = await db.sql<{ note: string; n: number; distinct: number }[]>`
    select note, count(*)::int as n, count(distinct message_id)::int as distinct
    from bus_test_effects group by note order by note`;
  return Object.fromEntries(rows.map((r) => [r.note, { n: r.n, distinct: r.distinct }]));
}

const errors = () => log.lines.filter((l) => l.level === "error").map((l) => l.msg);

// The CLICKS consumers handle messages in batches (handleBatchOnce); their proofs are inbox rows too.
function batchConsumers(): Consumer[] {
  const started = (["attribution-clicks", "reports-clicks"] as const).map((consumer) =>
    consume<unknown>(bus, {
      consumer,
      registry,
      logger: quietLogger,
      pullExpiresMs: 1_000,
      batchHandler: (ds) =>
        handleBatchOnce(
          db.sql,
          consumer,
          ds,
          (d) => d.msgId,
          (tx, fresh) =>
            tx`insert into bus_test_effects select id, ${consumer} from unnest(${tx.array(fresh.map((d) => d.msgId))}::text[]) as id`,
        ),
    }),
  );
  running.unshift(...started);
  return started;
}

describe("owed until handled", () => {
  test("events handled in batches are proven by their inbox rows; those lost with the store are re-published and handled once", async () => {
    await freshBus();
    const r = relay({ streams: ["CLICKS"] });
    const enqueueClicks = (tag: string, n: number) =>
      db.sql.begin(async (tx) => {
        for (let i = 0; i < n; i++)
          await enqueue(tx, {
            subject: subjects.clickRecorded(),
            payload: { i },
            msgId: `clicks:${tag}${i}`,
          });
      });
    await enqueueClicks("handled", 30);
    await r.flush();
    const first = batchConsumers();
    await waitFor(
      async () => {
        await r.reconcile();
        return count("settled");
      },
      (n) => n === 30,
      { what: "30 events settled by batch proofs", timeoutMs: 30_000 },
    );
    // Each of the two consumers holds one proof per event, however the events were batched.
    expect(Number((await db.sql`select count(*)::int as n from bus_inbox`)[0]?.n)).toBe(60);
    await Promise.all(first.map((c) => c.stop()));

    // Acknowledged, then lost with the store before the consumers saw them.
    await enqueueClicks("lost", 10);
    await r.flush();
    expect(await count("owed")).toBe(10);
    await nats.kill();
    nats.wipeStore();
    await nats.start();
    batchConsumers();
    await waitFor(
      () => count("settled"),
      (n) => n === 40,
      { what: "every event settled", timeoutMs: 30_000 },
    );
    expect(await effects()).toEqual({
      "attribution-clicks": { n: 40, distinct: 40 },
      "reports-clicks": { n: 40, distinct: 40 },
    });
    expect(await metricValue(registry, "roundtrip_outbox_republished_total", { stream: "CLICKS" })).toBe(10);
  });

  test("events the broker acknowledged, then lost with its store before any consumer ran, are re-published and handled exactly once", async () => {
    await freshBus();
    const r = relay();
    await enqueueConversions(20, "lost");
    await r.flush();
    expect(await count("unpublished")).toBe(0); // every PubAck arrived…
    expect(await count("owed")).toBe(20); // …and yet nothing is settled: no consumer handled them

    await nats.kill();
    nats.wipeStore();
    const restarted = performance.now();
    await nats.start();
    consumers();

    await waitFor(
      () => count("settled"),
      (n) => n === 20,
      { what: "every event settled", timeoutMs: 30_000 },
    );
    const recoveryMs = Math.round(performance.now() - restarted);
    console.log(`recovery after a store wipe: ${recoveryMs} ms (republish age 1 s)`);

    expect(await effects()).toEqual({
      "commission-conversions": { n: 20, distinct: 20 },
      "reports-conversions": { n: 20, distinct: 20 },
    });
    expect(await metricValue(registry, "roundtrip_outbox_republished_total", { stream: "CONVERSIONS" })).toBe(
      20,
    );
    expect(errors()).toContain("outbox: the broker lost acknowledged events; re-published them");
    expect(errors().some((m) => m.includes("re-provisioned the topology"))).toBe(true);
    await r.reconcile();
    expect(await metricValue(registry, "roundtrip_outbox_owed_messages", { stream: "CONVERSIONS" })).toBe(0);
  });

  test("an event the stream still holds is not re-published while its consumer is behind; it settles when handled", async () => {
    await freshBus();
    const r = relay({ republishAfterMs: 200, reconcileIntervalMs: 60_000, intervalMs: 60_000 });
    await enqueueConversions(3, "held");
    await r.flush();
    const stream = bus.names.stream("CONVERSIONS");
    const stored = async () => (await bus.jsm.streams.info(stream)).state.messages;
    expect(await stored()).toBe(3);
    await Bun.sleep(300);
    expect(await r.reconcile()).toEqual({ settled: 0, republished: 0 });
    expect(await stored()).toBe(3); // checked, found held, nothing sent again
    const [next] = await db.sql`select min(check_at - now()) > interval '0' as later from bus_outbox`;
    expect(next?.later).toBe(true);
    expect(await metricValue(registry, "roundtrip_outbox_owed_messages", { stream: "CONVERSIONS" })).toBe(3);
    expect(
      await metricValue(registry, "roundtrip_outbox_owed_oldest_age_seconds", { stream: "CONVERSIONS" }),
    ).toBeGreaterThan(0.2);

    // One consumer alone is not enough: reports-conversions must handle it too.
    consumers(["commission-conversions"]);
    await waitFor(
      async () => (await effects())["commission-conversions"]?.n ?? 0,
      (n) => n === 3,
    );
    await r.reconcile();
    expect(await count("owed")).toBe(3);
    consumers(["reports-conversions"]);
    await waitFor(
      async () => {
        await r.reconcile();
        return count("settled");
      },
      (n) => n === 3,
      { what: "settled", intervalMs: 100 },
    );
    expect(await stored()).toBe(3);
  });

  test("a consumer the deployment switched off is not waited for; switched back on, it is again", async () => {
    await freshBus();
    const r = relay({ reconcileIntervalMs: 60_000 });
    // Admin with REPORTS_ENABLED=false: reports-conversions never writes an inbox row.
    await declareConsumers(db.sql, ["reports-conversions"], false);
    consumers(["commission-conversions"]);
    await enqueueConversions(3, "off");
    await r.flush();
    await waitFor(
      async () => {
        await r.reconcile();
        return count("settled");
      },
      (n) => n === 3,
      { what: "settled without the switched-off consumer", intervalMs: 100 },
    );
    expect(await metricValue(registry, "roundtrip_outbox_owed_messages", { stream: "CONVERSIONS" })).toBe(0);

    // Reports back on: new events wait for reports-conversions again.
    await declareConsumers(db.sql, ["reports-conversions"], true);
    await enqueueConversions(2, "on");
    await r.flush();
    await waitFor(
      async () => (await effects())["commission-conversions"]?.n ?? 0,
      (n) => n === 5,
    );
    await r.reconcile();
    expect(await count("owed")).toBe(2);
  });

  test("a dead-lettered event is parked: not re-published once the stream lost it; a replay clears that and it settles", async () => {
    await freshBus();
    const r = relay({ republishAfterMs: 200, reconcileIntervalMs: 60_000 });
    consumers(["reports-conversions"]);
    let broken = true;
    const failing = consume(bus, {
      consumer: "commission-conversions",
      sql: db.sql,
      registry,
      logger: quietLogger,
      pullExpiresMs: 1_000,
      handler: (d) => {
        if (broken) throw new PermanentError("bug", "handler bug");
        return handleOnce(
          db.sql,
          { consumer: d.consumer, messageId: d.msgId },
          (tx) => tx`insert into bus_test_effects values (${d.msgId}, ${d.consumer})`,
        );
      },
    });
    running.unshift(failing);
    await enqueueConversions(1, "dl");
    await r.flush();
    const [dl] = await waitFor(
      () => listDeadLetters(bus),
      (l) => l.length === 1,
      { what: "the dead letter" },
    );
    await waitFor(
      async () => (await effects())["reports-conversions"]?.n ?? 0,
      (n) => n === 1,
    );
    const parkings = async () =>
      Number((await db.sql`select count(*)::int as n from bus_dead_letters`)[0]?.n);
    await waitFor(parkings, (n) => n === 1, { what: "the parking (written after the dead letter)" });

    // The stream drops the original after its max age (7 days); here the stream is deleted and
    // provisioned again (a purge would keep the publish's duplicate window, hiding a re-publish).
    await bus.jsm.streams.delete(bus.names.stream("CONVERSIONS"));
    await provision(bus);
    await db.sql`update bus_outbox set check_at = now()`;
    expect(await r.reconcile()).toEqual({ settled: 0, republished: 0 });
    expect((await bus.jsm.streams.info(bus.names.stream("CONVERSIONS"))).state.messages).toBe(0);
    expect(await listDeadLetters(bus)).toHaveLength(1); // no second dead letter on the way
    expect(await count("owed")).toBe(1); // still owed, and said why
    const parked = { stream: "CONVERSIONS" };
    expect(await metricValue(registry, "roundtrip_outbox_owed_parked_messages", parked)).toBe(1);

    broken = false;
    await replayDeadLetter(bus, dl?.seq ?? 0, { sql: db.sql });
    expect(await parkings()).toBe(0);
    await waitFor(
      async () => {
        await r.reconcile();
        return count("settled");
      },
      (n) => n === 1,
      { what: "settled after the replay", intervalMs: 100 },
    );
    expect(await effects()).toEqual({
      "commission-conversions": { n: 1, distinct: 1 },
      "reports-conversions": { n: 1, distinct: 1 },
    });
    expect(await metricValue(registry, "roundtrip_outbox_owed_parked_messages", parked)).toBe(0);
  });

  test("each row records its stream; one an older release wrote without it is labelled, published and settled", async () => {
    await freshBus();
    const r = relay();
    await enqueueConversions(1, "new");
    // As a release before bus_outbox.stream wrote it, during a rollout.
    await db.sql`
      insert into bus_outbox (subject, msg_id, payload)
      values (${subjects.conversionChanged("ftd", "approved")}, 'conv:old:0', '{"tag":"old"}')`;
    const streams = await db.sql`select msg_id, stream from bus_outbox order by id`;
    expect(streams.map((row) => [row.msg_id, row.stream])).toEqual([
      ["conv:new:0", "CONVERSIONS"],
      ["conv:old:0", null],
    ]);
    consumers();
    await waitFor(
      async () => {
        await r.reconcile();
        return count("settled");
      },
      (n) => n === 2,
      { what: "both settled", intervalMs: 100 },
    );
    expect(await effects()).toEqual({
      "commission-conversions": { n: 2, distinct: 2 },
      "reports-conversions": { n: 2, distinct: 2 },
    });
  });

  test("inbox pruning keeps the proofs and dead-letter parkings an owed event still needs", async () => {
    await freshBus();
    await enqueueConversions(1, "proof");
    // commission handled it 8 days ago; reports has not yet.
    await db.sql`insert into bus_inbox (consumer, message_id, handled_at)
                 values ('commission-conversions', 'conv:proof:0', now() - interval '8 days'),
                        ('commission-conversions', 'conv:gone:0', now() - interval '8 days')`;
    // reports dead-lettered both 8 days ago; only the owed one's parking still matters.
    await db.sql`insert into bus_dead_letters (consumer, message_id, dead_lettered_at)
                 values ('reports-conversions', 'conv:proof:0', now() - interval '8 days'),
                        ('reports-conversions', 'conv:gone:0', now() - interval '8 days')`;
    expect(await pruneInbox(db.sql, { olderThanMs: 7 * 24 * 3_600_000 })).toBe(2);
    const left = await db.sql`select message_id from bus_inbox order by message_id`;
    expect(left.map((r) => r.message_id)).toEqual(["conv:proof:0"]);
    const parked = await db.sql`select message_id from bus_dead_letters order by message_id`;
    expect(parked.map((r) => r.message_id)).toEqual(["conv:proof:0"]);
  });
});

describe("self-healing topology", () => {
  test("a publish after a wipe says why it failed at error level, re-provisions, and the retry lands", async () => {
    await freshBus();
    const r = relay({ intervalMs: 60_000, reconcileIntervalMs: 60_000 });
    await nats.kill();
    nats.wipeStore();
    await nats.start();
    // The broker answers again (JetStream, with no streams).
    await waitFor(
      () =>
        bus.jsm.getAccountInfo().then(
          () => bus.health.connected,
          () => false,
        ),
      Boolean,
      { what: "the broker back", intervalMs: 100 },
    );
    await enqueueConversions(1, "after");
    // Published by a flush or by the relay's own poll, whichever comes first.
    await waitFor(
      async () => {
        await r.flush();
        return count("unpublished");
      },
      (n) => n === 0,
      { what: "the publish to land", intervalMs: 200 },
    );
    expect(errors()).toContain("outbox: publish failed: no stream stores it; will retry");
    expect(errors()).toContain(
      "nats: publish conversions.{event}.{status}: stream or consumer missing; re-provisioned the topology",
    );
    const line = log.lines.find((l) => l.msg.startsWith("nats: publish"));
    expect(JSON.stringify(line?.fields)).toContain("no responders");
  });

  test("running consumers recover from a wiped broker by re-provisioning; readiness reasons come and go", async () => {
    await freshBus();
    relay();
    consumers();
    await enqueueConversions(5, "before");
    await waitFor(
      () => count("settled"),
      (n) => n === 5,
      { what: "first events settled", timeoutMs: 20_000 },
    );
    expect(bus.health.problems(0)).toEqual([]);

    await nats.kill();
    nats.wipeStore();
    await waitFor(
      () => bus.health.problems(0).join("\n"),
      (p) => p.includes("nats: connection is down for"),
      { what: "a readiness reason" },
    );
    await nats.start();
    await enqueueConversions(5, "after");
    await waitFor(
      () => count("settled"),
      (n) => n === 10,
      { what: "events after the wipe settled", timeoutMs: 30_000 },
    );
    expect(await effects()).toEqual({
      "commission-conversions": { n: 10, distinct: 10 },
      "reports-conversions": { n: 10, distinct: 10 },
    });
    expect(errors().some((m) => m.includes("re-provisioned the topology"))).toBe(true);
    await waitFor(
      () => bus.health.problems(0),
      (p) => p.length === 0,
      { what: "reasons cleared", timeoutMs: 10_000 },
    );
  });
});
