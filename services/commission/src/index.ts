import { consume, handleOnce, startOutboxRelay } from "@roundtrip/bus";
import { serviceEnv, t } from "@roundtrip/config";
import { ConversionChanged } from "@roundtrip/contracts";
import { runService } from "@roundtrip/service";
import { counter } from "@roundtrip/telemetry";
import { Value } from "@sinclair/typebox/value";
import { Elysia } from "elysia";
import { settle } from "./ledger.ts";

const schema = serviceEnv(8084, {
  CONSUMER_CONCURRENCY: t.Integer({ minimum: 1, maximum: 256, default: 16 }),
});

await runService("commission", schema, ({ env, sql, bus, logger, registry }) => {
  const entries = counter(registry, "roundtrip_ledger_entries_total", "Ledger entries booked", [
    "type",
    "currency",
  ]);
  const amounts = counter(registry, "roundtrip_ledger_amount_total", "Ledger amounts booked (major units)", [
    "kind",
    "type",
    "currency",
  ]);
  let consumer: { stop(): Promise<void> } | undefined;
  let relay: { stop(): Promise<void> } | undefined;
  return {
    app: new Elysia({ name: "commission" }),
    consumers: ["commission-conversions"],
    start() {
      consumer = consume(bus, {
        consumer: "commission-conversions",
        concurrency: env.CONSUMER_CONCURRENCY,
        parse: (payload) => Value.Parse(ConversionChanged, payload),
        registry,
        logger,
        handler: async (d) => {
          const r = await handleOnce(sql, { consumer: d.consumer, messageId: d.msgId }, (tx) =>
            settle(tx, d.payload),
          );
          const booking = r.result;
          if (booking?.entryType) {
            entries.inc({ type: booking.entryType, currency: booking.currency });
            // A metric, not money: the ledger holds the exact figure.
            amounts.inc(
              { kind: "payout", type: booking.entryType, currency: booking.currency },
              Math.abs(Number(booking.payout)),
            );
          }
          return r;
        },
      });
      relay = startOutboxRelay(bus, sql, { registry });
    },
    async stop() {
      await consumer?.stop();
      await relay?.stop();
    },
  };
});
