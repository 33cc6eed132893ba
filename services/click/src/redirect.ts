import { AD_CLICK_PARAMS, renderUrl, stripUnstorable } from "@roundtrip/contracts";

export const SUB_KEYS = Array.from({ length: 10 }, (_, i) => `sub${i + 1}`);
// The ad platforms' click IDs (fbclid, gclid, ttclid…) ride along with the sub IDs when an
// affiliate's ad appends them to the tracking link: Conversions API forwarding sends them back
// to the platform (docs/conversions-api.md). They are stored, never put into the redirect.
const SUB_SET = new Set<string>([...SUB_KEYS, ...AD_CLICK_PARAMS]);
const MAX_SUB_LENGTH = 255;

/**
 * sub1…sub10 (and the ad platforms' click IDs) from a tracking link's URL (the first of repeats, as URLSearchParams would pick),
 * trimmed to a sane length, without the characters PostgreSQL cannot store (a `%00`, or half of
 * an emoji the trim cut): a visitor is never refused, and one click must never poison the batch
 * it is stored in. Everything else is ignored. A hand-rolled scan because building a
 * URLSearchParams per click was the largest single cost of the redirect.
 */
export function subsFromUrl(url: string): Record<string, string> {
  const subs: Record<string, string> = {};
  const q = url.indexOf("?");
  if (q === -1) return subs;
  const hash = url.indexOf("#", q);
  const query = url.slice(q + 1, hash === -1 ? undefined : hash);
  for (const segment of query.split("&")) {
    if (segment.length < 4) continue;
    const eq = segment.indexOf("=");
    const rawKey = eq === -1 ? segment : segment.slice(0, eq);
    const plain = !rawKey.includes("%") && !rawKey.includes("+");
    const key = plain ? rawKey : (new URLSearchParams(segment).keys().next().value ?? "");
    if (!SUB_SET.has(key) || key in subs) continue;
    const raw = eq === -1 ? "" : segment.slice(eq + 1);
    let value = raw;
    // Only what is escaped needs decoding (a plain `sub1=news` is the common case).
    if (raw.includes("%") || raw.includes("+")) {
      try {
        value = decodeURIComponent(raw.replaceAll("+", " "));
      } catch {
        // Malformed escapes: decode exactly as URLSearchParams does.
        value = new URLSearchParams(segment).get(key) ?? "";
      }
    }
    if (value) value = stripUnstorable(value.slice(0, MAX_SUB_LENGTH));
    if (value) subs[key] = value;
  }
  return subs;
}

export type DestinationTemplate = {
  destinationUrl: string;
  clickIdParam: string;
  affiliateId: string;
  offerId: string;
  brand: string;
};

/** Fills a link's destination for one click. */
export type Destination = (clickId: string, subs: Record<string, string>) => string;

const MACRO = /\{([a-z0-9_]+)\}/g;
const PER_CLICK = new Set(["click_id", ...SUB_KEYS]);

/**
 * Compiles a link's destination once (when the link cache loads): the link's own macros are
 * filled ahead, and a click only concatenates its click ID and sub IDs, URL-encoded — the same
 * result as `renderUrl` over the whole template, without a regex pass per click. Only the
 * configured template is ever used (a `url=` parameter on the tracking link is ignored: no open
 * redirect); when the template has no {click_id}, the click ID is appended under the parameter
 * name the advertiser expects.
 */
export function compileDestination(t: DestinationTemplate): Destination {
  const staticFilled = renderUrl(t.destinationUrl, {
    affiliate_id: t.affiliateId,
    offer_id: t.offerId,
    brand: t.brand,
  });
  const literals: string[] = [];
  const macros: string[] = [];
  let last = 0;
  for (const m of staticFilled.matchAll(MACRO)) {
    const name = m[1] as string;
    if (!PER_CLICK.has(name)) continue; // unknown macros stay as written, like renderUrl leaves them
    literals.push(staticFilled.slice(last, m.index));
    macros.push(name);
    last = (m.index as number) + m[0].length;
  }
  literals.push(staticFilled.slice(last));
  const render = (clickId: string, subs: Record<string, string>) => {
    let out = literals[0] as string;
    for (let i = 0; i < macros.length; i++) {
      const name = macros[i] as string;
      // A click ID is base64url, which encodeURIComponent leaves as it is.
      if (name === "click_id") out += clickId + literals[i + 1];
      else {
        const value = subs[name];
        out += (value ? encodeURIComponent(value) : "") + literals[i + 1];
      }
    }
    return out;
  };
  if (t.destinationUrl.includes("{click_id}")) return render;
  return (clickId, subs) => {
    const url = new URL(render(clickId, subs));
    url.searchParams.set(t.clickIdParam, clickId);
    return url.toString();
  };
}
