/**
 * Exact decimal arithmetic for money: values are fractions of BigInts, so a percentage of an
 * amount converted at an FX rate is computed exactly and rounded once, at the end.
 *
 * Rounding rule (one for the whole ledger): half away from zero, to the minor unit of the
 * currency the figure is stated in (2 places for EUR, 0 for JPY, 3 for KWD; see
 * `minorUnits`). 0.125 EUR → 0.13, −0.125 EUR → −0.13, 0.124999 EUR → 0.12.
 */
import { minorUnits } from "@roundtrip/contracts";

export type Ratio = { readonly num: bigint; readonly den: bigint };

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

export function ratio(value: string | bigint | number): Ratio {
  if (typeof value === "bigint") return { num: value, den: 1n };
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new RangeError(`not an integer: ${value}`);
    return { num: BigInt(value), den: 1n };
  }
  const match = DECIMAL.exec(value.trim());
  if (!match) throw new RangeError(`not a decimal: ${value}`);
  const [, sign, whole, frac = ""] = match;
  const den = 10n ** BigInt(frac.length);
  const num = BigInt(whole as string) * den + (frac ? BigInt(frac) : 0n);
  return normalise({ num: sign ? -num : num, den });
}

const gcd = (a: bigint, b: bigint): bigint => {
  let [x, y] = [a < 0n ? -a : a, b < 0n ? -b : b];
  while (y) [x, y] = [y, x % y];
  return x;
};

function normalise(r: Ratio): Ratio {
  if (r.den === 0n) throw new RangeError("division by zero");
  const sign = r.den < 0n ? -1n : 1n;
  const g = gcd(r.num, r.den) || 1n;
  return { num: (sign * r.num) / g, den: (sign * r.den) / g };
}

export const ZERO: Ratio = { num: 0n, den: 1n };
export const ONE: Ratio = { num: 1n, den: 1n };

export const add = (a: Ratio, b: Ratio): Ratio =>
  normalise({ num: a.num * b.den + b.num * a.den, den: a.den * b.den });
export const sub = (a: Ratio, b: Ratio): Ratio => add(a, neg(b));
export const neg = (a: Ratio): Ratio => ({ num: -a.num, den: a.den });
export const mul = (a: Ratio, b: Ratio): Ratio => normalise({ num: a.num * b.num, den: a.den * b.den });
export const div = (a: Ratio, b: Ratio): Ratio => normalise({ num: a.num * b.den, den: a.den * b.num });
export const cmp = (a: Ratio, b: Ratio): number => {
  const d = a.num * b.den - b.num * a.den;
  return d < 0n ? -1 : d > 0n ? 1 : 0;
};
export const isZero = (a: Ratio): boolean => a.num === 0n;

/** `percent`% of `a`. */
export const percentOf = (a: Ratio, percent: Ratio): Ratio => mul(a, div(percent, ratio(100)));

/** Rounds half away from zero to `places` decimals and formats with exactly that many. */
export function round(r: Ratio, places: number): string {
  const { num, den } = normalise(r);
  const negative = num < 0n;
  const scaled = (negative ? -num : num) * 10n ** BigInt(places);
  let q = scaled / den;
  if ((scaled % den) * 2n >= den) q += 1n;
  const digits = q.toString().padStart(places + 1, "0");
  const whole = digits.slice(0, digits.length - places);
  const frac = places > 0 ? `.${digits.slice(digits.length - places)}` : "";
  return `${negative && q !== 0n ? "-" : ""}${whole}${frac}`;
}

/** The ledger's one rounding step: to the currency's minor unit (ISO 4217), half away from zero. */
export function toCurrency(r: Ratio, currency: string): string {
  return round(r, minorUnits(currency));
}
