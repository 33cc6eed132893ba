/**
 * Helpers for this package's tests (not exported from index): a bus in its own random namespace,
 * provisioned against the real broker, removed afterwards; and polling with a deadline.
 */
import { JetStreamApiError } from "@nats-io/jetstream";
import { createTestDatabase, type TestDatabase } from "@roundtrip/db";
import { Registry } from "prom-client";
import { type Bus, connectBus } from "./connection.ts";
import type { Logger } from "./logger.ts";
import { provision } from "./provision.ts";
import type { TopologyOverrides } from "./topology.ts";

export type TestBus = { bus: Bus; prefix: string; registry: Registry; cleanup(): Promise<void> };

/** Tests assert on outcomes; the expected retry/dead-letter warnings would only be noise. */
export const quietLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

export async function testBus(overrides?: TopologyOverrides): Promise<TestBus> {
  const prefix = `t${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const registry = new Registry();
  const bus = await connectBus({ url: NATS_URL, prefix, name: `bus-test-${prefix}`, registry });
  async function cleanup() {
    // Every stream of this namespace, including any a test added itself.
    const all: string[] = [];
    for await (const name of bus.jsm.streams.names()) if (name.startsWith(`${prefix}_`)) all.push(name);
    await Promise.all(
      all.map((name) =>
        bus.jsm.streams.delete(name).catch((err) => {
          if (!(err instanceof JetStreamApiError)) throw err;
        }),
      ),
    );
    await bus.close();
  }
  try {
    await provision(bus, { overrides });
  } catch (err) {
    await cleanup(); // afterAll never sees a bus that failed to start
    throw err;
  }
  return { bus, prefix, registry, cleanup };
}

export async function testDatabase(label: string): Promise<TestDatabase> {
  const db = await createTestDatabase(label);
  // A table standing in for a handler's business effect.
  await db.sql`create table bus_test_effects (message_id text not null, note text)`;
  return db;
}

/** Polls `probe` until `done` holds or the deadline passes (then throws with the last value). */
export async function waitFor<T>(
  probe: () => Promise<T> | T,
  done: (value: T) => boolean = Boolean,
  { timeoutMs = 15_000, intervalMs = 20, what = "condition" } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await probe();
    if (done(last)) return last;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await Bun.sleep(intervalMs);
  }
}

export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const match = values.find((v) =>
    Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want),
  );
  return match?.value ?? 0;
}

/** A logger that keeps what it is told, for asserting on what an operator would read. */
export function recordingLogger(): Logger & { lines: { level: string; msg: string; fields?: object }[] } {
  const lines: { level: string; msg: string; fields?: object }[] = [];
  const at = (level: string) => (msg: string, fields?: object) => {
    lines.push({ level, msg, fields });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
