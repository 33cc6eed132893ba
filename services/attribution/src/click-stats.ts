import type { ClicksRecorded } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";

/** Folds one committed batch of clicks into the hourly rollup (inside the batch's inbox transaction). */
export async function countClicks(tx: Tx, batch: ClicksRecorded): Promise<number> {
  const groups = new Map<
    string,
    {
      hour: string;
      link_id: string;
      offer_id: string;
      affiliate_id: string;
      brand_id: string;
      clicks: number;
      unique_clicks: number;
    }
  >();
  for (const c of batch.clicks) {
    const hour = `${c.clicked_at.slice(0, 13)}:00:00Z`;
    const key = `${hour}|${c.link_id}`;
    const g = groups.get(key) ?? {
      hour,
      link_id: c.link_id,
      offer_id: c.offer_id,
      affiliate_id: c.affiliate_id,
      brand_id: c.brand_id,
      clicks: 0,
      unique_clicks: 0,
    };
    g.clicks++;
    if (c.is_unique) g.unique_clicks++;
    groups.set(key, g);
  }
  if (groups.size === 0) return 0;
  // In key order: two batches upserting the same hours and links lock the rows in the same order,
  // so one waits for the other instead of deadlocking (they did, several times a minute).
  const rows = [...groups.values()].sort((a, b) =>
    a.hour < b.hour ? -1 : a.hour > b.hour ? 1 : Number(a.link_id) - Number(b.link_id),
  );
  await tx`
    insert into click_stats_hourly ${tx(rows)}
    on conflict (hour, link_id) do update set
      clicks = click_stats_hourly.clicks + excluded.clicks,
      unique_clicks = click_stats_hourly.unique_clicks + excluded.unique_clicks`;
  return batch.clicks.length;
}
