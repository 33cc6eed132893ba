import type { Tx } from "@roundtrip/db";
import type postgres from "postgres";
import { LedgerRuleError } from "./errors.ts";

/**
 * How money moves: every change is a new, immutable entry (a trigger refuses UPDATE and DELETE),
 * and a balance is only ever the sum of entries. The types, and the link each one must carry:
 *
 * - `commission` — a conversion's first earning status, priced by its rule (conversion_id);
 * - `reversal` — negates everything still booked for a conversion (`reverses_entry_id`: the
 *   commission it reverses);
 * - `adjustment` — with a conversion, a repricing (the difference, reason `repriced`); without,
 *   an operator's correction (`reason` and `actor` required).
 */
export const ENTRY_TYPES = ["commission", "reversal", "adjustment"] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

/**
 * When an entry becomes payable: `held` until its conversion is released on approval
 * (ledger_releases), `inDays` from now (a hold after approval), `notBefore` a moment but never
 * earlier than now (an entry that follows another into its bucket), or `now`.
 */
export type Availability = { held: true } | { inDays: number } | { notBefore: Date | null } | { now: true };

export type NewEntry = {
  type: EntryType;
  affiliate_id: string;
  conversion_id?: string | null;
  change_seq?: number | null;
  offer_id?: string | null;
  brand_id?: string | null;
  /** The deal figures, in the rule's (or the adjustment's) currency. */
  payout: string;
  revenue: string;
  currency: string;
  rule_id?: string | null;
  occurred_at?: Date | null;
  availability: Availability;
  /** What the affiliate's balance moves by, in its payout currency. */
  affiliate_payout: string;
  affiliate_currency: string;
  reporting_payout?: string | null;
  reporting_revenue?: string | null;
  reporting_currency?: string | null;
  reverses_entry_id?: string | null;
  reason?: string | null;
  actor?: string | null;
  idempotency_key?: string | null;
  /** How the figures were reached (rule, tier, rates, what it adjusts or reverses). */
  calculation: Record<string, unknown>;
};

/** The link rules of each type, checked before anything is written. */
export function checkLinks(e: NewEntry): void {
  const missing = (field: string, why: string) => {
    throw new LedgerRuleError("missing_link", `a ${e.type} entry needs ${field}: ${why}`, field);
  };
  if ((e.type === "commission" || e.type === "reversal") && !e.conversion_id)
    missing("conversion_id", "it settles a conversion");
  if (e.type === "reversal" && !e.reverses_entry_id)
    missing("reverses_entry_id", "it names the commission it reverses");
  if (e.type === "adjustment" && !e.conversion_id) {
    if (!e.reason) missing("reason", "a manual correction says why");
    if (!e.actor) missing("actor", "a manual correction says who");
  }
}

function availableAt(tx: Tx, a: Availability) {
  if ("held" in a) return null;
  if ("now" in a) return tx`now()`;
  if ("inDays" in a) return tx`now() + make_interval(days => ${a.inDays})`;
  return a.notBefore === null ? null : tx`greatest(now(), ${a.notBefore}::timestamptz)`;
}

/**
 * Books one entry inside the caller's transaction and returns it as `returning` selects. The one
 * insert into ledger_entries: every writer (commission's bookings, admin's adjustments) goes
 * through here, so the link rules hold for all of them.
 */
export async function insertEntry<T extends object>(
  tx: Tx,
  e: NewEntry,
  returning: postgres.PendingQuery<postgres.Row[]> | postgres.Fragment = tx`*`,
  options: { onConflictIdempotencyKey?: boolean } = {},
): Promise<T | undefined> {
  checkLinks(e);
  const [row] = await tx<T[]>`
    insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, brand_id, type, payout, revenue, currency,
                                rule_id, occurred_at, available_at, affiliate_payout, affiliate_currency,
                                reporting_payout, reporting_revenue, reporting_currency, reverses_entry_id, reason, actor,
                                idempotency_key, calculation)
    values (${e.conversion_id ?? null}, ${e.change_seq ?? null}, ${e.affiliate_id}, ${e.offer_id ?? null}, ${e.brand_id ?? null},
            ${e.type}, ${e.payout}, ${e.revenue}, ${e.currency}, ${e.rule_id ?? null}, ${e.occurred_at ?? null},
            ${availableAt(tx, e.availability)}, ${e.affiliate_payout}, ${e.affiliate_currency},
            ${e.reporting_payout ?? null}, ${e.reporting_revenue ?? null}, ${e.reporting_currency ?? null},
            ${e.reverses_entry_id ?? null}, ${e.reason ?? null}, ${e.actor ?? null}, ${e.idempotency_key ?? null},
            ${tx.json(e.calculation as never)})
    ${options.onConflictIdempotencyKey ? tx`on conflict (idempotency_key) do nothing` : tx``}
    returning ${returning}`;
  if (!row && !options.onConflictIdempotencyKey) throw new Error("ledger insert returned nothing");
  return row;
}
