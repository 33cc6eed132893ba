/**
 * A write the ledger's rules refuse (an amount finer than the currency's minor unit, an entry
 * without the link its type requires, an idempotency key reused for other money). `field` names
 * the input at fault, so an API can answer 400/409 naming it.
 */
export class LedgerRuleError extends Error {
  override readonly name = "LedgerRuleError";
  constructor(
    readonly code: "invalid_amount" | "missing_link" | "unknown_affiliate" | "idempotency_conflict",
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const isLedgerRuleError = (err: unknown): err is LedgerRuleError => err instanceof LedgerRuleError;
