import { consume, handleBatchOnce, inMessageTrace, type OutboxRelay, startOutboxRelay } from "@roundtrip/bus";
import { ClickIdCodec } from "@roundtrip/clickid";
import { serviceEnv, t } from "@roundtrip/config";
import { ClicksRecorded, PostbackReceived } from "@roundtrip/contracts";
import { pruneVisitors } from "@roundtrip/db";
import { type Periodic, runService, startPeriodic } from "@roundtrip/service";
import { counter, gauge } from "@roundtrip/telemetry";
import { Value } from "@sinclair/typebox/value";
import { Elysia } from "elysia";
import { BLOCKED_REASON, capBlockedCount, releaseCapBlocked } from "./cap-blocks.ts";
import { CLICK_MESSAGES_PER_BATCH, handleClickBatches } from "./click-batches.ts";
import { awaitingClickCount, CLICK_WAIT_REASON, releaseUnmatched } from "./click-wait.ts";
import { attributeBatch, POSTBACKS_PER_BATCH } from "./conversions.ts";
import { pruneJudgements } from "./rules/click-flags.ts";

const schema = serviceEnv(8083, {
  CLICK_ID_KEYS: t.String({ minLength: 35 }),
  CONSUMER_CONCURRENCY: t.Integer({ minimum: 1, maximum: 256, default: 16 }),
  /** How often conversions blocked over a cap are released where the cap has room, in milliseconds. */
  CAP_RELEASE_INTERVAL_MS: t.Integer({ minimum: 100, maximum: 3_600_000, default: 15_000 }),
  /**
   * How often conversions waiting for their click row are checked for a click that can no longer
   * come (click-wait.ts), in milliseconds; a stored click releases its conversions at once.
   */
  CLICK_WAIT_CHECK_MS: t.Integer({ minimum: 100, maximum: 600_000, default: 1_000 }),
  /** The longest a conversion waits for its click row before it is announced without it. */
  CLICK_WAIT_MAX_MS: t.Integer({ minimum: 0, maximum: 86_400_000, default: 900_000 }),
});

await runService("attribution", schema, ({ env, sql, bus, logger, registry }) => {
  const codec = ClickIdCodec.fromSpec(env.CLICK_ID_KEYS);
  const conversions = counter(
    registry,
    "roundtrip_conversions_total",
    "Conversions created or changed, by event and status",
    ["event", "status"],
  );
  const rejected = counter(
    registry,
    "roundtrip_conversions_rejected_total",
    "Postbacks attribution refused, by reason",
    ["reason"],
  );
  const duplicates = counter(
    registry,
    "roundtrip_conversion_duplicates_total",
    "Postbacks that repeated a known conversion",
    ["advertiser"],
  );
  const blocked = gauge(
    registry,
    "roundtrip_conversions_blocked",
    "Conversions held back from commission and delivery, by reason (released when the cause is fixed)",
    ["reason"],
  );
  const ruleHits = counter(
    registry,
    "roundtrip_traffic_rule_hits_total",
    "Traffic-quality rules that fired (docs/fraud.md), by reason, action and what they fired on",
    ["reason", "action", "on"],
  );
  // Per affiliate and offer (one series each, like roundtrip_postbacks_total's advertiser): what
  // the anomaly alerts compare with their trailing baseline (deploy/prometheus/rules.yml).
  const affiliateConversions = counter(
    registry,
    "roundtrip_affiliate_conversions_total",
    "Conversions created, by affiliate",
    ["affiliate"],
  );
  const offerConversions = counter(
    registry,
    "roundtrip_offer_conversions_total",
    "Conversions created, by offer",
    ["offer"],
  );
  const affiliateClicks = counter(
    registry,
    "roundtrip_affiliate_clicks_total",
    "Clicks stored, by affiliate",
    ["affiliate"],
  );
  const consumers: { stop(): Promise<void> }[] = [];
  let prune: Periodic | undefined;
  let relay: OutboxRelay | undefined;
  let capRelease: Periodic | undefined;
  let clickWait: Periodic | undefined;
  let stopping = false;

  return {
    app: new Elysia({ name: "attribution" }),
    consumers: ["attribution-postbacks", "attribution-clicks"],
    start() {
      consumers.push(
        consume(bus, {
          consumer: "attribution-postbacks",
          sql,
          concurrency: env.CONSUMER_CONCURRENCY,
          maxBatch: POSTBACKS_PER_BATCH,
          parse: (payload) => Value.Parse(PostbackReceived, payload),
          registry,
          logger,
          // The postbacks that waited together, in one transaction under one batch inbox row
          // (a failing batch is handled again message by message, so one that cannot be
          // handled is retried or dead-lettered alone).
          batchHandler: async (ds) => {
            const r = await handleBatchOnce(
              sql,
              "attribution-postbacks",
              ds,
              (d) => d.msgId,
              (tx, fresh) =>
                attributeBatch(
                  tx,
                  codec,
                  fresh.map((d) => d.payload),
                  // Each conversion's events continue its own postback's trace.
                  {
                    each: (i, run) =>
                      inMessageTrace(fresh[i] as (typeof fresh)[number], "attribute postback", run),
                  },
                ),
            );
            // The conversions' events are committed: publish them now (enqueue sends no NOTIFY).
            if (r.fresh.length) relay?.wake();
            // Metrics only after the commit, and never twice for a redelivery.
            for (const [i, outcome] of (r.result ?? []).entries()) {
              const d = r.fresh[i] as (typeof r.fresh)[number];
              if ("applied" in outcome) for (const a of outcome.applied) conversions.inc(a);
              if (outcome.kind === "created") {
                for (const h of outcome.hits)
                  ruleHits.inc({ reason: h.reason, action: h.action, on: "conversion" });
                affiliateConversions.inc({ affiliate: outcome.affiliateId });
                offerConversions.inc({ offer: outcome.offerId });
              }
              if (outcome.kind === "rejected") rejected.inc({ reason: outcome.reason });
              if (outcome.kind === "duplicate") duplicates.inc({ advertiser: d.payload.advertiser_id });
            }
            return r;
          },
        }),
        consume(bus, {
          consumer: "attribution-clicks",
          sql,
          concurrency: 4,
          maxBatch: CLICK_MESSAGES_PER_BATCH,
          parse: (payload) => Value.Parse(ClicksRecorded, payload),
          registry,
          logger,
          batchHandler: async (ds) => {
            const r = await handleClickBatches(sql, bus, ds, { registry, logger });
            if (r.result?.announced) relay?.wake(); // conversions that waited for these clicks
            for (const reasons of r.result?.flags.values() ?? [])
              for (const reason of reasons) ruleHits.inc({ reason, action: "flag", on: "click" });
            for (const c of r.result?.stored.clicks ?? []) affiliateClicks.inc({ affiliate: c.affiliate_id });
            return r;
          },
        }),
      );
      relay = startOutboxRelay(bus, sql, { registry, streams: ["CONVERSIONS"] });
      // Over-cap conversions book themselves once the cap has room; the gauge is refreshed each pass.
      capRelease = startPeriodic(
        "attribution: releasing over-cap conversions",
        env.CAP_RELEASE_INTERVAL_MS,
        async () => {
          const r = await releaseCapBlocked(sql, { stopping: () => stopping });
          if (r.released) {
            relay?.wake(); // their events are committed
            logger.info("attribution: over-cap conversions released", r);
          }
          blocked.set({ reason: BLOCKED_REASON }, await capBlockedCount(sql));
        },
        logger,
      );
      // Conversions whose click can no longer come (or waited too long) go out without it.
      clickWait = startPeriodic(
        "attribution: releasing conversions waiting for their click",
        env.CLICK_WAIT_CHECK_MS,
        async () => {
          const r = await releaseUnmatched(sql, bus, {
            maxWaitMs: env.CLICK_WAIT_MAX_MS,
            stopping: () => stopping,
          });
          if (r.released) {
            relay?.wake();
            logger.info("attribution: conversions announced without their click", r);
          }
          blocked.set({ reason: CLICK_WAIT_REASON }, await awaitingClickCount(sql));
        },
        logger,
      );
      // Flood counters, click judgements and visitor windows only matter for minutes and hours.
      prune = startPeriodic(
        "attribution: pruning click judgements",
        600_000,
        async () => {
          await pruneJudgements(sql);
          await pruneVisitors(sql);
        },
        logger,
      );
    },
    async stop() {
      stopping = true;
      await capRelease?.stop();
      await clickWait?.stop();
      await prune?.stop();
      await Promise.all(consumers.map((c) => c.stop()));
      await relay?.stop();
    },
  };
});
