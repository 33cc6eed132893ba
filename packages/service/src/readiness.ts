import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import type { ReadinessChecks } from "@roundtrip/telemetry";

/**
 * Which capabilities decide whether a running service is ready (takes traffic). PostgreSQL always
 * does: it is the record, and no service can commit anything without it. NATS decides only for a
 * service whose work is consuming the bus (attribution, commission, delivery): for one that serves
 * its requests from PostgreSQL and publishes later through its outbox (click, gateway, admin), a
 * broker outage is reported — degraded — but must not take it out of its load balancer.
 */
export type Readiness = {
  /**
   * `required`: a bus failure lasting READY_STALL_MS (connection down, a consume loop or an outbox
   * relay failing) makes `/readyz` 503. `reported`: it is listed in `reasons` with
   * `degraded: true` and `/readyz` stays 200.
   */
  nats: "required" | "reported";
};

/** Until a service says otherwise, it cannot work without its broker. */
export const DEFAULT_READINESS: Readiness = { nats: "required" };

/**
 * What `/readyz` asks once a service runs: the one rule, for the deployed process (`runService`)
 * and for service tests (`startServiceForTest`) alike. The bus side is the in-memory state its
 * loops, relays and connection report, so a probe costs no broker round trip.
 */
export function runningReadiness(
  readiness: Readiness | undefined,
  deps: { sql: Sql; bus: Bus; stallMs: number },
): { checks: ReadinessChecks; reasons: () => string[]; degraded: () => string[] } {
  const bus = () => deps.bus.health.problems(deps.stallMs);
  const none = () => [];
  const required = (readiness ?? DEFAULT_READINESS).nats === "required";
  return {
    checks: { postgres: () => deps.sql`select 1` },
    reasons: required ? bus : none,
    degraded: required ? none : bus,
  };
}
