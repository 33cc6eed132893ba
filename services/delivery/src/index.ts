import { consume, handleOnce } from "@roundtrip/bus";
import { serviceEnv, t } from "@roundtrip/config";
import { CommissionBooked } from "@roundtrip/contracts";
import { runService } from "@roundtrip/service";
import { Value } from "@sinclair/typebox/value";
import { Elysia } from "elysia";
import { planDeliveries } from "./plan.ts";
import { startSender } from "./sender.ts";

const schema = serviceEnv(8085, {
  CONSUMER_CONCURRENCY: t.Integer({ minimum: 1, maximum: 256, default: 16 }),
  DELIVERY_BATCH: t.Integer({ minimum: 1, maximum: 1000, default: 50 }),
  DELIVERY_POLL_MS: t.Integer({ minimum: 10, maximum: 60_000, default: 1000 }),
  DELIVERY_ALLOWED_CIDRS: t.String({ default: "" }),
});

await runService("delivery", schema, ({ env, sql, bus, logger, registry }) => {
  let consumer: { stop(): Promise<void> } | undefined;
  let sender: { stop(): Promise<void> } | undefined;
  return {
    app: new Elysia({ name: "delivery" }),
    consumers: ["delivery-commissions"],
    start() {
      consumer = consume(bus, {
        consumer: "delivery-commissions",
        concurrency: env.CONSUMER_CONCURRENCY,
        parse: (payload) => Value.Parse(CommissionBooked, payload),
        registry,
        logger,
        handler: (d) =>
          handleOnce(sql, { consumer: d.consumer, messageId: d.msgId }, (tx) =>
            planDeliveries(tx, d.payload),
          ),
      });
      sender = startSender(sql, {
        logger,
        registry,
        batch: env.DELIVERY_BATCH,
        pollMs: env.DELIVERY_POLL_MS,
      });
    },
    async stop() {
      await consumer?.stop();
      await sender?.stop();
    },
  };
});
