/**
 * Helpers for this package's tests (not exported from index): a bus in its own random namespace,
 * provisioned against the real broker, removed afterwards; and polling with a deadline.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
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

export type PrivateNats = {
  url: string;
  /** SIGKILL: nothing flushed, as in a crash. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Deletes the JetStream store (the server must be stopped): every stream, consumer and message. */
  wipeStore(): Promise<void>;
  /** Stops the server and removes its directory. */
  dispose(): Promise<void>;
};

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

/**
 * A nats-server of this test file's own (the shared broker must never be stopped or wiped), on a
 * free port, with its store under the worktree's `.data/`, so a test can kill it, delete its store
 * and start it again, as an operator's broker that lost its disk would.
 */
export async function privateNats(label: string): Promise<PrivateNats> {
  const root = join(import.meta.dir, "..", "..", "..", ".data");
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(join(root, `nats-${label}-`));
  const port = await freePort();
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const url = `nats://127.0.0.1:${port}`;
  async function start() {
    proc = Bun.spawn([NATS_SERVER, "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], {
      stdout: "ignore",
      stderr: "ignore",
    });
    // Ready when it accepts connections.
    await waitFor(
      async () => {
        try {
          const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
          s.end();
          return true;
        } catch {
          return false;
        }
      },
      Boolean,
      { what: "nats-server to listen", timeoutMs: 10_000, intervalMs: 50 },
    );
  }
  async function kill() {
    if (!proc) return;
    proc.kill("SIGKILL");
    await proc.exited;
    proc = undefined;
  }
  await start();
  return {
    url,
    kill,
    start,
    async wipeStore() {
      if (proc) throw new Error("stop the server before wiping its store");
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
    },
    async dispose() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = server;
  server.stop(true);
  return port;
}
