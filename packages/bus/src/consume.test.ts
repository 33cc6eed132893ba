import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { TestDatabase } from "@roundtrip/db";
import { consume, retryPolicy } from "./consume.ts";
import { DeadLetterHeaders, deadLetter, listDeadLetters, replayDeadLetter } from "./deadletter.ts";
import { isDeadLetterNotFound, PermanentError } from "./errors.ts";
import { handleOnce } from "./inbox.ts";
import { publish } from "./publish.ts";
import { metricValue, quietLogger, type TestBus, testBus, testDatabase, waitFor } from "./test-support.ts";
import { type ConsumerName, subjects, type TopologyOverrides } from "./topology.ts";

const CONSUMER: ConsumerName = "attribution-postbacks";
const CONSUMED = "roundtrip_bus_messages_consumed_total";

let db: TestDatabase;
beforeAll(async () => {
  db = await testDatabase("bus_consume");
});
afterAll(() => db.drop());

// Each test gets its own namespace, so durable consumers start empty and nothing leaks between tests.
let t: TestBus | undefined;
async function busWith(consumer: Partial<{ backoffMs: number[]; maxDeliver: number }>) {
  const overrides: TopologyOverrides = { consumers: { [CONSUMER]: consumer } };
  t = await testBus(overrides);
  return t;
}
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const effects = async (msgId: string) =>
  Number((await db.sql`select count(*)::int as n from bus_test_effects where message_id = ${msgId}`)[0]?.n);

const consumed = (tb: TestBus, outcome: string) =>
  metricValue(tb.registry, CONSUMED, { stream: "POSTBACKS", consumer: CONSUMER, outcome });

async function consumerState(tb: TestBus) {
  await tb.bus.nc.flush(); // acks are fire-and-forget; make sure the server has them
  const ci = await tb.bus.jsm.consumers.info(tb.bus.names.stream("POSTBACKS"), CONSUMER);
  return { pending: ci.num_pending, ackPending: ci.num_ack_pending, redelivered: ci.num_redelivered };
}

const recordEffect = (msgId: string) =>
  handleOnce(
    db.sql,
    { consumer: CONSUMER, messageId: msgId },
    (tx) => tx`insert into bus_test_effects values (${msgId}, 'effect')`,
  );

describe("consume: exactly-once-style effects", () => {
  test("a handler that fails after its effect committed is redelivered and the effect happens once", async () => {
    const tb = await busWith({ backoffMs: [100, 200], maxDeliver: 4 });
    const deliveries: number[] = [];
    const c = consume(tb.bus, {
      consumer: CONSUMER,
      logger: quietLogger,
      handler: async (d) => {
        deliveries.push(d.deliveryCount);
        const r = await recordEffect(d.msgId);
        if (d.deliveryCount === 1) throw new Error("crashed after commit, before ack");
        return r;
      },
    });
    await publish(tb.bus, subjects.postbackReceived(1), { txid: "T-1" }, { msgId: "pb:1:T-1:ftd" });
    await waitFor(
      () => consumed(tb, "duplicate"),
      (n) => n === 1,
      { what: "the redelivery" },
    );
    await c.stop();
    expect(deliveries).toEqual([1, 2]);
    expect(await effects("pb:1:T-1:ftd")).toBe(1);
    expect(await consumed(tb, "retry")).toBe(1);
    expect(await consumerState(tb)).toMatchObject({ pending: 0, ackPending: 0 });
  });

  test("a replica that dies between commit and ack: another replica gets the message, the effect stays single", async () => {
    const tb = await busWith({ backoffMs: [150, 300], maxDeliver: 4 });
    await publish(tb.bus, subjects.postbackReceived(2), { txid: "T-2" }, { msgId: "pb:2:T-2:ftd" });
    // Replica A pulls, commits its effect, and dies: no ack, no nak, no heartbeat.
    const raw = await tb.bus.js.consumers.get(tb.bus.names.stream("POSTBACKS"), CONSUMER);
    const m = await raw.next({ expires: 2_000 });
    expect(m?.info.deliveryCount).toBe(1);
    await recordEffect(m?.headers?.get("Nats-Msg-Id") ?? "");
    // Replica B: the server redelivers after the ack deadline (backoff[0]).
    const seen: number[] = [];
    const c = consume(tb.bus, {
      consumer: CONSUMER,
      logger: quietLogger,
      handler: async (d) => {
        seen.push(d.deliveryCount);
        return recordEffect(d.msgId);
      },
    });
    await waitFor(
      () => consumed(tb, "duplicate"),
      (n) => n === 1,
      { what: "the redelivery to replica B" },
    );
    await c.stop();
    expect(seen).toEqual([2]);
    expect(await effects("pb:2:T-2:ftd")).toBe(1);
    expect(await consumerState(tb)).toMatchObject({ pending: 0, ackPending: 0 });
  });
});

describe("consume: failures", () => {
  test("a dead letter of part of a message and one of the whole message are both stored; a repeat of either is not", async () => {
    const tb = await busWith({ backoffMs: [100], maxDeliver: 2 });
    const letter = (part?: string) =>
      deadLetter(tb.bus, {
        stream: "POSTBACKS",
        consumer: CONSUMER,
        subject: "postbacks.received.9",
        streamSequence: 42,
        deliveryCount: 1,
        msgId: "pb:9:T-9:ftd",
        body: new TextEncoder().encode(JSON.stringify({ part: part ?? "whole" })),
        headers: undefined,
        reason: "permanent",
        error: "refused",
        ...(part ? { part } : {}),
      });
    expect((await letter("refused")).duplicate).toBe(false);
    expect((await letter()).duplicate).toBe(false);
    expect((await letter("refused")).duplicate).toBe(true);
    expect((await letter()).duplicate).toBe(true);
    const letters = await listDeadLetters(tb.bus);
    expect(
      letters.map((l) => l.payload).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ).toEqual([{ part: "refused" }, { part: "whole" }]);
  });

  test("a message that keeps failing ends in DEADLETTER with its reason after max_deliver", async () => {
    const tb = await busWith({ backoffMs: [100, 100], maxDeliver: 3 });
    const deliveries: number[] = [];
    const c = consume(tb.bus, {
      consumer: CONSUMER,
      logger: quietLogger,
      handler: async (d) => {
        deliveries.push(d.deliveryCount);
        throw new Error("database unavailable");
      },
    });
    const ack = await publish(
      tb.bus,
      subjects.postbackReceived(3),
      { txid: "T-3" },
      { msgId: "pb:3:T-3:ftd" },
    );
    const [dl] = await waitFor(
      () => listDeadLetters(tb.bus),
      (l) => l.length === 1,
      { what: "the dead letter" },
    );
    await c.stop();
    expect(deliveries).toEqual([1, 2, 3]);
    expect(dl).toMatchObject({
      reason: "max_deliver",
      error: "database unavailable",
      stream: "POSTBACKS",
      consumer: CONSUMER,
      subject: "postbacks.received.3",
      originalSequence: ack.seq,
      deliveryCount: 3,
      msgId: "pb:3:T-3:ftd",
      payload: { txid: "T-3" },
    });
    // Stored under the namespaced DEADLETTER subject, with a msgId that makes a retried dead-letter idempotent.
    const stored = await tb.bus.jsm.streams.getMessage(tb.bus.names.stream("DEADLETTER"), {
      seq: dl?.seq ?? 0,
    });
    expect(stored?.subject).toBe(`${tb.prefix}.deadletter.POSTBACKS.${CONSUMER}`);
    expect(stored?.header.get("Nats-Msg-Id")).toBe(`dl:${CONSUMER}:${ack.seq}`);
    expect(stored?.header.get(DeadLetterHeaders.Reason)).toBe("max_deliver");
    expect(await consumed(tb, "retry")).toBe(2);
    expect(await consumed(tb, "dead_letter")).toBe(1);
    // term()ed: nothing left pending or waiting for redelivery.
    expect(await consumerState(tb)).toMatchObject({ pending: 0, ackPending: 0 });
  });

  test("a PermanentError dead-letters on the first delivery, with its code", async () => {
    const tb = await busWith({ backoffMs: [100, 100], maxDeliver: 3 });
    const deliveries: number[] = [];
    const c = consume(tb.bus, {
      consumer: CONSUMER,
      logger: quietLogger,
      handler: async (d) => {
        deliveries.push(d.deliveryCount);
        throw new PermanentError("unknown_offer", "offer 9 does not exist");
      },
    });
    await publish(tb.bus, subjects.postbackReceived(4), { offer: 9 }, { msgId: "pb:4:T-4:ftd" });
    const [dl] = await waitFor(
      () => listDeadLetters(tb.bus),
      (l) => l.length === 1,
      { what: "the dead letter" },
    );
    await c.stop();
    expect(deliveries).toEqual([1]);
    expect(dl).toMatchObject({ reason: "permanent", errorCode: "unknown_offer", deliveryCount: 1 });
    expect(dl?.error).toBe("offer 9 does not exist");
  });

  test("a body that is not JSON, or fails the parse hook, is dead-lettered as invalid_payload", async () => {
    const tb = await busWith({ backoffMs: [100, 100], maxDeliver: 3 });
    let handled = 0;
    const c = consume<{ txid: string }>(tb.bus, {
      consumer: CONSUMER,
      logger: quietLogger,
      parse: (raw) => {
        if (typeof (raw as { txid?: unknown }).txid !== "string") throw new Error("txid must be a string");
        return raw as { txid: string };
      },
      handler: async () => {
        handled++;
      },
    });
    await tb.bus.js.publish(tb.bus.names.subject("postbacks.received.5"), "not json{", { msgID: "raw-1" });
    await publish(tb.bus, subjects.postbackReceived(5), { txid: 5 }, { msgId: "pb:5:bad" });
    const dls = await waitFor(
      () => listDeadLetters(tb.bus),
      (l) => l.length === 2,
      { what: "two dead letters" },
    );
    await c.stop();
    expect(handled).toBe(0);
    expect(dls.map((d) => d.errorCode)).toEqual(["invalid_payload", "invalid_payload"]);
    expect(dls[0]?.payload).toBe("not json{");
    expect(dls[1]?.error).toContain("txid must be a string");
  });

  test("error retries follow the consumer's BackOff schedule", async () => {
    const tb = await busWith({ backoffMs: [100, 700], maxDeliver: 4 });
    const at: number[] = [];
    const c = consume(tb.bus, {
      consumer: CONSUMER,
      logger: quietLogger,
      handler: async () => {
        at.push(performance.now());
        if (at.length < 3) throw new Error("transient");
      },
    });
    await publish(tb.bus, subjects.postbackReceived(6), {}, { msgId: "pb:6" });
    await waitFor(
      () => consumed(tb, "ack"),
      (n) => n === 1,
      { what: "the third delivery" },
    );
    await c.stop();
    const [first, second, third] = at as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(90);
    expect(second - first).toBeLessThan(500);
    expect(third - second).toBeGreaterThanOrEqual(650);
  });

  test("a replica that dies holding the last delivery: the exhausted message still reaches DEADLETTER", async () => {
    const tb = await busWith({ backoffMs: [100], maxDeliver: 2 });
    await publish(tb.bus, subjects.postbackReceived(7), { txid: "T-7" }, { msgId: "pb:7" });
    const raw = await tb.bus.js.consumers.get(tb.bus.names.stream("POSTBACKS"), CONSUMER);
    // Two replicas in turn take the message and die without settling it.
    expect((await raw.next({ expires: 2_000 }))?.info.deliveryCount).toBe(1);
    expect((await raw.next({ expires: 2_000 }))?.info.deliveryCount).toBe(2);
    const handled: string[] = [];
    const c = consume(tb.bus, {
      consumer: CONSUMER,
      logger: quietLogger,
      handler: async (d) => {
        handled.push(d.msgId);
      },
    });
    const [dl] = await waitFor(
      () => listDeadLetters(tb.bus),
      (l) => l.length === 1,
      { what: "the dead letter" },
    );
    await c.stop();
    expect(handled).toEqual([]);
    expect(dl).toMatchObject({
      reason: "max_deliver",
      errorCode: "ack_timeout",
      msgId: "pb:7",
      deliveryCount: 2,
    });
  });
});

describe("dead letters: list and replay", () => {
  test("replay re-publishes to the original subject, the fixed handler processes it, DEADLETTER empties", async () => {
    const tb = await busWith({ backoffMs: [100, 100], maxDeliver: 3 });
    let broken = true;
    const handled: { subject: string; payload: unknown; replayedFrom?: string; msgId: string }[] = [];
    const c = consume(tb.bus, {
      consumer: CONSUMER,
      logger: quietLogger,
      handler: async (d) => {
        if (broken) throw new PermanentError("bug", "handler bug");
        handled.push({
          subject: d.subject,
          payload: d.payload,
          replayedFrom: d.headers["Roundtrip-Replayed-From"],
          msgId: d.msgId,
        });
      },
    });
    await publish(tb.bus, subjects.postbackReceived(8), { txid: "T-8" }, { msgId: "pb:8" });
    const [dl] = await waitFor(
      () => listDeadLetters(tb.bus),
      (l) => l.length === 1,
      { what: "the dead letter" },
    );
    broken = false;
    const ack = await replayDeadLetter(tb.bus, dl?.seq ?? 0);
    expect(ack.duplicate).toBe(false);
    await waitFor(
      () => handled.length,
      (n) => n === 1,
      { what: "the replayed message" },
    );
    await c.stop();
    // The original message id is the inbox key: a consumer that had handled it would see a
    // duplicate, and the outbox row it came from settles.
    expect(handled[0]).toEqual({
      subject: "postbacks.received.8",
      payload: { txid: "T-8" },
      replayedFrom: String(dl?.seq),
      msgId: "pb:8",
    });
    expect(await listDeadLetters(tb.bus)).toEqual([]);
    const again = await replayDeadLetter(tb.bus, dl?.seq ?? 0).catch((e) => e);
    expect(isDeadLetterNotFound(again)).toBe(true);
  });
});

describe("consume: concurrency and shutdown", () => {
  test("never runs more than `concurrency` handlers, and stop() waits for in-flight ones and acks them", async () => {
    const tb = await busWith({ backoffMs: [200, 400], maxDeliver: 4 });
    for (let i = 0; i < 6; i++) {
      await publish(tb.bus, subjects.postbackReceived(9), { i }, { msgId: `pb:9:${i}` });
    }
    let active = 0;
    let maxActive = 0;
    let started = 0;
    let finished = 0;
    const c = consume(tb.bus, {
      consumer: CONSUMER,
      logger: quietLogger,
      concurrency: 2,
      handler: async () => {
        started++;
        active++;
        maxActive = Math.max(maxActive, active);
        await Bun.sleep(300); // longer than the 200 ms ack deadline: heartbeats must keep it
        active--;
        finished++;
      },
    });
    await waitFor(
      () => started,
      (n) => n >= 2,
      { what: "two handlers running" },
    );
    await c.stop();
    expect(finished).toBe(started);
    expect(maxActive).toBe(2);
    const state = await consumerState(tb);
    expect(state.ackPending).toBe(0);
    expect(state.redelivered).toBe(0);
    expect(state.pending).toBe(6 - finished);
    expect(await consumed(tb, "ack")).toBe(finished);
  });
});

describe("retryPolicy", () => {
  test("naks with ack_wait so the server's arithmetic lands on the BackOff step; heartbeats beat the deadline", () => {
    const ns = (ms: number) => ms * 1_000_000;
    const p = retryPolicy({ ack_wait: ns(1_000), backoff: [1_000, 5_000, 30_000].map(ns), max_deliver: 8 });
    expect([1, 2, 3, 7].map((dc) => p.nakDelayMs(dc))).toEqual([1_000, 1_000, 1_000, 1_000]);
    expect([1, 2, 3, 7].map((dc) => p.heartbeatMs(dc))).toEqual([333, 1_666, 10_000, 10_000]);
    expect(p.maxDeliver).toBe(8);
    // A consumer provisioned without BackOff still backs off, exponentially.
    const plain = retryPolicy({ ack_wait: ns(30_000), max_deliver: -1 });
    expect([1, 2, 3].map((dc) => plain.nakDelayMs(dc))).toEqual([1_000, 2_000, 4_000]);
    expect(plain.maxDeliver).toBe(Number.POSITIVE_INFINITY);
  });
});
