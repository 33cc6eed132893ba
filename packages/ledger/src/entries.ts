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
 *   an operator's correction (`reason` and `actor` required);
 * - `sub_commission` — a parent's (tier 2) or grandparent's (tier 3) share of a child's
 *   commission or adjustment (`source_entry_id`), booked in the same transaction;
 * - `sub_reversal` — negates a parent's shares when the child's conversion is reversed
 *   (`source_entry_id`: the child's reversal; `reverses_entry_id`: the share it reverses);
 * - `payout` — a payout line moves the amount from earned to paid (`payout_line_id`);
 * - `payout_return` — a failed line returns it to the balance (`payout_line_id`);
 * - `carryover` — a period's negative balance reset to zero, or carried out of the period and
 *   into the next (`reason`, `idempotency_key`: once per affiliate, currency, scope and period).
 */
export const ENTRY_TYPES = [
  "commission",
  "reversal",
  "adjustment",
  "sub_commission",
  "sub_reversal",
  "payout",
  "payout_return",
  "carryover",
] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

/**
 * When an entry becomes payable: `held` until its conversion is released on approval
 * (ledger_releases), `inDays` from now (a hold after approval), `notBefore` a moment but never
 * earlier than now (an entry that follows another into its bucket), or `now`.
 */
export type Availability =
  | { held: true }
  | { inDays: number }
  | { notBefore: Date | null }
  | { now: true }
  | { at: Date };

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
  /** 1: the affiliate's own; 2 or 3: a sub-affiliate share of `source_entry_id`. */
  tier?: 1 | 2 | 3;
  source_entry_id?: string | null;
  payout_line_id?: string | null;
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
  const share = e.type === "sub_commission" || e.type === "sub_reversal";
  if (share !== (e.tier !== undefined && e.tier > 1))
    missing("tier", "sub-affiliate shares, and only they, are tier 2 or 3");
  if (share && !e.source_entry_id) missing("source_entry_id", "a share names the child's entry");
  if (share && !e.conversion_id) missing("conversion_id", "a share follows a conversion");
  if (e.type === "sub_reversal" && !e.reverses_entry_id)
    missing("reverses_entry_id", "it names the share it reverses");
  if ((e.type === "payout" || e.type === "payout_return") && !e.payout_line_id)
    missing("payout_line_id", "money paid out belongs to a payout line");
  if (e.type === "carryover" && (!e.reason || !e.idempotency_key))
    missing(e.reason ? "idempotency_key" : "reason", "a period is closed once, for a stated reason");
}

function availableAt(tx: Tx, a: Availability) {
  if ("held" in a) return null;
  if ("now" in a) return tx`now()`;
  if ("at" in a) return tx`${a.at}::timestamptz`;
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
                                idempotency_key, tier, source_entry_id, payout_line_id, calculation)
    values (${e.conversion_id ?? null}, ${e.change_seq ?? null}, ${e.affiliate_id}, ${e.offer_id ?? null}, ${e.brand_id ?? null},
            ${e.type}, ${e.payout}, ${e.revenue}, ${e.currency}, ${e.rule_id ?? null}, ${e.occurred_at ?? null},
            ${availableAt(tx, e.availability)}, ${e.affiliate_payout}, ${e.affiliate_currency},
            ${e.reporting_payout ?? null}, ${e.reporting_revenue ?? null}, ${e.reporting_currency ?? null},
            ${e.reverses_entry_id ?? null}, ${e.reason ?? null}, ${e.actor ?? null}, ${e.idempotency_key ?? null},
            ${e.tier ?? 1}, ${e.source_entry_id ?? null}, ${e.payout_line_id ?? null}, ${tx.json(e.calculation as never)})
    ${options.onConflictIdempotencyKey ? tx`on conflict (idempotency_key) do nothing` : tx``}
    returning ${returning}`;
  if (!row && !options.onConflictIdempotencyKey) throw new Error("ledger insert returned nothing");
  return row;
}
