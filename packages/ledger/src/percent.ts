import { minorUnits, toMicros } from "@roundtrip/contracts";

/**
 * `percent`% of `amount`, computed exactly (both are decimals of at most 6 places, as stored) and
 * rounded once, half away from zero, to the currency's minor unit — the ledger's one rounding rule.
 */
export function percentOf(amount: string, percent: string, currency: string): string {
  const places = minorUnits(currency);
  const num = toMicros(amount) * toMicros(percent) * 10n ** BigInt(places);
  const den = 10n ** 12n * 100n;
  const negative = num < 0n;
  const abs = negative ? -num : num;
  let q = abs / den;
  if ((abs % den) * 2n >= den) q += 1n;
  const digits = q.toString().padStart(places + 1, "0");
  const whole = digits.slice(0, digits.length - places);
  const text = places > 0 ? `${whole}.${digits.slice(digits.length - places)}` : whole;
  return negative && q !== 0n ? `-${text}` : text;
}
