import { LRUCache } from "lru-cache";
import Negotiator from "negotiator";

/**
 * The visitor's preferred browser language from Accept-Language (negotiator: q-values, order,
 * `*` ignored), lower-cased (`pt-br`), or null when the header names none. Browsers send a
 * handful of distinct headers, so answers are remembered per header (bounded).
 */
export class LanguageParser {
  private readonly cache: LRUCache<string, { tag: string | null }>;
  constructor(maxEntries = 5_000) {
    this.cache = new LRUCache({ max: maxEntries });
  }

  preferred(acceptLanguage: string | null): string | null {
    if (!acceptLanguage) return null;
    const header = acceptLanguage.slice(0, 512);
    let hit = this.cache.get(header);
    if (!hit) {
      const tag = new Negotiator({ headers: { "accept-language": header } })
        .languages()
        .find((l) => l !== "*");
      hit = { tag: tag ? tag.toLowerCase() : null };
      this.cache.set(header, hit);
    }
    return hit.tag;
  }
}

/**
 * A rule's language matches the visitor's when equal, or when the rule names the primary language
 * of a regional tag: `de` matches `de-at`; `pt-br` matches only `pt-br` (and its own subtags).
 */
export function languageMatches(rule: string, visitor: string | null): boolean {
  if (!visitor) return false;
  const r = rule.toLowerCase();
  return visitor === r || visitor.startsWith(`${r}-`);
}
