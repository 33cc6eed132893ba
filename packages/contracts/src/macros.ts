/**
 * `{name}` macros in offer destinations and affiliate postback templates. One implementation for
 * both, so "the macro was not replaced" can only be a configuration problem, never a code one.
 */
const MACRO = /\{([a-z0-9_]+)\}/g;

export const CLICK_MACROS = [
  "click_id",
  "affiliate_id",
  "offer_id",
  "brand",
  ...Array.from({ length: 10 }, (_, i) => `sub${i + 1}`),
] as const;

export const POSTBACK_MACROS = [
  "click_id",
  "txid",
  "conversion_id",
  "event",
  "status",
  "payout",
  "currency",
  "amount",
  "offer_id",
  "affiliate_id",
  "brand",
  "timestamp",
  // Why a conversion was rejected (a traffic-quality reason code, or the reviewer's): empty otherwise.
  "reject_reason",
  ...Array.from({ length: 10 }, (_, i) => `sub${i + 1}`),
] as const;

/** Macro names used by a template, in order of appearance. */
export function macrosIn(template: string): string[] {
  return [...template.matchAll(MACRO)].map((m) => m[1] as string);
}

/** Names in the template that are not in `allowed`, for validation when a template is saved. */
export function unknownMacros(template: string, allowed: readonly string[]): string[] {
  return [...new Set(macrosIn(template).filter((m) => !allowed.includes(m)))];
}

/**
 * Fills macros with URL-encoded values; a known macro without a value becomes empty (the
 * affiliate sees `sub3=` rather than a literal `{sub3}`), an unknown one is left as is.
 */
export function renderUrl(
  template: string,
  values: Record<string, string | number | null | undefined>,
): string {
  return template.replace(MACRO, (whole, name: string) => {
    if (!(name in values)) return whole;
    const value = values[name];
    return value === null || value === undefined ? "" : encodeURIComponent(String(value));
  });
}

/** A value that still looks like a macro: the advertiser forgot to substitute it. */
export function isUnreplacedMacro(value: string): boolean {
  return /^(\{[^{}]*\}|\[[^[\]]*\]|%7B.*%7D|\$\{?[a-z_]+\}?|##?[a-z_]+##?)$/i.test(value.trim());
}
