/**
 * Payout cycles. Periods are whole UTC days: a cycle's boundaries are midnights (UTC), a period
 * runs from one boundary (inclusive) to the next (exclusive).
 * - weekly / bi-weekly: every 7 / 14 days counted from `cycle_anchor` (default Monday 2024-01-01);
 * - monthly: the first of each month;
 * - custom: every `cycle_days` days from `cycle_anchor`.
 */
export type CycleKind = "weekly" | "biweekly" | "monthly" | "custom";
export type Cycle = { cycle: CycleKind; cycle_days: number | null; cycle_anchor: string };
export type Period = { start: Date; end: Date };

export const DEFAULT_CYCLE: Cycle = { cycle: "monthly", cycle_days: null, cycle_anchor: "2024-01-01" };

const DAY_MS = 86_400_000;

function stepDays(c: Cycle): number | null {
  if (c.cycle === "weekly") return 7;
  if (c.cycle === "biweekly") return 14;
  if (c.cycle === "custom") return c.cycle_days ?? null;
  return null;
}

const isMidnight = (d: Date) => d.getTime() % DAY_MS === 0;

/** The period of `c` that ends at `end`, or null when `end` is not one of its boundaries. */
export function periodEnding(c: Cycle, end: Date): Period | null {
  if (!isMidnight(end)) return null;
  const step = stepDays(c);
  if (step === null) {
    if (end.getUTCDate() !== 1) return null;
    return { start: new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 1, 1)), end };
  }
  const anchor = Date.parse(`${c.cycle_anchor}T00:00:00Z`);
  const days = Math.round((end.getTime() - anchor) / DAY_MS);
  if (((days % step) + step) % step !== 0) return null;
  return { start: new Date(end.getTime() - step * DAY_MS), end };
}

/** The last boundary of `c` at or before `at`: where the period that contains `at` starts. */
export function lastBoundary(c: Cycle, at: Date): Date {
  const day = new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS);
  const step = stepDays(c);
  if (step === null) return new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), 1));
  const anchor = Date.parse(`${c.cycle_anchor}T00:00:00Z`);
  const days = Math.round((day.getTime() - anchor) / DAY_MS);
  return new Date(day.getTime() - (((days % step) + step) % step) * DAY_MS);
}
