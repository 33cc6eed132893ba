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

const PRICED = new Set(["booked", "capped_zero", "capped_rejected", "no_rule"]);

await runService("commission", schema, ({ env, sql, bus, logger, registry }) => {
  const entries = counter(registry, "roundtrip_ledger_entries_total", "Ledger entries booked", [
    "type",
    "currency",
  ]);
  const amounts = counter(
    registry,
    "roundtrip_ledger_amount_total",
    "Ledger amounts booked (major units, absolute)",
    ["kind", "type", "currency"],
  );
  const bookings = counter(registry, "roundtrip_ledger_bookings_total", "Conversions priced, by outcome", [
    "outcome",
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
          // Metrics after the commit, once per settled change; the ledger holds the exact figures.
          const settled = r.result;
          if (settled && PRICED.has(settled.outcome)) bookings.inc({ outcome: settled.outcome });
          const entry = settled?.entry;
          if (entry) {
            entries.inc({ type: entry.type, currency: entry.currency });
            amounts.inc(
              { kind: "payout", type: entry.type, currency: entry.currency },
              Math.abs(Number(entry.payout)),
            );
            amounts.inc(
              { kind: "revenue", type: entry.type, currency: entry.currency },
              Math.abs(Number(entry.revenue)),
            );
          }
          return r;
        },
      });
      relay = startOutboxRelay(bus, sql, { registry, streams: ["COMMISSIONS"] });
    },
    async stop() {
      await consumer?.stop();
      await relay?.stop();
    },
  };
});
