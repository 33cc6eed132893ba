import type { Tx } from "@roundtrip/db";

/**
 * A postback creating a conversion and the click batch storing its click must not both miss each
 * other (each in its own transaction, neither seeing the other's uncommitted row): they take the
 * same lock, so whichever commits second sees the first and copies the click's sub IDs, IP and
 * user agent onto the conversion. Clicks map onto a fixed set of stripes so a batch of thousands
 * of clicks takes at most STRIPES locks: batches share them (they never need to see each other),
 * a conversion being created takes its stripe exclusively.
 *
 * How many: a conversion waits for every click batch holding its stripe, and a batch queued
 * behind that conversion waits too (PostgreSQL queues a shared request behind a waiting exclusive
 * one). With 64, a batch of a dozen clicks held a fifth of them until its commit and most
 * postbacks waited on some batch (10 ms a lock on average in a soak). 512 makes that a few
 * percent, and still bounds a batch's locks well inside PostgreSQL's shared lock table
 * (max_locks_per_transaction × max_connections slots: 6,400 at the defaults; at most
 * attribution-clicks' 4 batches in flight × replicas × 512 are held by click batches at once).
 */
const LOCK_CLASS = 10_430;
const STRIPES = 512;

/**
 * Exclusively, for conversions about to be created for these clicks (a postback batch's), in one
 * statement and in ascending stripe order, as batches take theirs: the two never deadlock on them.
 */
export async function lockClicksForConversions(tx: Tx, clickIds: string[]): Promise<void> {
  if (clickIds.length === 0) return;
  await tx`
    select pg_advisory_xact_lock(${LOCK_CLASS}, stripe)
    from (select distinct hashtext(id) & ${STRIPES - 1} as stripe from unnest(${tx.array(clickIds)}::text[]) as id order by 1) s`;
}

export async function lockClicksForEnrichment(tx: Tx, clickIds: string[]): Promise<void> {
  if (clickIds.length === 0) return;
  await tx`
    select pg_advisory_xact_lock_shared(${LOCK_CLASS}, stripe)
    from (select distinct hashtext(id) & ${STRIPES - 1} as stripe from unnest(${tx.array(clickIds)}::text[]) as id order by 1) s`;
}
