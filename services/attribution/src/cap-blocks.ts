import type { Sql } from "@roundtrip/db";
import { recordCapTakes, takeCap } from "./caps.ts";
import { announce, type ConversionRow, history } from "./conversions.ts";
import { isEarning } from "./lifecycle.ts";

/**
 * Over a cap is a blocked state, not a refusal. A conversion that finds its offer event's daily
 * or monthly cap full is created as usual — deduplicated, its later reports and refunds applied —
 * with `cap_blocked_since` set, and nothing is announced for it: commission books nothing,
 * delivery sends nothing. It waits, visibly (the trace, `roundtrip_conversions_blocked{reason}`,
 * the RoundtripConversionsBlocked alert), until its cap has room — the operator raised or removed
 * the cap, or a rejection or reversal gave a place back — and is then released, oldest first: it
 * takes its place, gets a history row (`cap_room`) and is announced with its state at that moment,
 * so it books itself. One that stops earning meanwhile is released by that change
 * (conversions.ts `changeStatus`): it needs no place.
 */
export const BLOCKED_REASON = "over_cap";

type Blocked = ConversionRow & { timezone: string; cap_daily: number | null; cap_monthly: number | null };

/**
 * Releases the blocked conversions whose cap has room now, each in its own transaction (a
 * replica releasing the same one at once skips it: row lock, `skip locked`). Takes batches while
 * they release something, so a raised cap clears its whole backlog in one pass.
 */
export async function releaseCapBlocked(
  sql: Sql,
  options: { batch?: number; stopping?: () => boolean } = {},
): Promise<{ released: number }> {
  let released = 0;
  while (!options.stopping?.()) {
    const candidates = await withRoom(sql, options.batch ?? 100);
    let releasedNow = 0;
    for (const { id } of candidates) if (await release(sql, id)) releasedNow++;
    released += releasedNow;
    if (releasedNow === 0) break;
  }
  return { released };
}

/** Blocked conversions, oldest first, whose day and month counters are both below their caps. */
function withRoom(sql: Sql, limit: number) {
  return sql<{ id: string }[]>`
    select c.id from conversions c
    join offers o on o.id = c.offer_id
    join brands b on b.id = o.brand_id
    left join offer_events e on e.offer_id = c.offer_id and e.code = c.event
    where c.cap_blocked_since is not null
      and not exists (
        select 1 from offer_cap_usage u
        where u.offer_id = c.offer_id and u.event = c.event
          and ((u.period = 'day' and u.used >= e.cap_daily
                and u.period_start = date_trunc('day', c.occurred_at at time zone b.timezone)::date)
            or (u.period = 'month' and u.used >= e.cap_monthly
                and u.period_start = date_trunc('month', c.occurred_at at time zone b.timezone)::date)))
    order by c.cap_blocked_since, c.id
    limit ${limit}`;
}

async function release(sql: Sql, id: string): Promise<boolean> {
  return sql.begin(async (tx) => {
    const [c] = await tx<Blocked[]>`
      select c.*, b.timezone, e.cap_daily, e.cap_monthly
      from conversions c
      join offers o on o.id = c.offer_id
      join brands b on b.id = o.brand_id
      left join offer_events e on e.offer_id = c.offer_id and e.code = c.event
      where c.id = ${id} and c.cap_blocked_since is not null
      for update of c skip locked`;
    if (!c) return false;
    // The counters decide, atomically across replicas: another conversion may have taken the room.
    const caps = { cap_daily: c.cap_daily, cap_monthly: c.cap_monthly };
    const taken = isEarning(c.status) ? await takeCap(tx, c, c.event, caps, c.occurred_at) : [];
    if (taken === null) return false;
    await recordCapTakes(tx, c, taken);
    const [row] = await tx<ConversionRow[]>`
      update conversions set cap_blocked_since = null where id = ${id} returning *`;
    const seq = await history(tx, id, c.status, null, "cap_room");
    await announce(tx, row as ConversionRow, seq, null);
    return true;
  });
}

/** How many conversions wait for cap room (the gauge). */
export async function capBlockedCount(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from conversions where cap_blocked_since is not null`;
  return row?.n ?? 0;
}
