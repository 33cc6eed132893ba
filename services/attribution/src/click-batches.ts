import { type Bus, type Delivery, handleBatchOnce } from "@roundtrip/bus";
import type { ClicksRecorded } from "@roundtrip/contracts";
import { decideUniqueVisits, markRepeats, type Sql } from "@roundtrip/db";
import type { Logger, Registry } from "@roundtrip/telemetry";
import { type ClickFlags, judgeClicks } from "@roundtrip/traffic";
import { countClicks } from "./click-stats.ts";
import { type RefusedClick, storeClicks } from "./click-store.ts";
import { enrichConversions } from "./enrich.ts";
import { clicksInboxKey, deadLetterRefused, withoutRefused } from "./refused-clicks.ts";
import { markStoredClicks } from "./rules/click-flags.ts";

/**
 * CLICKS messages handled in one transaction at most. Each carries up to CLICK_BATCH_MAX (200)
 * clicks, so a batch stays a few thousand rows: one insert, one rollup upsert, one commit.
 */
export const CLICK_MESSAGES_PER_BATCH = 32;

/**
 * attribution-clicks: the CLICKS messages that waited together, stored as one batch — the rows
 * in one multi-row insert, unique vs. repeat decided for the cluster (decideUniqueVisits), the
 * hourly rollup aggregated over all of them and upserted once in key order, conversions that overtook their clicks enriched once, traffic rules judged per message —
 * under one batch inbox row
 * (handleBatchOnce), so a redelivered or partly repeated batch stores and counts each message
 * once. A click PostgreSQL refuses goes to DEADLETTER alone, as the refused part of its own
 * message; the rest of the batch is stored.
 */
export function handleClickBatches(
  sql: Sql,
  bus: Bus,
  deliveries: Delivery<ClicksRecorded>[],
  options: { registry: Registry; logger: Logger },
) {
  return handleBatchOnce(sql, "attribution-clicks", deliveries, clicksInboxKey, async (tx, fresh) => {
    // Floods and IP lists first, message by message (each message's verdict is kept under its own
    // first click, as before batching): a flagged click is stored and counted as not unique.
    const flags: ClickFlags = new Map();
    const judged: { d: Delivery<ClicksRecorded>; clicks: ClicksRecorded["clicks"] }[] = [];
    // In batch-key order (a message's first click), so this batch and reports-clicks' claim the
    // same verdicts in the same order and never deadlock on them.
    const byKey = [...fresh].sort((a, b) => cmp(firstClick(a), firstClick(b)));
    for (const d of byKey) {
      const j = await judgeClicks(tx, d.payload);
      judged.push({ d, clicks: j.batch.clicks });
      for (const [id, reasons] of j.flags) flags.set(id, reasons);
    }
    // Then unique vs. repeat for the cluster: the same answer admin's rollup reads.
    const all: ClicksRecorded = {
      clicks: await decideUniqueVisits(
        tx,
        judged.flatMap((j) => j.clicks),
      ),
    };
    const refused: RefusedClick[] = [];
    await storeClicks(tx, all, refused);
    await markRepeats(tx, all.clicks);
    const stored = refused.length ? withoutRefused(all, refused) : all;
    await markStoredClicks(tx, stored, flags);
    await countClicks(tx, stored);
    await enrichConversions(tx, stored);
    for (const j of judged) {
      const own = new Set(j.clicks.map((c) => c.click_id));
      await deadLetterRefused(
        bus,
        j.d,
        refused.filter((r) => own.has(r.click.click_id)),
        options,
      );
    }
    return { flags, stored };
  });
}

const firstClick = (d: Delivery<ClicksRecorded>) => d.payload.clicks[0]?.click_id ?? "";
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
