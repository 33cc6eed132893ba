/**
 * Text PostgreSQL cannot store: `text` and `jsonb` refuse U+0000, and `jsonb` refuses a lone
 * UTF-16 surrogate (which JSON.parse happily yields for "\ud800"). Neither means anything in a
 * postback or a tracking link, so the edges decide what to do with them before a row is written.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding U+0000 is the point.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, "g");

/** What is wrong with `text` for storage, or null if nothing is. */
export function unstorable(text: string): string | null {
  const found = UNSTORABLE.exec(text)?.[0];
  if (found === undefined) return null;
  return found === "\u0000" ? "contains a NUL character" : "contains invalid Unicode (a lone surrogate)";
}

/** For a record of what was received: each unstorable character becomes its visible `\uXXXX` escape. */
export function escapeUnstorable(text: string): string {
  return text.replace(UNSTORABLE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** For values we must keep but that mean nothing with them (a visitor's sub IDs): dropped. */
export function stripUnstorable(text: string): string {
  return text.replace(UNSTORABLE_ALL, "");
}

/** `escapeUnstorable` over every key and string of a JSON-like value. */
export function escapeUnstorableDeep(value: unknown): unknown {
  if (typeof value === "string") return escapeUnstorable(value);
  if (Array.isArray(value)) return value.map(escapeUnstorableDeep);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // defineProperty: a key named __proto__ stays a plain key.
      Object.defineProperty(out, escapeUnstorable(k), {
        value: escapeUnstorableDeep(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}
