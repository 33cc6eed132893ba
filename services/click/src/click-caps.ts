import type { Sql } from "@roundtrip/db";
import { REASON } from "@roundtrip/contracts";

export type ClickCaps = {
  offerId: string;
  timezone: string;
  daily: number | null;
  monthly: number | null;
  lifetime: number | null;
};

export const hasClickCap = (c: ClickCaps): boolean =>
  c.daily !== null || c.monthly !== null || c.lifetime !== null;

/**
 * Takes one click from the offer's caps, or none when any is full — in one statement, so every
 * click replica sees the same counters and a cap is never overshot: each period's conditional
 * upsert locks its counter row, and the statement only commits when every period had room (a
 * full one raises, rolling the others back). Days and months are the brand's.
 */
export async function takeClickCap(sql: Sql, caps: ClickCaps, at: Date): Promise<boolean> {
  const periods: { period: string; cap: number }[] = [];
  if (caps.daily !== null) periods.push({ period: "day", cap: caps.daily });
  if (caps.monthly !== null) periods.push({ period: "month", cap: caps.monthly });
  if (caps.lifetime !== null) periods.push({ period: "lifetime", cap: caps.lifetime });
  if (periods.length === 0) return true;
  try {
    await sql.begin(async (tx) => {
      for (const p of periods) {
        const [row] = await tx`
          insert into offer_click_usage (offer_id, period, period_start, used)
          values (${caps.offerId}, ${p.period}, ${
            p.period === "lifetime"
              ? tx`date '1970-01-01'`
              : tx`date_trunc(${p.period}, ${at}::timestamptz at time zone ${caps.timezone})::date`
          }, 1)
          on conflict (offer_id, period, period_start) do update set used = offer_click_usage.used + 1
            where offer_click_usage.used < ${p.cap}
          returning 1 as ok`;
        if (!row) throw new CapReached();
      }
    });
    return true;
  } catch (err) {
    if (err instanceof CapReached) return false;
    throw err;
  }
}

class CapReached extends Error {
  override readonly name = "CapReached";
}

/** Which of an offer's conversion-side caps the click service must look at (link-cache.ts). */
export type FilledCaps = { offerId: string; timezone: string; conversions: boolean; payout: boolean };

/**
 * Whether the offer's conversion caps (offer events' `cap_daily`/`cap_monthly`, counted by
 * attribution in `offer_cap_usage`) or payout caps (`payout_cap_daily`/`payout_cap_monthly`,
 * counted by commission in `offer_payout_usage`) are full for the period the click falls in, in the
 * brand's days and months: the reason code of the first full one, or null. One read of the
 * counters themselves, so a cap filled by a conversion committed a moment ago turns the very next
 * click away on every replica, and the caps compared are the ones in force now (raised or removed,
 * the offer reopens at once). Read-only: a click never takes a conversion's place.
 */
export async function filledCap(
  sql: Sql,
  caps: FilledCaps,
  at: Date,
): Promise<typeof REASON.conversionCap | typeof REASON.payoutCap | null> {
  const start = (period: "day" | "month") =>
    sql`date_trunc(${period}, ${at}::timestamptz at time zone ${caps.timezone})::date`;
  const [row] = await sql<{ conversions: boolean; payout: boolean }[]>`
    select ${
      caps.conversions
        ? sql`exists (
            select 1 from offer_events e
            join offer_cap_usage u on u.offer_id = e.offer_id and u.event = e.code
            where e.offer_id = ${caps.offerId}
              and ((u.period = 'day' and u.period_start = ${start("day")} and u.used >= e.cap_daily)
                or (u.period = 'month' and u.period_start = ${start("month")} and u.used >= e.cap_monthly)))`
        : sql`false`
    } as conversions, ${
      caps.payout
        ? sql`exists (
            select 1 from offers o
            join offer_payout_usage p on p.offer_id = o.id
            where o.id = ${caps.offerId}
              and ((p.period = 'day' and p.period_start = ${start("day")} and p.payout >= o.payout_cap_daily)
                or (p.period = 'month' and p.period_start = ${start("month")} and p.payout >= o.payout_cap_monthly)))`
        : sql`false`
    } as payout`;
  if (row?.conversions) return REASON.conversionCap;
  if (row?.payout) return REASON.payoutCap;
  return null;
}
