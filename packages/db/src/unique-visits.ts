import type { Sql, Tx } from "./client.ts";
import { deleteUntilShort, type PruneOptions } from "./prune.ts";

/** What a click's uniqueness is decided on: the click service's candidate and its visitor key. */
export type VisitClick = {
  click_id: string;
  clicked_at: string;
  /** The click service's candidate: false for what never counts (bots), true otherwise. */
  is_unique: boolean;
  /** Keyed hash of link, IP and user agent; absent on clicks from older click services. */
  visitor?: string;
};

/**
 * Unique vs. repeat for a batch of clicks, the same for every consumer and every replica: a click
 * is unique when it opened its visitor's 24-hour window (`click_visitors`, migration 0532). The
 * first consumer to see a visitor records the click that opens the window; every other consumer
 * (attribution's rows and rollup, admin's report rollup), and every redelivery, reads the same
 * answer back. Within a batch the earliest click of a visitor is the candidate. Clicks without a
 * visitor key, and those the click service ruled out, keep their `is_unique`.
 *
 * Repeats write and lock nothing: only a visitor's first click, or one after its window ended,
 * writes a row. Rows are taken in key order, so two consumers on overlapping batches cannot
 * deadlock.
 */
export async function decideUniqueVisits<C extends VisitClick>(tx: Tx, clicks: readonly C[]): Promise<C[]> {
  const candidates = new Map<string, C>();
  for (const c of clicks) {
    if (!c.is_unique || !c.visitor) continue;
    const first = candidates.get(c.visitor);
    if (
      !first ||
      c.clicked_at < first.clicked_at ||
      (c.clicked_at === first.clicked_at && c.click_id < first.click_id)
    )
      candidates.set(c.visitor, c);
  }
  if (candidates.size === 0) return [...clicks];
  const visitors = [...candidates.keys()].sort();
  const openers = new Set<string>();
  // Windows already open are read without a lock: a repeat writes nothing and waits for nothing.
  // (An upsert would lock the row even when its WHERE leaves it as it is, and one busy visitor —
  // a flood from one address — would then queue every consumer's batches behind each other.)
  const windowMs = 24 * 3_600_000;
  const toOpen: string[] = [];
  const known = new Map(
    (
      await tx<{ visitor: string; click_id: string; first_at: Date }[]>`
        select visitor, click_id, first_at from click_visitors where visitor = any(${visitors}::text[])`
    ).map((r) => [r.visitor, r]),
  );
  for (const v of visitors) {
    const row = known.get(v);
    const candidate = candidates.get(v) as C;
    if (row && row.first_at.getTime() + windowMs > Date.parse(candidate.clicked_at))
      openers.add(row.click_id);
    else toOpen.push(v);
  }
  if (toOpen.length > 0) {
    const ids = toOpen.map((v) => (candidates.get(v) as C).click_id);
    const times = toOpen.map((v) => (candidates.get(v) as C).clicked_at);
    // A concurrent first insert of the same visitor makes this wait for its commit, so the select
    // after it (a new snapshot) sees every window opened so far.
    await tx`
      insert into click_visitors as v (visitor, click_id, first_at)
      select * from unnest(${toOpen}::text[], ${ids}::text[], ${times}::timestamptz[])
      on conflict (visitor) do update set click_id = excluded.click_id, first_at = excluded.first_at
        where v.first_at + interval '24 hours' <= excluded.first_at`;
    for (const r of await tx<{ click_id: string }[]>`
      select click_id from click_visitors where visitor = any(${toOpen}::text[])`)
      openers.add(r.click_id);
  }
  return clicks.map((c) => (c.is_unique && c.visitor ? { ...c, is_unique: openers.has(c.click_id) } : c));
}

/**
 * Rows the click service stored itself (its PostgreSQL path) carry its candidate: the clicks
 * decided repeats are marked so on their rows too (an insert that found the row left it as it was).
 */
export async function markRepeats(tx: Tx, clicks: readonly VisitClick[]): Promise<void> {
  const repeats = clicks.filter((c) => c.visitor && !c.is_unique);
  if (repeats.length === 0) return;
  await tx`
    update clicks c set is_unique = false
    from unnest(${repeats.map((c) => c.click_id)}::text[], ${repeats.map((c) => c.clicked_at)}::timestamptz[]) r(click_id, clicked_at)
    where c.click_id = r.click_id and c.clicked_at = r.clicked_at and c.is_unique`;
}

/** Forgets visitors whose window ended an hour ago or more (batch after batch; see deleteUntilShort). */
export function pruneVisitors(sql: Sql, options: Partial<PruneOptions> = {}): Promise<number> {
  return deleteUntilShort({ batch: options.batch ?? 10_000, budgetMs: options.budgetMs }, async (limit) => {
    const r = await sql`
      delete from click_visitors
      where visitor in (select visitor from click_visitors where first_at < now() - interval '25 hours' limit ${limit})`;
    return r.count;
  });
}
