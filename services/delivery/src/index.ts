import { consume, handleBatchOnce, handleOnce, inMessageTrace } from "@roundtrip/bus";
import { serviceEnv, t } from "@roundtrip/config";
import { CommissionBooked, PartnerEvent } from "@roundtrip/contracts";
import { runService } from "@roundtrip/service";
import { Value } from "@sinclair/typebox/value";
import { Elysia } from "elysia";
import { planDeliveries } from "./plan.ts";
import { planPartnerDeliveries } from "./plan-partner.ts";
import { planPlatformDeliveries } from "./conversions-api/plan.ts";
import { DEFAULT_SCHEDULE_S, parseSchedule } from "./retry.ts";
import { startSender } from "./sender.ts";
import { parseCidrs } from "@roundtrip/outbound";

const schema = serviceEnv(8085, {
  CONSUMER_CONCURRENCY: t.Integer({ minimum: 1, maximum: 256, default: 16 }),
  DELIVERY_BATCH: t.Integer({ minimum: 1, maximum: 1000, default: 50 }),
  DELIVERY_POLL_MS: t.Integer({ minimum: 10, maximum: 60_000, default: 1000 }),
  /** CIDRs exempt from the SSRF guard, comma separated; empty = none. */
  DELIVERY_ALLOWED_CIDRS: t.String({ default: "" }),
  /** Seconds before each attempt of a cycle; the default spans about 28 hours. */
  DELIVERY_RETRY_SCHEDULE_S: t.String({
    pattern: "^\\d+(\\.\\d+)?(,\\d+(\\.\\d+)?)*$",
    default: DEFAULT_SCHEDULE_S,
  }),
  DELIVERY_CONNECT_TIMEOUT_MS: t.Integer({ minimum: 100, maximum: 60_000, default: 3_000 }),
  DELIVERY_TIMEOUT_MS: t.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  /**
   * How long a claimed delivery stays this replica's. After a crash (kill -9, OOM) it is sent again
   * once this has passed, so keep it short; it must outlast DELIVERY_TIMEOUT_MS by 5 s (the attempt's writes).
   */
  DELIVERY_LEASE_MS: t.Integer({ minimum: 1_000, maximum: 600_000, default: 15_000 }),
  /** Attempts in flight at once per replica, over all endpoints. */
  DELIVERY_CONCURRENCY: t.Integer({ minimum: 1, maximum: 2_000, default: 64 }),
  /** Per endpoint (scheme, host, port), for every replica together (docs/internals.md). */
  DELIVERY_ENDPOINT_CONCURRENCY: t.Integer({ minimum: 1, maximum: 1_000, default: 4 }),
  DELIVERY_ENDPOINT_RATE_PER_S: t.Integer({ minimum: 1, maximum: 10_000, default: 50 }),
  DELIVERY_BREAKER_FAILURES: t.Integer({ minimum: 1, maximum: 1_000, default: 5 }),
  DELIVERY_BREAKER_HALF_OPEN_MS: t.Integer({ minimum: 100, maximum: 3_600_000, default: 30_000 }),
  /** An endpoint without a successful delivery for this long is disabled and reported. */
  DELIVERY_DISABLE_AFTER_H: t.Number({ minimum: 0.001, maximum: 8_760, default: 72 }),
});

await runService("delivery", schema, ({ env, sql, bus, logger, registry }) => {
  const allowed = parseCidrs(env.DELIVERY_ALLOWED_CIDRS);
  const schedule = parseSchedule(env.DELIVERY_RETRY_SCHEDULE_S);
  let consumer: { stop(): Promise<void> } | undefined;
  let partners: { stop(): Promise<void> } | undefined;
  let sender: ReturnType<typeof startSender> | undefined;
  return {
    app: new Elysia({ name: "delivery" }),
    consumers: ["delivery-commissions", "delivery-partners"],
    start() {
      consumer = consume(bus, {
        consumer: "delivery-commissions",
        sql,
        concurrency: env.CONSUMER_CONCURRENCY,
        parse: (payload) => Value.Parse(CommissionBooked, payload),
        registry,
        logger,
        maxBatch: 32,
        // The bookings that waited together, planned in one transaction under one batch inbox row
        // (a failing batch is handled again message by message, so one that cannot be handled is
        // retried or dead-lettered alone). A message's affiliate postback and ad-platform forwards
        // commit together, once; each continues its own conversion's trace.
        batchHandler: async (ds) => {
          const r = await handleBatchOnce(
            sql,
            "delivery-commissions",
            ds,
            (d) => d.msgId,
            async (tx, fresh) => {
              let due = 0;
              for (const d of fresh)
                due += await inMessageTrace(
                  d,
                  "plan deliveries",
                  async () =>
                    (await planDeliveries(tx, d.payload)) + (await planPlatformDeliveries(tx, d.payload)),
                );
              return due;
            },
          );
          if (r.result) sender?.wake(); // committed and due: send them now, not at the next poll
          return r;
        },
      });
      partners = consume(bus, {
        consumer: "delivery-partners",
        sql,
        concurrency: 4,
        parse: (payload) => Value.Parse(PartnerEvent, payload),
        registry,
        logger,
        handler: async (d) => {
          const r = await handleOnce(sql, { consumer: d.consumer, messageId: d.msgId }, (tx) =>
            planPartnerDeliveries(tx, d.payload),
          );
          if (r.result) sender?.wake();
          return r;
        },
      });
      sender = startSender(sql, {
        logger,
        registry,
        batch: env.DELIVERY_BATCH,
        leaseMs: env.DELIVERY_LEASE_MS,
        pollMs: env.DELIVERY_POLL_MS,
        concurrency: env.DELIVERY_CONCURRENCY,
        schedule,
        http: {
          connectTimeoutMs: env.DELIVERY_CONNECT_TIMEOUT_MS,
          totalTimeoutMs: env.DELIVERY_TIMEOUT_MS,
          excerptBytes: 500,
        },
        endpoint: {
          concurrency: env.DELIVERY_ENDPOINT_CONCURRENCY,
          ratePerSecond: env.DELIVERY_ENDPOINT_RATE_PER_S,
          breakerFailures: env.DELIVERY_BREAKER_FAILURES,
          halfOpenAfterMs: env.DELIVERY_BREAKER_HALF_OPEN_MS,
        },
        allowed,
        disableAfterMs: env.DELIVERY_DISABLE_AFTER_H * 3_600_000,
      });
    },
    async stop() {
      await consumer?.stop();
      await partners?.stop();
      await sender?.stop();
    },
  };
});
