import { type Bus, type Delivery, handleBatchOnce } from "@roundtrip/bus";
import type { ClicksRecorded } from "@roundtrip/contracts";
import { markRepeats, type Sql } from "@roundtrip/db";
import type { Logger, Registry } from "@roundtrip/telemetry";
import { judgeClickBatches } from "@roundtrip/traffic";
import { countClicks } from "./click-stats.ts";
import { type RefusedClick, storeClicks } from "./click-store.ts";
import { releaseStoredClicks } from "./click-wait.ts";
import { enrichConversions } from "./enrich.ts";
import { clicksInboxKey, deadLetterRefused, withoutRefused } from "./refused-clicks.ts";
import { markStoredClicks } from "./rules/click-flags.ts";

/**
 * CLICKS messages handled in one transaction at most. Each carries up to CLICK_BATCH_MAX (200)
 * clicks, so a batch stays a few thousand rows: one insert, one rollup upsert, one commit.
 */
export const CLICK_MESSAGES_PER_BATCH = 32;

/**
 * attribution-clicks: the CLICKS messages that waited together, judged first (floods, IP lists,
 * unique vs. repeat: judgeClickBatches, in a short transaction of its own) and then stored as one
 * batch — the rows in one multi-row insert, conversions that overtook their clicks enriched and
 * announced once, the hourly rollup aggregated over all of them and upserted once in key order —
 * under the messages' inbox rows (handleBatchOnce), so a redelivered or partly repeated batch
 * stores and counts each message once. A click PostgreSQL refuses goes to DEADLETTER alone, as the
 * refused part of its own message; the rest of the batch is stored.
 */
export async function handleClickBatches(
  sql: Sql,
  bus: Bus,
  deliveries: Delivery<ClicksRecorded>[],
  options: { registry: Registry; logger: Logger },
) {
  // A message this consumer already handled is judged again harmlessly: its verdicts are read,
  // not counted twice (flagged clicks are stored and counted as not unique).
  const { batches, flags } = await judgeClickBatches(
    sql,
    deliveries.map((d) => d.payload),
  );
  const judgedOf = new Map(deliveries.map((d, i) => [d, batches[i] as ClicksRecorded]));
  return handleBatchOnce(sql, "attribution-clicks", deliveries, clicksInboxKey, async (tx, fresh) => {
    const judged = fresh.map((d) => ({ d, clicks: judgedOf.get(d)?.clicks ?? [] }));
    const all: ClicksRecorded = { clicks: judged.flatMap((j) => j.clicks) };
    const refused: RefusedClick[] = [];
    const inserted = await storeClicks(tx, all, refused);
    // Rows that were there already (the click service's own PostgreSQL path) carry its candidate.
    if (inserted + refused.length < all.clicks.length) await markRepeats(tx, all.clicks);
    const stored = refused.length ? withoutRefused(all, refused) : all;
    await markStoredClicks(tx, stored, flags);
    await enrichConversions(tx, stored);
    // Conversions that waited for these clicks are announced now, with their sub IDs (click-wait.ts).
    const announced = await releaseStoredClicks(
      tx,
      stored.clicks.map((c) => c.click_id),
    );
    // Last: the hourly rollup's rows are shared by every batch of a link, and held until commit.
    await countClicks(tx, stored);
    for (const j of judged) {
      const own = new Set(j.clicks.map((c) => c.click_id));
      await deadLetterRefused(
        bus,
        j.d,
        refused.filter((r) => own.has(r.click.click_id)),
        options,
      );
    }
    return { flags, stored, announced };
  });
}
