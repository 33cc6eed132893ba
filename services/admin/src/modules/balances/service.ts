import type { Tx } from "@roundtrip/db";
import { bookManualAdjustment, isLedgerRuleError } from "@roundtrip/ledger";
import { HttpError } from "@roundtrip/service";
import type { AdjustmentCreate } from "./model.ts";

export { type Balance, balances } from "@roundtrip/ledger";

/** A ledger rule refused a write: the field at fault, as the API's error. */
export function ledgerHttpError(err: unknown): unknown {
  if (!isLedgerRuleError(err)) return err;
  const status = err.code === "idempotency_conflict" ? 409 : 400;
  return new HttpError(status, status === 409 ? err.code : "invalid_request", err.message, err.field, {
    cause: err,
  });
}

/** A manual correction (packages/ledger books it: a new entry, never an edit). */
export async function adjust(tx: Tx, body: AdjustmentCreate, actor: string) {
  try {
    return await bookManualAdjustment(tx, body, actor);
  } catch (err) {
    throw ledgerHttpError(err);
  }
}
