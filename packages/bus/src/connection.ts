import { type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { Registry } from "prom-client";
import { type Names, names } from "./topology.ts";

export type Bus = {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  /** Default registry for the bus's metrics; each function also accepts its own. */
  readonly registry?: Registry;
  /** Drains: pending publishes and acks are flushed before the socket closes. */
  close(): Promise<void>;
};

export type ConnectBusOptions = {
  /** `NATS_URL`: one URL or several, comma separated. */
  url: string;
  /** `BUS_PREFIX`; empty = plain names. */
  prefix?: string;
  /** Connection name shown by the server (`connz`), e.g. the service name. */
  name: string;
  registry?: Registry;
  /**
   * Keep retrying the first connect for this long instead of failing at once (a provisioning job
   * racing the broker). Default 0. After the first connect, reconnection is always unbounded.
   */
  firstConnectTimeoutMs?: number;
  /** JetStream API request timeout. */
  apiTimeoutMs?: number;
};

export async function connectBus(options: ConnectBusOptions): Promise<Bus> {
  const ns = names(options.prefix ?? "");
  const servers = options.url
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (servers.length === 0) throw new TypeError("NATS_URL is empty");
  const nc = await connectWithin(options.firstConnectTimeoutMs ?? 0, () =>
    connect({
      servers,
      name: options.name,
      // A service outlives broker restarts: reconnect forever (nats.js adds jitter).
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
    }),
  );
  const jsm = await jetstreamManager(nc, { timeout: options.apiTimeoutMs ?? 5_000 });
  const js = jsm.jetstream();
  let closing: Promise<void> | undefined;
  return {
    nc,
    js,
    jsm,
    names: ns,
    registry: options.registry,
    close() {
      closing ??= nc.isClosed() ? Promise.resolve() : nc.drain().catch(() => nc.close());
      return closing;
    },
  };
}

// nats.js's waitOnFirstConnect retries forever; a one-shot job needs a bound.
async function connectWithin(
  timeoutMs: number,
  attempt: () => Promise<NatsConnection>,
): Promise<NatsConnection> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() + 1_000 > deadline) throw err;
      await Bun.sleep(1_000);
    }
  }
}

/** Readiness: the connection is up and JetStream answers for this account. */
export async function ping(bus: Bus, timeoutMs = 2_000): Promise<boolean> {
  if (bus.nc.isClosed()) return false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([bus.jsm.getAccountInfo().then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
