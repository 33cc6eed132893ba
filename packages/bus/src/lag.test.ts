import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { deadLetter } from "./deadletter.ts";
import { startLagCollector } from "./lag.ts";
import { publish } from "./publish.ts";
import { metricValue, type TestBus, testBus } from "./test-support.ts";
import { subjects } from "./topology.ts";

let t: TestBus;
beforeAll(async () => {
  t = await testBus();
});
afterAll(() => t.cleanup());

describe("lag collector", () => {
  test("reports pending, ack-pending and redelivered per consumer and the dead-letter count", async () => {
    for (let i = 0; i < 3; i++)
      await publish(t.bus, subjects.postbackReceived(1), { i }, { msgId: `lag:${i}` });
    const raw = await t.bus.js.consumers.get(t.bus.names.stream("POSTBACKS"), "attribution-postbacks");
    await raw.next({ expires: 2_000 }); // delivered, not acked
    await deadLetter(t.bus, {
      stream: "CLICKS",
      consumer: "attribution-clicks",
      subject: "clicks.recorded",
      streamSequence: 1,
      deliveryCount: 1,
      msgId: "x",
      body: new TextEncoder().encode("{}"),
      headers: undefined,
      reason: "permanent",
      error: "test",
    });
    const lag = startLagCollector(t.bus, { intervalMs: 60_000, registry: t.registry });
    await lag.collect();
    lag.stop();
    const labels = { stream: "POSTBACKS", consumer: "attribution-postbacks" };
    expect(await metricValue(t.registry, "roundtrip_bus_consumer_pending_messages", labels)).toBe(2);
    expect(await metricValue(t.registry, "roundtrip_bus_consumer_ack_pending_messages", labels)).toBe(1);
    expect(await metricValue(t.registry, "roundtrip_bus_consumer_redelivered_messages", labels)).toBe(0);
    expect(
      await metricValue(t.registry, "roundtrip_bus_consumer_pending_messages", {
        stream: "CLICKS",
        consumer: "attribution-clicks",
      }),
    ).toBe(0);
    expect(await metricValue(t.registry, "roundtrip_bus_dead_letter_messages")).toBe(1);
  });
});
