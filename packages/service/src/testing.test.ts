import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Bus, connectBus } from "@roundtrip/bus";
import { serviceEnv } from "@roundtrip/config";
import { createTestDatabase, type TestDatabase } from "@roundtrip/db";
import { Elysia } from "elysia";
import type { Readiness } from "./readiness.ts";
import { startServiceForTest, type TestService } from "./testing.ts";

const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const schema = serviceEnv(8999, {}); // the port is unused: a test service listens on a free one

let db: TestDatabase;
let bus: Bus;
const services: TestService[] = [];

beforeAll(async () => {
  db = await createTestDatabase("readiness");
  bus = await connectBus({
    url: NATS_URL,
    prefix: `rd${crypto.randomUUID().slice(0, 8)}`,
    name: "readiness-test",
  });
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await bus?.close();
  await db?.drop();
});

/** A service as a test composes it, with the given readiness, over the shared connections. */
async function service(readiness?: Readiness): Promise<TestService> {
  const started = await startServiceForTest(
    "readiness",
    schema,
    () => ({ app: new Elysia().get("/x", () => "ok"), readiness }),
    { sql: db.sql, bus, env: { READY_STALL_MS: "0" } },
  );
  services.push(started);
  return started;
}

const readyz = async (s: TestService) => {
  const res = await fetch(`${s.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe("a test-composed service answers /readyz by the production rule", () => {
  test("a bus failure makes a broker-bound service unready and a PostgreSQL-served one degraded", async () => {
    const consumer = await service();
    const front = await service({ nats: "reported" });
    expect((await readyz(consumer)).status).toBe(200);
    expect((await readyz(front)).body).toMatchObject({ ready: true, reasons: [] });

    // What the connection watcher records on a disconnect (the broker itself stays up for others).
    bus.health.failed("connection is down", new Error("disconnected from 127.0.0.1:4222"));
    try {
      const down = await readyz(consumer);
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({
        ready: false,
        reasons: [expect.stringContaining("nats: connection is down")],
      });
      const degraded = await readyz(front);
      expect(degraded.status).toBe(200);
      expect(degraded.body).toMatchObject({
        ready: true,
        degraded: true,
        reasons: [expect.stringContaining("nats: connection is down")],
      });
    } finally {
      bus.health.succeeded("connection is down");
    }
    expect((await readyz(consumer)).status).toBe(200);
  });
});
