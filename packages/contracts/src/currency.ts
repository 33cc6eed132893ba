import { FormatRegistry, Type as t } from "@sinclair/typebox";
import { codes } from "currency-codes";

/**
 * Active ISO 4217 codes (the `currency-codes` package follows the maintenance agency's list),
 * less XXX ("no currency") and XTS (reserved for testing): neither can carry an amount of money.
 */
const CODES: ReadonlySet<string> = new Set(codes().filter((c) => c !== "XXX" && c !== "XTS"));

export function isCurrency(code: string): boolean {
  return CODES.has(code);
}

FormatRegistry.Set("iso4217", isCurrency);

/** The one schema for a currency wherever one enters: gateway parameters, admin resources. */
export const CurrencyCode = t.String({
  format: "iso4217",
  minLength: 3,
  maxLength: 3,
  description: "an ISO 4217 currency code such as EUR",
});
