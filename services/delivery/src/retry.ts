// What an answer means is shared with admin's send tests (@roundtrip/outbound).
export { classify } from "@roundtrip/outbound";

/**
 * When to try again. The schedule lists the delay before each attempt of a cycle (the first is
 * normally 0): the default spreads 8 attempts over about 28 hours, so an affiliate whose server
 * is down for a day still gets its postbacks. Each delay gets up to 20 % added at random (never
 * taken away, so the schedule is a floor), so a backlog for a recovered endpoint does not arrive
 * as one burst; a `Retry-After` longer than the scheduled delay wins (capped at a day).
 */
export const DEFAULT_SCHEDULE_S = "0,5,300,1800,7200,18000,36000,36000";
const JITTER = 0.2;
const MAX_RETRY_AFTER_S = 86_400;

/** `0,5,300` → seconds; decimals allowed (tests use short schedules). */
export function parseSchedule(spec: string): number[] {
  const delays = spec.split(",").map((s) => Number(s.trim()));
  if (!delays.length || delays.some((d) => !Number.isFinite(d) || d < 0 || d > 7 * 86_400)) {
    throw new Error(`DELIVERY_RETRY_SCHEDULE_S: expected comma-separated seconds (0 to 604800), got ${spec}`);
  }
  return delays;
}

export type Outcome = "delivered" | "retry" | "failed" | "dead_lettered";

/** `Retry-After`: delay-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return null;
  const trimmed = raw.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed), MAX_RETRY_AFTER_S);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.min(Math.max(0, Math.ceil((at - now) / 1000)), MAX_RETRY_AFTER_S);
}

/**
 * The delay before the next attempt after `attemptsDone` attempts of this cycle, or null when
 * the schedule is exhausted (the delivery is dead-lettered).
 */
export function nextDelay(
  schedule: readonly number[],
  attemptsDone: number,
  retryAfterS: number | null,
  random = Math.random,
): number | null {
  const scheduled = schedule[attemptsDone];
  if (scheduled === undefined) return null;
  const jittered = scheduled * (1 + JITTER * random());
  return Math.max(jittered, retryAfterS ?? 0);
}
