/**
 * Payout cycles. Periods are whole local days in the affiliate's time zone (`time_zone`, an IANA
 * name, default UTC): operators think of "the November cycle" in their program's zone, so a
 * period runs from one local midnight (inclusive) to the next boundary's local midnight
 * (exclusive). Across a DST change a period is an hour shorter or longer; it is still whole days.
 * - weekly / bi-weekly: every 7 / 14 days counted from `cycle_anchor` (default Monday 2024-01-01);
 * - monthly: the first of each month;
 * - custom: every `cycle_days` days from `cycle_anchor`.
 */
export type CycleKind = "weekly" | "biweekly" | "monthly" | "custom";
export type Cycle = { cycle: CycleKind; cycle_days: number | null; cycle_anchor: string; time_zone?: string };
export type Period = { start: Date; end: Date };

export const DEFAULT_CYCLE: Cycle = {
  cycle: "monthly",
  cycle_days: null,
  cycle_anchor: "2024-01-01",
  time_zone: "UTC",
};

const DAY_MS = 86_400_000;

function stepDays(c: Cycle): number | null {
  if (c.cycle === "weekly") return 7;
  if (c.cycle === "biweekly") return 14;
  if (c.cycle === "custom") return c.cycle_days ?? null;
  return null;
}

const mod = (a: number, n: number) => ((a % n) + n) % n;
/** A calendar date (YYYY-MM-DD) as a day number, and back: date arithmetic needs no zone. */
const dayOf = (date: string) => Date.parse(`${date}T00:00:00Z`) / DAY_MS;
const dateOf = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

const formats = new Map<string, Intl.DateTimeFormat>();
function format(zone: string): Intl.DateTimeFormat {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formats.set(zone, f);
  }
  return f;
}

/** The wall-clock time in `zone` at instant `ms`, as if it were UTC (so wall − ms is the offset). */
function wallClock(zone: string, ms: number): number {
  const p: Record<string, number> = {};
  for (const x of format(zone).formatToParts(new Date(ms))) p[x.type] = Number(x.value);
  const n = (k: string) => p[k] ?? 0;
  return Date.UTC(n("year"), n("month") - 1, n("day"), n("hour"), n("minute"), n("second"));
}

/** Whether `zone` is an IANA time zone the runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    format(zone);
    return true;
  } catch {
    return false;
  }
}

/** The calendar date in `zone` at `at`. */
export function localDate(at: Date, zone: string): string {
  return new Date(wallClock(zone, at.getTime())).toISOString().slice(0, 10);
}

const midnights = new Map<string, Date>();

/**
 * The instant the local date `date` begins in `zone`: its midnight, or — where a DST change skips
 * midnight (America/Santiago, say) — the first instant of the day. The first minute whose local
 * date is `date`, searched within the ±15 h any offset lies in.
 */
export function localMidnight(date: string, zone: string): Date {
  const key = `${date} ${zone}`;
  const known = midnights.get(key);
  if (known) return known;
  const wall = dayOf(date) * DAY_MS;
  let lo = (wall - 15 * 3_600_000) / 60_000; // local date before `date`
  let hi = (wall + 15 * 3_600_000) / 60_000; // local date `date` or after
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (localDate(new Date(mid * 60_000), zone) < date) lo = mid;
    else hi = mid;
  }
  const at = new Date(hi * 60_000);
  if (midnights.size > 10_000) midnights.clear();
  midnights.set(key, at);
  return at;
}

/** The period of `c` that ends on the local date `date` (YYYY-MM-DD), or null when no period ends then. */
export function periodEndingOn(c: Cycle, date: string): Period | null {
  const zone = c.time_zone ?? "UTC";
  const end = dayOf(date);
  const step = stepDays(c);
  let start: number;
  if (step === null) {
    if (!date.endsWith("-01")) return null;
    const d = new Date(end * DAY_MS);
    start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1) / DAY_MS;
  } else {
    if (mod(end - dayOf(c.cycle_anchor), step) !== 0) return null;
    start = end - step;
  }
  return { start: localMidnight(dateOf(start), zone), end: localMidnight(date, zone) };
}

/** The period of `c` that ends at the instant `end`, or null when `end` is not one of its boundaries. */
export function periodEnding(c: Cycle, end: Date): Period | null {
  const date = localDate(end, c.time_zone ?? "UTC");
  const period = periodEndingOn(c, date);
  return period && period.end.getTime() === end.getTime() ? period : null;
}

/** The last boundary of `c` at or before `at`: where the period that contains `at` starts. */
export function lastBoundary(c: Cycle, at: Date): Date {
  const zone = c.time_zone ?? "UTC";
  const today = localDate(at, zone);
  const step = stepDays(c);
  const day =
    step === null
      ? dayOf(`${today.slice(0, 8)}01`)
      : dayOf(today) - mod(dayOf(today) - dayOf(c.cycle_anchor), step);
  return localMidnight(dateOf(day), zone);
}
