import { type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { Registry } from "prom-client";
import { type TopologyHealer, topologyHealer } from "./heal.ts";
import { BusHealth } from "./health.ts";
import { type Logger, stderrLogger } from "./logger.ts";
import { type Names, names, type TopologyOverrides } from "./topology.ts";

export type Bus = {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  /** Default registry for the bus's metrics; each function also accepts its own. */
  readonly registry?: Registry;
  readonly logger: Logger;
  /** What this process cannot do on the bus, for `/readyz`. */
  readonly health: BusHealth;
  /**
   * Re-creates missing streams and consumers from topology.ts (coalesced, rate-limited) and logs
   * it at error level. Call it when the broker says a stream or consumer is not there.
   */
  reprovision: TopologyHealer["reprovision"];
  /** Default for outbox relays' `republishAfterMs` (OUTBOX_REPUBLISH_AFTER_MS). */
  readonly outboxRepublishAfterMs?: number;
  /** Called after each re-provision this process did; returns an unsubscribe function. */
  onReprovisioned: TopologyHealer["onReprovisioned"];
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
  /** Connection events and self-healing go here (default: stderr, warnings and errors only). */
  logger?: Logger;
  /** What `reprovision` provisions (the same overrides as the start-up provision). */
  topology?: TopologyOverrides;
  /** Deployment default for every outbox relay on this bus (OUTBOX_REPUBLISH_AFTER_MS). */
  outboxRepublishAfterMs?: number;
  /**
   * Keep retrying the first connect for this long instead of failing at once, logging each failed
   * attempt: a provisioning job racing the broker, or a service started before it (Infinity).
   * Default 0. After the first connect, reconnection is always unbounded.
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
  const log = options.logger ?? stderrLogger;
  const nc = await connectWithin(options.firstConnectTimeoutMs ?? 0, log, () =>
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
  const health = new BusHealth();
  watchConnection(nc, health, log);
  let closing: Promise<void> | undefined;
  const healer = topologyHealer(() => bus, { overrides: options.topology, logger: log });
  const bus: Bus = {
    nc,
    js,
    jsm,
    names: ns,
    registry: options.registry,
    logger: log,
    health,
    outboxRepublishAfterMs: options.outboxRepublishAfterMs,
    reprovision: healer.reprovision,
    onReprovisioned: healer.onReprovisioned,
    close() {
      closing ??= nc.isClosed() ? Promise.resolve() : nc.drain().catch(() => nc.close());
      return closing;
    },
  };
  return bus;
}

const CONNECTION = "connection is down";

/** Logs disconnects and reconnects, and keeps the connection's state in `health`. */
function watchConnection(nc: NatsConnection, health: BusHealth, log: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        health.connected = false;
        health.failed(CONNECTION, new Error(`disconnected from ${s.server}`));
        log.warn("nats: disconnected; reconnecting", { server: s.server });
      } else if (s.type === "reconnect") {
        health.connected = true;
        health.succeeded(CONNECTION);
        log.info("nats: reconnected", { server: s.server });
      }
    }
  })().catch((err) => log.warn("nats: status watcher ended", { err }));
}

// nats.js's waitOnFirstConnect retries forever and silently; we want a bound (a one-shot job) or
// a line per attempt (a service waiting for its broker), with a backoff that settles at 10 s.
async function connectWithin(
  timeoutMs: number,
  log: Logger,
  attempt: () => Promise<NatsConnection>,
): Promise<NatsConnection> {
  const deadline = Date.now() + timeoutMs;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const waitMs = Math.min(10_000, 500 * 2 ** Math.min(n - 1, 5));
      if (Date.now() + waitMs > deadline) throw err;
      log.warn("nats: cannot connect; retrying", { attempt: n, waitMs, err });
      await Bun.sleep(waitMs);
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
