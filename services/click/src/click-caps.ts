import type { Sql } from "@roundtrip/db";

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
