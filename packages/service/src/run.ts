import { type Bus, type ConsumerName, connectBus, provision, startLagCollector } from "@roundtrip/bus";
import { loadConfigOrExit, type ServiceEnv, type serviceEnv } from "@roundtrip/config";
import { createSql, type Sql } from "@roundtrip/db";
import {
  createLogger,
  createRegistry,
  type Logger,
  onShutdown,
  type Registry,
  startTracing,
} from "@roundtrip/telemetry";
import type { Static } from "@sinclair/typebox";
import { type AnyElysia, Elysia } from "elysia";
import { errorBody } from "./errors.ts";
import { type Readiness, runningReadiness } from "./readiness.ts";
import { type NativeRoute, serveService } from "./serve.ts";

type EnvSchema = ReturnType<typeof serviceEnv>;

export type ServiceContext<E> = { env: E; sql: Sql; bus: Bus; logger: Logger; registry: Registry };

/** What a service hands back: its HTTP app and the background work it runs beside it. */
export type ServiceParts = {
  app: AnyElysia;
  /** Started before the HTTP server listens: caches loaded, consumers and relays running. */
  start?: () => Promise<void> | void;
  /** The durable consumers this service runs: their lag and the dead-letter count become gauges. */
  consumers?: ConsumerName[];
  /** Stops intake of background work and waits for in-flight work; called on SIGTERM before connections close. */
  stop?: () => Promise<void> | void;
  /**
   * Hot routes matched by Bun's native router before the Elysia app runs, so they pay no
   * per-request framework or plugin work (the click redirect). Such a route records its own RED
   * metrics and starts no span, so it is only used while spans are not exported: with tracing on,
   * `app` (which must serve the same paths) handles them with the usual SERVER spans.
   */
  routes?: Record<string, NativeRoute>;
  /**
   * Which capabilities decide readiness once running (default: PostgreSQL and NATS). A service
   * that serves from PostgreSQL while the broker is down says `{ nats: "reported" }`, so a broker
   * outage shows in `/readyz` as degraded instead of taking it out of its Service.
   */
  readiness?: Readiness;
};

/**
 * The one way a service process starts: environment validated (exit 78 naming the variable),
 * tracing, one registry, `/healthz` `/readyz` `/metrics` listening at once, then one PostgreSQL
 * pool and one NATS connection — waited for, however long, in any order (a service never exits
 * because a dependency is not up yet) — streams provisioned idempotently, the service built and
 * started and swapped in behind the same socket. `/readyz` answers 503 with the reasons until
 * then, and afterwards when PostgreSQL does not answer or — for a service whose readiness needs
 * NATS — when it cannot consume or publish for READY_STALL_MS (otherwise that is only reported).
 * SIGTERM drains in the right order: readiness off → HTTP intake stopped → background work
 * drained → connections closed.
 */
export async function runService<S extends EnvSchema>(
  name: string,
  schema: S,
  build: (ctx: ServiceContext<Static<S>>) => ServiceParts | Promise<ServiceParts>,
  options: { postgresSettings?: Record<string, string> } = {},
): Promise<void> {
  const env = loadConfigOrExit(schema, name) as Static<S>;
  const base = env as unknown as ServiceEnv;
  const tracing = startTracing(name);
  const logger = createLogger(name, base.LOG_LEVEL);
  const registry = createRegistry(name);
  const sql = createSql(base.DATABASE_URL, {
    max: base.DATABASE_POOL_MAX,
    application: `roundtrip-${name}`,
    settings: options.postgresSettings,
  });
  const topology = { replicas: base.BUS_REPLICAS };

  let draining = false;
  let bus: Bus | undefined;
  let parts: ServiceParts | undefined;
  let lag: { stop(): void } | undefined;
  const waiting = new Map<string, string>([
    ["postgres", "connecting"],
    ["nats", "connecting"],
  ]);
  const served = serveService(
    { app: starting() },
    {
      port: base.PORT,
      registry,
      draining: () => draining,
      checks: {},
      // Never ready before the service is swapped in, even between two waits.
      reasons: () =>
        waiting.size > 0
          ? [...waiting].map(([what, why]) => `${what}: ${why}`)
          : ["starting: building the service"],
      tracing: tracing.enabled,
    },
  );
  logger.info("listening", { port: served.server.port });
  // Installed before the waits, so a SIGTERM while a dependency is still down exits cleanly.
  onShutdown(logger, base.SHUTDOWN_TIMEOUT_MS, [
    ["readiness off", () => (draining = true)],
    ["http intake", () => served.server.stop(false)],
    ["background work", () => parts?.stop?.()],
    ["lag collector", () => lag?.stop()],
    ["nats", () => bus?.close()],
    ["postgres", () => sql.end({ timeout: 5 })],
    ["tracing", () => tracing.shutdown()],
  ]);

  const retry = retrying(logger, waiting);
  const [, connected] = await Promise.all([
    retry("postgres", () => sql`select 1`),
    retry("nats", () =>
      connectBus({
        url: base.NATS_URL,
        prefix: base.BUS_PREFIX,
        name: `roundtrip-${name}`,
        logger,
        topology,
        outboxRepublishAfterMs: base.OUTBOX_REPUBLISH_AFTER_MS,
      }),
    ),
  ]);
  bus = connected;
  await retry("nats provisioning", () => provision(connected, { overrides: topology }));

  parts = await build({ env, sql, bus: connected, logger, registry });
  // Caches are loaded and consumers running before the first request can arrive.
  await parts.start?.();
  lag = parts.consumers?.length
    ? startLagCollector(connected, { consumers: parts.consumers, registry, logger, intervalMs: 5_000 })
    : undefined;
  served.replace(
    parts,
    runningReadiness(parts.readiness, { sql, bus: connected, stallMs: base.READY_STALL_MS }),
  );
  logger.info("started", { port: served.server.port });
}

/** While the dependencies are awaited every route but the infrastructure ones answers 503. */
function starting() {
  return new Elysia({ name: "starting" }).all("/*", ({ set }) => {
    set.status = 503;
    set.headers["retry-after"] = "1";
    return errorBody("starting", "the service is starting: waiting for its dependencies");
  });
}

/**
 * Runs `attempt` until it succeeds: backoff from 0.5 s settling at 10 s, a warning per failed
 * attempt, and the last failure as a `/readyz` reason meanwhile.
 */
function retrying(logger: Logger, waiting: Map<string, string>) {
  return async <T>(what: string, attempt: () => Promise<T>): Promise<T> => {
    for (let n = 1; ; n++) {
      try {
        const result = await attempt();
        waiting.delete(what);
        if (n > 1) logger.info(`${what}: available`, { attempts: n });
        return result;
      } catch (err) {
        const waitMs = Math.min(10_000, 500 * 2 ** Math.min(n - 1, 5));
        const message = err instanceof Error ? err.message || err.name : String(err);
        waiting.set(what, `not available (attempt ${n}: ${message})`);
        logger.warn(`${what}: not available; retrying`, { attempt: n, wait_ms: waitMs, error: err as Error });
        await Bun.sleep(waitMs);
      }
    }
  };
}
