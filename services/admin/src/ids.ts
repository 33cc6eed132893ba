/**
 * Ids and cursors, in one place. Every admin id is a PostgreSQL bigint, carried as a decimal
 * string (a bigint must not pass through a float): 1 to 9223372036854775807, no sign, no leading
 * zeros, no spaces. A value outside that is malformed (400 naming the field) before any query
 * runs; a well-formed id that names nothing is 404. The rule is a regular expression so the
 * OpenAPI document shows clients the same constraint the server applies.
 */

/** The largest PostgreSQL bigint. */
export const MAX_ID = 9223372036854775807n;

/**
 * A regular expression (without anchors) for the decimals 1…max, written without leading zeros:
 * every shorter number, then for each digit of `max` its prefix with a smaller digit there and
 * any digits after, then `max` itself.
 */
export function decimalsUpTo(max: bigint): string {
  const digits = max.toString();
  const parts = digits.length > 1 ? [`[1-9]\\d{0,${digits.length - 2}}`] : [];
  for (let i = 0; i < digits.length; i++) {
    const d = Number(digits[i]);
    const low = i === 0 ? 1 : 0;
    if (d > low) {
      const range = d - 1 === low ? `${low}` : `[${low}-${d - 1}]`;
      const rest = digits.length - i - 1;
      parts.push(`${digits.slice(0, i)}${range}${rest ? `\\d{${rest}}` : ""}`);
    }
  }
  parts.push(digits);
  return parts.join("|");
}

export const ID_PATTERN = `^(?:${decimalsUpTo(MAX_ID)})$`;
export const ID_MESSAGE = `must be a numeric id from 1 to ${MAX_ID} (no sign, no leading zeros)`;

const ID = new RegExp(ID_PATTERN);

export function isId(value: string): boolean {
  return ID.test(value);
}
