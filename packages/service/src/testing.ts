import type { Bus } from "@roundtrip/bus";
import { loadConfig, type ServiceEnv, type serviceEnv } from "@roundtrip/config";
import type { Sql } from "@roundtrip/db";
import { createLogger, createRegistry, type Registry } from "@roundtrip/telemetry";
import type { Static } from "@sinclair/typebox";
import { runningReadiness } from "./readiness.ts";
import type { ServiceContext, ServiceParts } from "./run.ts";
import { serveService } from "./serve.ts";

type EnvSchema = ReturnType<typeof serviceEnv>;

export type TestService = {
  /** `http://127.0.0.1:<port>`: fetch it, as a client of the deployed process would. */
  url: string;
  registry: Registry;
  parts: ServiceParts;
  stop(): Promise<void>;
};

/**
 * A service as its entry file runs it, over a test's own database and stream prefix: the same
 * environment schema, the same `build`, `start` before the first request, and the same
 * `serveService` composition and `/readyz` rule on a free port. Only the connections are the test's.
 */
export async function startServiceForTest<S extends EnvSchema>(
  name: string,
  schema: S,
  build: (ctx: ServiceContext<Static<S>>) => ServiceParts | Promise<ServiceParts>,
  deps: { sql: Sql; bus: Bus; env?: Record<string, string> },
): Promise<TestService> {
  // The connection variables are required by the schema but unused: the test owns the connections.
  const env = loadConfig(schema, {
    DATABASE_URL: "postgres://owned-by-the-test",
    NATS_URL: "nats://owned-by-the-test",
    LOG_LEVEL: "error",
    ...deps.env,
  }) as Static<S>;
  const logger = createLogger(name, (env as { LOG_LEVEL: "error" }).LOG_LEVEL);
  const registry = createRegistry(name);
  const parts = await build({ env, sql: deps.sql, bus: deps.bus, logger, registry });
  await parts.start?.();
  // The same readiness rule as the deployed process, over the test's connections.
  const stallMs = (env as unknown as ServiceEnv).READY_STALL_MS;
  const { server, url } = serveService(parts, {
    port: 0,
    registry,
    draining: () => false,
    ...runningReadiness(parts.readiness, { sql: deps.sql, bus: deps.bus, stallMs }),
    tracing: false,
  });
  return {
    url,
    registry,
    parts,
    async stop() {
      await server.stop(true);
      await parts.stop?.();
    },
  };
}
