import type { Tx } from "@roundtrip/db";

class OverCap extends Error {
  override name = "OverCap";
}

export type CapTake = { period: "day" | "month"; period_start: string };

/**
 * Takes one conversion from the offer event's daily and monthly caps (days and months in the
 * brand's time zone, by event time). Both counters move together or not at all (a savepoint),
 * and the conditional upsert serialises concurrent conversions on the counter row, so replicas
 * can never overshoot a cap. Returns the places taken (record them with `recordCapTakes` so they
 * can be given back), or null when over a cap.
 */
export async function takeCap(
  tx: Tx,
  link: { offer_id: string; timezone: string },
  event: string,
  caps: { cap_daily: number | null; cap_monthly: number | null },
  occurredAt: Date,
): Promise<CapTake[] | null> {
  const periods: ["day" | "month", number][] = [];
  if (caps.cap_daily) periods.push(["day", caps.cap_daily]);
  if (caps.cap_monthly) periods.push(["month", caps.cap_monthly]);
  if (periods.length === 0) return [];
  try {
    return await tx.savepoint(async (sp) => {
      const taken: CapTake[] = [];
      for (const [period, cap] of periods) {
        const [row] = await sp<{ period_start: string }[]>`
          insert into offer_cap_usage (offer_id, event, period, period_start, used)
          values (${link.offer_id}, ${event}, ${period},
                  date_trunc(${period}, ${occurredAt}::timestamptz at time zone ${link.timezone})::date, 1)
          on conflict (offer_id, event, period, period_start) do update set used = offer_cap_usage.used + 1
            where offer_cap_usage.used < ${cap}
          returning period_start::text`;
        if (!row) throw new OverCap();
        taken.push({ period, period_start: row.period_start });
      }
      return taken;
    });
  } catch (err) {
    if (err instanceof OverCap) return null;
    throw err;
  }
}

export async function recordCapTakes(
  tx: Tx,
  conversion: { id: string; offer_id: string; event: string },
  taken: CapTake[],
): Promise<void> {
  for (const t of taken) {
    await tx`
      insert into conversion_cap_takes (conversion_id, offer_id, event, period, period_start)
      values (${conversion.id}, ${conversion.offer_id}, ${conversion.event}, ${t.period}, ${t.period_start})`;
  }
}

/**
 * A conversion that stops earning (rejected or reversed) gives its places back, once: the
 * take rows are deleted as the counters go down, so a second call finds nothing.
 */
export async function giveBackCap(tx: Tx, conversionId: string): Promise<number> {
  const rows = await tx`
    with given as (
      delete from conversion_cap_takes where conversion_id = ${conversionId}
      returning offer_id, event, period, period_start
    )
    update offer_cap_usage u set used = u.used - 1
    from given g
    where u.offer_id = g.offer_id and u.event = g.event and u.period = g.period and u.period_start = g.period_start
      and u.used > 0`;
  return rows.count;
}
