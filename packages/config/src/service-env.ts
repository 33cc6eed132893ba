import { type Static, type TProperties, Type as t } from "@sinclair/typebox";

/** The variables every service reads (docs/internals.md), plus the service's own. */
export function serviceEnv<P extends TProperties>(defaultPort: number, own: P) {
  return t.Object({
    PORT: t.Integer({ minimum: 1, maximum: 65535, default: defaultPort }),
    DATABASE_URL: t.String({ pattern: "^postgres(ql)?://" }),
    DATABASE_POOL_MAX: t.Integer({ minimum: 1, maximum: 200, default: 10 }),
    NATS_URL: t.String({ minLength: 1 }),
    BUS_PREFIX: t.String({ pattern: "^[A-Za-z0-9_]*$", default: "" }),
    // Stream replicas: a service re-provisioning at start must keep what the Helm hook set (R3).
    BUS_REPLICAS: t.Integer({ minimum: 1, maximum: 5, default: 1 }),
    LOG_LEVEL: t.Union([t.Literal("debug"), t.Literal("info"), t.Literal("warn"), t.Literal("error")], {
      default: "info",
    }),
    SHUTDOWN_TIMEOUT_MS: t.Integer({ minimum: 0, default: 10_000 }),
    // Owed until handled: an outbox event no consumer has handled this long after its publish is
    // checked against its stream and re-published if the broker lost it (docs/internals.md).
    // /readyz turns 503 when the service could not consume or publish (or reach NATS) this long.
    READY_STALL_MS: t.Integer({ minimum: 0, maximum: 600_000, default: 10_000 }),
    OUTBOX_REPUBLISH_AFTER_MS: t.Integer({ minimum: 1_000, maximum: 3_600_000, default: 30_000 }),
    ...own,
  });
}

export type ServiceEnv = Static<ReturnType<typeof serviceEnv<Record<never, never>>>>;
