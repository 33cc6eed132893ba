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
import type { AnyElysia } from "elysia";
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
};

/**
 * The one way a service process starts: environment validated (exit 78 naming the variable),
 * tracing, one registry, one PostgreSQL pool, one NATS connection, streams provisioned
 * idempotently, `/healthz` `/readyz` `/metrics`, and a SIGTERM drain in the right order:
 * readiness off → HTTP intake stopped → background work drained → connections closed.
 */
export async function runService<S extends EnvSchema>(
  name: string,
  schema: S,
  build: (ctx: ServiceContext<Static<S>>) => ServiceParts | Promise<ServiceParts>,
): Promise<void> {
  const env = loadConfigOrExit(schema, name) as Static<S>;
  const base = env as unknown as ServiceEnv;
  const tracing = startTracing(name);
  const logger = createLogger(name, base.LOG_LEVEL);
  const registry = createRegistry(name);
  const sql = createSql(base.DATABASE_URL, { max: base.DATABASE_POOL_MAX, application: `roundtrip-${name}` });
  const topology = { replicas: base.BUS_REPLICAS };
  const bus = await connectBus({
    url: base.NATS_URL,
    prefix: base.BUS_PREFIX,
    name: `roundtrip-${name}`,
    logger,
    topology,
    outboxRepublishAfterMs: base.OUTBOX_REPUBLISH_AFTER_MS,
  });
  await provision(bus, { overrides: topology });

  const parts = await build({ env, sql, bus, logger, registry });
  let draining = false;
  // Caches are loaded and consumers running before the first request can arrive.
  await parts.start?.();
  const lag = parts.consumers?.length
    ? startLagCollector(bus, { consumers: parts.consumers, registry, logger, intervalMs: 5_000 })
    : undefined;
  const { server } = serveService(parts, {
    port: base.PORT,
    registry,
    draining: () => draining,
    checks: { postgres: () => sql`select 1`, nats: () => bus.nc.flush() },
    tracing: tracing.enabled,
  });
  logger.info("listening", { port: server.port });

  onShutdown(logger, base.SHUTDOWN_TIMEOUT_MS, [
    ["readiness off", () => (draining = true)],
    ["http intake", () => server.stop(false)],
    ["background work", () => parts.stop?.()],
    ["lag collector", () => lag?.stop()],
    ["nats", () => bus.close()],
    ["postgres", () => sql.end({ timeout: 5 })],
    ["tracing", () => tracing.shutdown()],
  ]);
}
