import { isoDay } from "./format.ts";
import { createStore } from "./store.ts";

/**
 * The global date range and brand: every page that can narrow by them does (reports, lists with
 * from/to or brand_id). Kept in localStorage so a reload keeps the view.
 */
export type GlobalFilters = { from: string; to: string; brandId: string };
const KEY = "roundtrip.filters";

export function lastDays(days: number): { from: string; to: string } {
  const now = Date.now();
  return { from: isoDay(new Date(now - (days - 1) * 86_400_000)), to: isoDay(new Date(now)) };
}

function initial(): GlobalFilters {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? "null") as GlobalFilters | null;
    if (saved && /^\d{4}-\d{2}-\d{2}$/.test(saved.from) && /^\d{4}-\d{2}-\d{2}$/.test(saved.to))
      return { from: saved.from, to: saved.to, brandId: saved.brandId ?? "" };
  } catch {
    // a damaged entry: start over
  }
  return { ...lastDays(14), brandId: "" };
}

export const globalFilters = createStore<GlobalFilters>(initial());
globalFilters.subscribe(() => localStorage.setItem(KEY, JSON.stringify(globalFilters.get())));

/** The range as API bounds: `to` is inclusive for people, exclusive for the API. */
export function rangeQuery(f: GlobalFilters): { from: string; to: string } {
  return { from: f.from, to: isoDay(new Date(Date.parse(`${f.to}T00:00:00Z`) + 86_400_000)) };
}
