import type { ConversionStatus } from "@roundtrip/contracts";

/**
 * The status lifecycle: `pending → approved | rejected`, `approved → reversed`. Updates may
 * arrive in any order, so each status has a rank and an update behind the conversion's current
 * rank is stale (it describes the past: `pending` after `approved`), not an error. A `reversed`
 * that overtakes its `approved` implies the approval, so the history records both and the
 * final state is the same whatever the arrival order.
 */
const RANK: Record<ConversionStatus, number> = { pending: 0, approved: 1, rejected: 1, reversed: 2 };

export type Move =
  | { kind: "same" }
  | { kind: "stale" }
  | { kind: "illegal" }
  /** The statuses to record, in order (one, or an implied one first). */
  | { kind: "apply"; steps: { status: ConversionStatus; reason: string | null }[] };

export function move(from: ConversionStatus, to: ConversionStatus): Move {
  if (from === to) return { kind: "same" };
  if (from === "pending" && (to === "approved" || to === "rejected"))
    return { kind: "apply", steps: [{ status: to, reason: null }] };
  if (from === "approved" && to === "reversed")
    return { kind: "apply", steps: [{ status: to, reason: null }] };
  if (from === "pending" && to === "reversed") {
    return {
      kind: "apply",
      steps: [
        { status: "approved", reason: "implied_by_reversal" },
        { status: "reversed", reason: null },
      ],
    };
  }
  if (RANK[to] < RANK[from]) return { kind: "stale" };
  // approved ↔ rejected, rejected → reversed: a real conflict for a human to look at.
  return { kind: "illegal" };
}
