import type { ConversionChanged } from "@roundtrip/contracts";
import type { Sql, Tx } from "@roundtrip/db";
import type { FxRateMissingError } from "./fx.ts";

/**
 * A conversion change commission cannot book yet — no FX rate in force for its currencies — is
 * not an error to retry in the dark until it is dead-lettered: the message is handled, and the
 * change waits in `commission_blocks` with its reason, where the trace shows it and
 * `roundtrip_commission_blocked{reason}` counts it. `retryBlocked` settles blocked changes again
 * on the service's schedule, so the conversion books itself once the cause is fixed (the rate
 * loaded) without anyone replaying anything.
 *
 * A conversion over its offer event's cap never reaches commission while it waits: attribution
 * holds it back and announces it once the cap has room (services/attribution/src/cap-blocks.ts).
 * A payout rule's cap is a pricing decision instead (booked at zero or rejected, `cap_action`).
 */
export const BLOCK_REASONS = ["fx_rate_missing"] as const;
export type BlockReason = (typeof BLOCK_REASONS)[number];

export type ChangeBlocked = { reason: BlockReason; message: string };

/** Records (or refreshes) the block of a conversion: the latest change that could not be booked wins. */
export async function blockChange(
  tx: Tx,
  c: ConversionChanged,
  err: FxRateMissingError,
): Promise<ChangeBlocked> {
  const detail = { from: err.from, to: err.to, at: err.at.toISOString() };
  await tx`
    insert into commission_blocks (conversion_id, change_seq, change, reason, detail, message)
    values (${c.conversion_id}, ${c.seq}, ${tx.json(c as never)}, ${err.code}, ${tx.json(detail)}, ${err.message})
    on conflict (conversion_id) do update set
      change_seq = greatest(commission_blocks.change_seq, excluded.change_seq),
      change = case when excluded.change_seq >= commission_blocks.change_seq then excluded.change
                    else commission_blocks.change end,
      reason = excluded.reason, detail = excluded.detail, message = excluded.message,
      attempts = commission_blocks.attempts + 1, last_attempt_at = now()`;
  return { reason: err.code, message: err.message };
}

/** A change settled: any block of the same or an earlier change of the conversion is over. */
export async function unblock(tx: Tx, conversionId: string, seq: number): Promise<void> {
  await tx`delete from commission_blocks where conversion_id = ${conversionId} and change_seq <= ${seq}`;
}

/**
 * Settles the blocked changes that waited longest, each in its own transaction (settling is
 * idempotent by (conversion, seq), so two replicas retrying at once do no harm). Returns how
 * many were booked (or found settled meanwhile) and how many are still blocked.
 */
export async function retryBlocked(
  sql: Sql,
  settle: (tx: Tx, c: ConversionChanged) => Promise<{ outcome: string }>,
  options: { limit?: number } = {},
): Promise<{ settled: number; blocked: number }> {
  const due = await sql<{ change: ConversionChanged }[]>`
    select change from commission_blocks order by last_attempt_at, conversion_id limit ${options.limit ?? 100}`;
  let settled = 0;
  let blocked = 0;
  for (const { change } of due) {
    const outcome = await sql.begin(async (tx) => {
      const s = await settle(tx, change);
      // A newer change settled meanwhile made this one stale (or a replica just did it): done.
      if (s.outcome === "stale" || s.outcome === "duplicate")
        await unblock(tx, change.conversion_id, change.seq);
      return s.outcome;
    });
    if (outcome === "blocked") blocked++;
    else settled++;
  }
  return { settled, blocked };
}

/**
 * Takes batches while they settle something, so a backlog built up over hours without a rate books
 * within one pass of the rate arriving, not one batch per retry interval. Stops at the first batch
 * that settles nothing (everything left is still blocked) or when `stopping()` says so.
 */
export async function retryAllBlocked(
  sql: Sql,
  settle: (tx: Tx, c: ConversionChanged) => Promise<{ outcome: string }>,
  options: { limit?: number; stopping?: () => boolean } = {},
): Promise<{ settled: number; blocked: number }> {
  let settled = 0;
  for (;;) {
    const r = await retryBlocked(sql, settle, options);
    settled += r.settled;
    if (r.settled === 0 || options.stopping?.()) return { settled, blocked: r.blocked };
  }
}

/** Blocked conversions by reason (every known reason, zeros included), for the gauge. */
export async function blockedCounts(sql: Sql): Promise<Record<BlockReason, number>> {
  const rows = await sql<{ reason: BlockReason; n: number }[]>`
    select reason, count(*)::int as n from commission_blocks group by reason`;
  const counts = Object.fromEntries(BLOCK_REASONS.map((r) => [r, 0])) as Record<BlockReason, number>;
  for (const r of rows) counts[r.reason] = r.n;
  return counts;
}
