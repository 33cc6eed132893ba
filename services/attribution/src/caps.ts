import type { Tx } from "@roundtrip/db";

class OverCap extends Error {
  override name = "OverCap";
}

/**
 * Takes one conversion from the offer event's daily and monthly caps (days and months in the
 * brand's time zone, by event time). Both counters move together or not at all (a savepoint),
 * and the conditional upsert serialises concurrent conversions on the counter row, so replicas
 * can never overshoot a cap.
 */
export async function takeCap(
  tx: Tx,
  link: { offer_id: string; timezone: string },
  event: string,
  caps: { cap_daily: number | null; cap_monthly: number | null },
  occurredAt: Date,
): Promise<boolean> {
  const periods: ["day" | "month", number][] = [];
  if (caps.cap_daily) periods.push(["day", caps.cap_daily]);
  if (caps.cap_monthly) periods.push(["month", caps.cap_monthly]);
  if (periods.length === 0) return true;
  try {
    await tx.savepoint(async (sp) => {
      for (const [period, cap] of periods) {
        const rows = await sp`
          insert into offer_cap_usage (offer_id, event, period, period_start, used)
          values (${link.offer_id}, ${event}, ${period},
                  date_trunc(${period}, ${occurredAt}::timestamptz at time zone ${link.timezone})::date, 1)
          on conflict (offer_id, event, period, period_start) do update set used = offer_cap_usage.used + 1
            where offer_cap_usage.used < ${cap}
          returning used`;
        if (rows.length === 0) throw new OverCap();
      }
    });
    return true;
  } catch (err) {
    if (err instanceof OverCap) return false;
    throw err;
  }
}
