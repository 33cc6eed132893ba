import { renderUrl } from "@roundtrip/contracts";
import type { ResolvedLink } from "./link-cache.ts";

export const SUB_KEYS = Array.from({ length: 10 }, (_, i) => `sub${i + 1}`);
const MAX_SUB_LENGTH = 255;

/** sub1…sub10 from the tracking link's query, trimmed to a sane length; everything else is ignored. */
export function pickSubs(query: Record<string, string | string[] | undefined>): Record<string, string> {
  const subs: Record<string, string> = {};
  for (const key of SUB_KEYS) {
    const raw = query[key];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value) subs[key] = value.slice(0, MAX_SUB_LENGTH);
  }
  return subs;
}

/**
 * The offer's destination with macros filled. Only the configured template is ever used
 * (a `url=` parameter on the tracking link is ignored: no open redirect); when the template
 * has no {click_id}, the click ID is appended under the parameter name the advertiser expects.
 */
export function destination(link: ResolvedLink, clickId: string, subs: Record<string, string>): string {
  const rendered = renderUrl(link.destinationUrl, {
    click_id: clickId,
    affiliate_id: link.affiliateId,
    offer_id: link.offerId,
    brand: link.brand,
    ...Object.fromEntries(SUB_KEYS.map((k) => [k, subs[k] ?? null])),
  });
  if (link.destinationUrl.includes("{click_id}")) return rendered;
  const url = new URL(rendered);
  url.searchParams.set(link.clickIdParam, clickId);
  return url.toString();
}
