import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Bus, connectBus, provision, publish, subjects } from "@roundtrip/bus";
import { createLogger, createRegistry } from "@roundtrip/telemetry";
import { startUnstoredLag } from "./unstored-lag.ts";

const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
let bus: Bus;

beforeAll(async () => {
  bus = await connectBus({
    url: NATS_URL,
    prefix: `ul${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`,
    name: "unstored-lag-test",
  });
  await provision(bus);
});

afterAll(async () => {
  for await (const name of bus.jsm.streams.names())
    if (name.startsWith(`${bus.names.prefix}_`)) await bus.jsm.streams.delete(name);
  await bus.close();
});

test("the lag is the age of the oldest click attribution has not acknowledged, 0 once all are", async () => {
  const registry = createRegistry("click");
  const lag = startUnstoredLag(bus, { registry, logger: createLogger("click", "error"), intervalMs: 60_000 });
  try {
    await lag.collect();
    expect(lag.seconds()).toBe(0);

    const batch = (id: string) => ({ clicks: [{ click_id: id }] });
    await publish(bus, subjects.clickRecorded(), batch("a"), { msgId: "clicks:a" });
    await Bun.sleep(600);
    await publish(bus, subjects.clickRecorded(), batch("b"), { msgId: "clicks:b" });
    await lag.collect();
    expect(lag.seconds()).toBeGreaterThanOrEqual(0.5); // "a", not "b", is the oldest
    const scraped = await registry.getSingleMetric("roundtrip_clicks_unstored_lag_seconds")?.get();
    expect(scraped?.values[0]?.value).toBeGreaterThanOrEqual(0.5);

    // attribution stores (acknowledges) the first batch: the second is now the oldest
    const consumer = await bus.js.consumers.get(bus.names.stream("CLICKS"), "attribution-clicks");
    const first = await consumer.next({ expires: 2_000 });
    await first?.ackAck();
    await lag.collect();
    expect(lag.seconds()).toBeLessThan(0.5);
    expect(lag.seconds()).toBeGreaterThan(0);

    const second = await consumer.next({ expires: 2_000 });
    await second?.ackAck();
    await lag.collect();
    expect(lag.seconds()).toBe(0);
  } finally {
    lag.stop();
  }
});
