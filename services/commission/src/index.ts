import { consume, handleBatchOnce, inMessageTrace, type OutboxRelay, startOutboxRelay } from "@roundtrip/bus";
import { serviceEnv, t } from "@roundtrip/config";
import { ConversionChanged } from "@roundtrip/contracts";
import { type Periodic, runService, startPeriodic } from "@roundtrip/service";
import { counter, gauge } from "@roundtrip/telemetry";
import { Value } from "@sinclair/typebox/value";
import { Elysia } from "elysia";
import { blockedCounts, retryAllBlocked } from "./blocks.ts";
import { CHANGES_PER_BATCH, type Settlement, settle, settleBatch } from "./ledger.ts";

const schema = serviceEnv(8084, {
  CONSUMER_CONCURRENCY: t.Integer({ minimum: 1, maximum: 256, default: 16 }),
  /** How often blocked conversions (no FX rate yet) are settled again, in milliseconds. */
  BLOCKED_RETRY_INTERVAL_MS: t.Integer({ minimum: 100, maximum: 3_600_000, default: 30_000 }),
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
  const blocked = gauge(
    registry,
    "roundtrip_commission_blocked",
    "Conversions whose commission cannot be booked yet, by reason (settled again until it can)",
    ["reason"],
  );
  const count = (settled: Settlement, conversionId: string) => {
    if (PRICED.has(settled.outcome)) bookings.inc({ outcome: settled.outcome });
    if (settled.blocked) {
      logger.warn("commission: conversion blocked", {
        conversion_id: conversionId,
        reason: settled.blocked.reason,
        detail: settled.blocked.message,
      });
    }
    const entry = settled.entry;
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
  };
  let consumer: { stop(): Promise<void> } | undefined;
  let relay: OutboxRelay | undefined;
  let retry: Periodic | undefined;
  let stopped = false;

  // Blocked changes settle themselves once the cause is fixed; the gauge is refreshed on each pass.
  const retryPass = async () => {
    const r = await retryAllBlocked(sql, settle, { stopping: () => stopped });
    if (r.settled) {
      relay?.wake();
      logger.info("commission: blocked conversions booked", { settled: r.settled });
    }
    for (const [reason, n] of Object.entries(await blockedCounts(sql))) blocked.set({ reason }, n);
  };
  return {
    app: new Elysia({ name: "commission" }),
    consumers: ["commission-conversions"],
    start() {
      consumer = consume(bus, {
        consumer: "commission-conversions",
        sql,
        concurrency: env.CONSUMER_CONCURRENCY,
        parse: (payload) => Value.Parse(ConversionChanged, payload),
        registry,
        logger,
        maxBatch: CHANGES_PER_BATCH,
        // The changes that waited together, in one transaction under one batch inbox row (a
        // failing batch is handled again message by message, so one that cannot be handled is
        // retried or dead-lettered alone).
        batchHandler: async (ds) => {
          const r = await handleBatchOnce(
            sql,
            "commission-conversions",
            ds,
            (d) => d.msgId,
            (tx, fresh) =>
              settleBatch(
                tx,
                fresh.map((d) => d.payload),
                // Each booking's event continues its own conversion's trace.
                {
                  each: (i, run) =>
                    inMessageTrace(fresh[i] as (typeof fresh)[number], "settle conversion change", run),
                },
              ),
          );
          // The bookings' events are committed: publish them now (enqueue sends no NOTIFY).
          if (r.fresh.length) relay?.wake();
          // Metrics after the commit, once per settled change; the ledger holds the exact figures.
          for (const [i, settled] of (r.result ?? []).entries())
            count(settled, (r.fresh[i] as (typeof r.fresh)[number]).payload.conversion_id);
          return r;
        },
      });
      relay = startOutboxRelay(bus, sql, { registry, streams: ["COMMISSIONS"] });
      retry = startPeriodic(
        "commission: retrying blocked conversions",
        env.BLOCKED_RETRY_INTERVAL_MS,
        retryPass,
        logger,
      );
    },
    async stop() {
      stopped = true;
      await retry?.stop();
      await consumer?.stop();
      await relay?.stop();
    },
  };
});
