import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { millis } from "@nats-io/nats-core";
import { provision } from "./provision.ts";
import { type TestBus, testBus } from "./test-support.ts";
import { CONSUMER_NAMES, CONSUMERS, STREAM_KEYS } from "./topology.ts";

let t: TestBus;
beforeAll(async () => {
  t = await testBus();
});
afterAll(() => t.cleanup());

describe("provision", () => {
  test("is idempotent: twice in a row, then twice at the same time", async () => {
    await provision(t.bus);
    await provision(t.bus);
    await Promise.all([provision(t.bus), provision(t.bus), provision(t.bus)]);
    const names: string[] = [];
    for await (const n of t.bus.jsm.streams.names()) if (n.startsWith(`${t.prefix}_`)) names.push(n);
    expect(names.sort()).toEqual(STREAM_KEYS.map((k) => `${t.prefix}_${k}`).sort());
  });

  test("streams are file-backed (CONFIG in memory) with a 2 minute duplicate window and namespaced subjects", async () => {
    for (const key of STREAM_KEYS) {
      const { config } = await t.bus.jsm.streams.info(t.bus.names.stream(key));
      expect(config.storage).toBe(key === "CONFIG" ? "memory" : "file");
      expect(millis(config.duplicate_window)).toBe(120_000);
      expect(config.subjects.every((s) => s.startsWith(`${t.prefix}.`))).toBe(true);
      expect(config.max_age).toBeGreaterThan(0);
    }
  });

  test("consumers exist with explicit ack, the configured backoff and a finite max_deliver", async () => {
    for (const name of CONSUMER_NAMES) {
      const def = CONSUMERS[name];
      const { config } = await t.bus.jsm.consumers.info(t.bus.names.stream(def.stream), name);
      expect(config.ack_policy).toBe("explicit");
      expect(config.max_deliver).toBe(def.maxDeliver);
      expect((config.backoff ?? []).map((n) => millis(n))).toEqual([...def.backoffMs]);
      expect(millis(config.ack_wait ?? 0)).toBe(def.backoffMs[0] as number);
      expect(config.max_ack_pending).toBe(def.maxAckPending);
    }
  });

  test("a changed definition updates the existing consumer and stream in place", async () => {
    await provision(t.bus, {
      overrides: {
        consumers: { "attribution-clicks": { maxDeliver: 4, backoffMs: [200, 400] } },
        streams: { CLICKS: { maxAgeMs: 3_600_000 } },
      },
    });
    const ci = await t.bus.jsm.consumers.info(t.bus.names.stream("CLICKS"), "attribution-clicks");
    expect(ci.config.max_deliver).toBe(4);
    expect((ci.config.backoff ?? []).map((n) => millis(n))).toEqual([200, 400]);
    const si = await t.bus.jsm.streams.info(t.bus.names.stream("CLICKS"));
    expect(millis(si.config.max_age)).toBe(3_600_000);
    // And back to the code's definition.
    await provision(t.bus);
    const again = await t.bus.jsm.consumers.info(t.bus.names.stream("CLICKS"), "attribution-clicks");
    expect(again.config.max_deliver).toBe(CONSUMERS["attribution-clicks"].maxDeliver);
  });
});
