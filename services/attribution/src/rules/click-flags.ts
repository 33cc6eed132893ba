import type { ClicksRecorded } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import type { ClickFlags } from "@roundtrip/traffic";

/**
 * A flagged click whose row was already stored (by the click service itself when its publish
 * failed, or by an earlier delivery) gets the verdict too: not unique, with the reasons.
 */
export async function markStoredClicks(tx: Tx, batch: ClicksRecorded, flags: ClickFlags): Promise<void> {
  if (flags.size === 0) return;
  const rows = batch.clicks
    .filter((c) => flags.has(c.click_id))
    .map((c) => ({ click_id: c.click_id, clicked_at: c.clicked_at, reasons: c.reasons ?? [] }));
  await tx`
    update clicks k set is_unique = false, reasons = f.reasons
    from json_populate_recordset(null::clicks, ${JSON.stringify(rows)}::text::json) f
    where k.click_id = f.click_id and k.clicked_at = f.clicked_at and k.reasons is distinct from f.reasons`;
}

/**
 * Judgements and flood counters only matter for minutes: kept two hours, pruned in bounded
 * batches so no prune holds long locks.
 */
export async function pruneJudgements(tx: Tx | import("@roundtrip/db").Sql): Promise<number> {
  const velocity = await tx`
    delete from click_velocity where ctid in (
      select ctid from click_velocity where minute < now() - interval '2 hours' limit 10000)`;
  const judged = await tx`
    delete from click_judged_batches where batch_key in (
      select batch_key from click_judged_batches where judged_at < now() - interval '2 days' limit 10000)`;
  return velocity.count + judged.count;
}
