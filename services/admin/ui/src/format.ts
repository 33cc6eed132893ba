/** How numbers, money, times and names read in the console: one place for each. */

const moneyFormats = new Map<string, Intl.NumberFormat>();

/** An amount in its currency's own minor units (EUR 2 decimals, JPY none, BHD 3). */
export function money(
  amount: string | number | null | undefined,
  currency: string | null | undefined,
): string {
  if (amount === null || amount === undefined || amount === "") return "—";
  const n = Number(amount);
  if (!Number.isFinite(n)) return "—";
  if (!currency) return number(n);
  let f = moneyFormats.get(currency);
  if (!f) {
    try {
      f = new Intl.NumberFormat(undefined, { style: "currency", currency });
    } catch {
      f = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 6 });
    }
    moneyFormats.set(currency, f);
  }
  return f.format(n);
}

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
export function number(n: string | number | null | undefined): string {
  if (n === null || n === undefined || n === "") return "—";
  const v = Number(n);
  return Number.isFinite(v) ? integer.format(v) : "—";
}

const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
/** A share given as a fraction (0.13 → 13 %). */
export function pct(fraction: string | number | null | undefined): string {
  if (fraction === null || fraction === undefined || fraction === "") return "—";
  const v = Number(fraction);
  return Number.isFinite(v) ? percent.format(v) : "—";
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
export function time(v: string | null | undefined): string {
  if (!v) return "—";
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? v : dateTime.format(d);
}

/** `unique_clicks` → "Unique clicks"; a few words people write differently. */
const WORDS: Record<string, string> = {
  id: "ID",
  txid: "Txid",
  cr: "CR",
  url: "URL",
  ip: "IP",
  fx: "FX",
  api: "API",
  s2s: "S2S",
  sub1: "Sub 1",
  sub2: "Sub 2",
  sub3: "Sub 3",
  sub4: "Sub 4",
  sub5: "Sub 5",
};
export function label(key: string): string {
  const words = key.split("_").map((w) => WORDS[w] ?? w);
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Any value as text for a cell or a CSV: never "null", "undefined" or "[object Object]". */
export function text(v: unknown): string {
  if (v === null || v === undefined || v === "") return "";
  if (typeof v === "number") return Number.isFinite(v) ? number(v) : "";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (Array.isArray(v)) return v.map(text).filter(Boolean).join(", ");
  if (typeof v === "object")
    return Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== null && x !== undefined && x !== "")
      .map(([k, x]) => `${k}=${text(x)}`)
      .join(", ");
  return String(v);
}

export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}
