import type { ClicksRecorded } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";

/**
 * A conversion credited before its click row was stored (the postback overtook the click) gets
 * the click's sub IDs, IP and user agent once the click's batch is committed. Runs inside the
 * same inbox transaction as the click rollup, so it happens once per batch. A conversion being
 * created at this moment may miss this batch as it misses the conversion: it still waits for its
 * click, and the release pass copies the stored click then (click-wait.ts, releaseUnmatched).
 */
export async function enrichConversions(tx: Tx, batch: ClicksRecorded): Promise<number> {
  if (batch.clicks.length === 0) return 0;
  const ids = batch.clicks.map((c) => c.click_id);
  const times = batch.clicks.map((c) => Date.parse(c.clicked_at));
  const from = new Date(Math.min(...times));
  const to = new Date(Math.max(...times));
  const rows = await tx`
    update conversions c
    set subs = k.subs, ip = k.ip, user_agent = k.user_agent, enriched_at = now()
    from clicks k
    where c.click_id = any(${tx.array(ids)}::text[]) and c.enriched_at is null
      and k.click_id = c.click_id and k.clicked_at between ${from} and ${to}`;
  return rows.count;
}
