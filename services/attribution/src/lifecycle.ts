import type { ConversionStatus } from "@roundtrip/contracts";

/**
 * The status lifecycle is a chain, so the final status is the highest one reported, whatever
 * order the reports arrive in (a join over everything that arrived):
 *
 *   pending < approved < rejected < reversed
 *
 * An update behind the conversion's current rank is stale (it describes the past: `pending`
 * after `approved`), not an error. Where the advertiser contradicts itself (approved and
 * rejected for one conversion) the report that pays less wins: rejected beats approved, a
 * refund or chargeback (reversed) beats both. A `reversed` that overtakes its `approved`
 * implies the approval, so the history records both.
 */
const RANK: Record<ConversionStatus, number> = { pending: 0, approved: 1, rejected: 2, reversed: 3 };

/** Statuses that earn the affiliate money (and hold a place in a cap). */
export const EARNING: readonly ConversionStatus[] = ["pending", "approved"];
export const isEarning = (s: ConversionStatus): boolean => EARNING.includes(s);

export type Move =
  | { kind: "same" }
  | { kind: "stale" }
  /** The statuses to record, in order (one, or an implied one first). */
  | { kind: "apply"; steps: { status: ConversionStatus; reason: string | null }[] };

export function move(from: ConversionStatus, to: ConversionStatus): Move {
  if (from === to) return { kind: "same" };
  if (RANK[to] < RANK[from]) return { kind: "stale" };
  if (from === "pending" && to === "reversed") {
    return {
      kind: "apply",
      steps: [
        { status: "approved", reason: "implied_by_reversal" },
        { status: "reversed", reason: null },
      ],
    };
  }
  return { kind: "apply", steps: [{ status: to, reason: null }] };
}
