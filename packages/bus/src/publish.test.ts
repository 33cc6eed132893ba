import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ping } from "./connection.ts";
import { publish } from "./publish.ts";
import { metricValue, type TestBus, testBus } from "./test-support.ts";
import { subjects } from "./topology.ts";

let t: TestBus;
beforeAll(async () => {
  t = await testBus();
});
afterAll(() => t.cleanup());

describe("publish", () => {
  test("the same Nats-Msg-Id published twice is stored once", async () => {
    const subject = subjects.postbackReceived(7);
    const first = await publish(t.bus, subject, { txid: "A-1", event: "ftd" }, { msgId: "pb:7:A-1:ftd" });
    const second = await publish(t.bus, subject, { txid: "A-1", event: "ftd" }, { msgId: "pb:7:A-1:ftd" });
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    const info = await t.bus.jsm.streams.info(t.bus.names.stream("POSTBACKS"));
    expect(info.state.messages).toBe(1);
    const stored = await t.bus.jsm.streams.getMessage(t.bus.names.stream("POSTBACKS"), { seq: first.seq });
    expect(stored?.subject).toBe(`${t.prefix}.postbacks.received.7`);
    expect(stored?.header.get("Nats-Msg-Id")).toBe("pb:7:A-1:ftd");
    expect(stored?.json()).toEqual({ txid: "A-1", event: "ftd" });
    expect(await metricValue(t.registry, "roundtrip_bus_published_total", { stream: "POSTBACKS" })).toBe(2);
  });

  test("bigint values travel as decimal strings", async () => {
    const ack = await publish(
      t.bus,
      subjects.commissionBooked(),
      { amount_minor: 9007199254740993n },
      { msgId: "big" },
    );
    const stored = await t.bus.jsm.streams.getMessage(t.bus.names.stream("COMMISSIONS"), { seq: ack.seq });
    expect(stored?.json()).toEqual({ amount_minor: "9007199254740993" });
  });

  test("a publish without msgId is refused before it reaches the wire", async () => {
    await expect(publish(t.bus, subjects.clickRecorded(), {}, { msgId: "" })).rejects.toThrow(
      /msgId is required/,
    );
  });

  test("ping answers for a live connection", async () => {
    expect(await ping(t.bus)).toBe(true);
  });
});
