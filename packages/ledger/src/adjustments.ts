import { minorUnits } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import { insertEntry } from "./entries.ts";
import { LedgerRuleError } from "./errors.ts";

/** A ledger row as stored (every column). */
export type StoredEntry = Record<string, unknown> & {
  id: string;
  affiliate_id: string;
  currency: string;
  payout: string;
};

export type ManualAdjustment = {
  affiliate_id: string;
  /** signed; positive credits the affiliate */
  amount: string;
  currency: string;
  reason: string;
  idempotency_key?: string;
};

/** The amount must fit the currency's minor unit (no rounding behind the operator's back) and move money. */
export function checkAmount(amount: string, currency: string, field = "amount"): void {
  const places = minorUnits(currency);
  const decimals = amount.split(".")[1]?.length ?? 0;
  if (decimals > places)
    throw new LedgerRuleError("invalid_amount", `${field}: ${currency} has ${places} decimal places`, field);
  if (Number(amount) === 0)
    throw new LedgerRuleError("invalid_amount", `${field}: an adjustment of zero moves nothing`, field);
}

/**
 * A manual correction: a new entry, never an edit. Payable at once, in the currency given. The
 * same idempotency key books once; reused for other money it is refused.
 */
export async function bookManualAdjustment(
  tx: Tx,
  a: ManualAdjustment,
  actor: string,
): Promise<{ entry: StoredEntry; created: boolean }> {
  checkAmount(a.amount, a.currency);
  const [affiliate] = await tx`select id from affiliates where id = ${a.affiliate_id}`;
  if (!affiliate) throw new LedgerRuleError("unknown_affiliate", "no such affiliate", "affiliate_id");
  const existing = async () => {
    const [row] = await tx<
      StoredEntry[]
    >`select * from ledger_entries where idempotency_key = ${a.idempotency_key ?? ""}`;
    if (
      row &&
      (row.affiliate_id !== a.affiliate_id ||
        row.currency !== a.currency ||
        Number(row.payout) !== Number(a.amount))
    )
      throw new LedgerRuleError(
        "idempotency_conflict",
        "this idempotency_key was used for a different adjustment",
        "idempotency_key",
      );
    return row;
  };
  if (a.idempotency_key) {
    const row = await existing();
    if (row) return { entry: row, created: false };
  }
  const entry = await insertEntry<StoredEntry>(
    tx,
    {
      type: "adjustment",
      affiliate_id: a.affiliate_id,
      payout: a.amount,
      revenue: "0",
      currency: a.currency,
      availability: { now: true },
      affiliate_payout: a.amount,
      affiliate_currency: a.currency,
      reason: a.reason,
      actor,
      idempotency_key: a.idempotency_key ?? null,
      calculation: { manual: true, reason: a.reason },
    },
    tx`*`,
    { onConflictIdempotencyKey: true },
  );
  // no row: a concurrent request with the same key won
  if (!entry) return { entry: (await existing()) as StoredEntry, created: false };
  return { entry, created: true };
}
