import { macrosIn, POSTBACK_MACROS, unknownMacros } from "./macros.ts";

/**
 * Bodies of POST affiliate postbacks. A template's macros are escaped for its content type: inside
 * a JSON string for `application/json` (the template writes the quotes: `{"payout":"{payout}"}`),
 * URL-encoded for `application/x-www-form-urlencoded`. Without a template the body is the
 * standard one: `{"type":"conversion.<status>","timestamp":…,"data":{<every macro>}}`.
 */
export type BodyContentType = "application/json" | "application/x-www-form-urlencoded";
export const BODY_CONTENT_TYPES: readonly BodyContentType[] = [
  "application/json",
  "application/x-www-form-urlencoded",
];

type Values = Record<string, string | number | null | undefined>;
const MACRO = /\{([a-z0-9_]+)\}/g;

export function renderBody(template: string | null, values: Values, contentType: BodyContentType): string {
  if (template === null) return defaultBody(values, contentType);
  return template.replace(MACRO, (whole, name: string) => {
    if (!(name in values)) return whole;
    const value = values[name];
    const text = value === null || value === undefined ? "" : String(value);
    return contentType === "application/json" ? JSON.stringify(text).slice(1, -1) : encodeURIComponent(text);
  });
}

function defaultBody(values: Values, contentType: BodyContentType): string {
  const data = Object.fromEntries(
    POSTBACK_MACROS.map((m) => [m, values[m] === null || values[m] === undefined ? null : String(values[m])]),
  );
  if (contentType === "application/x-www-form-urlencoded") {
    return new URLSearchParams(Object.entries(data).map(([k, v]) => [k, v ?? ""])).toString();
  }
  const ts = Number(values.timestamp);
  return JSON.stringify({
    type: `conversion.${values.status ?? "changed"}`,
    timestamp: Number.isFinite(ts) ? new Date(ts * 1000).toISOString() : null,
    data,
  });
}

/**
 * Why a body template cannot be saved, or null: an unknown macro, or (JSON) a body that is not
 * valid JSON once the macros are filled.
 */
export function bodyTemplateError(template: string, contentType: BodyContentType): string | null {
  const unknown = unknownMacros(template, POSTBACK_MACROS);
  if (unknown.length) return `unknown macro {${unknown[0]}}`;
  if (contentType === "application/json") {
    const sample = Object.fromEntries(macrosIn(template).map((m) => [m, 'sample "value"']));
    try {
      JSON.parse(renderBody(template, sample, contentType));
    } catch (err) {
      return `not valid JSON once macros are filled: ${(err as Error).message}`;
    }
  }
  return null;
}
