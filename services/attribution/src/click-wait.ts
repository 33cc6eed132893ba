import { acknowledgedBefore, type Bus, enqueueAll, type PreparedEvent } from "@roundtrip/bus";
import type { Sql, Tx } from "@roundtrip/db";
import { announce, type ConversionRow, history } from "./conversions.ts";

/**
 * A conversion whose click row is not stored yet waits for it before it is announced.
 *
 * The click ID alone credits a conversion (conversions.ts), so a postback that overtakes its
 * click — the CLICKS backlog behind, a fast advertiser — still lands at once. What it cannot have
 * yet is the click's sub IDs, IP and user agent: announced then, commission and delivery would
 * send the affiliate a postback without the sub IDs it matches conversions by (its own click ID
 * often travels in sub1), and the reports would file it under empty sub IDs for good. So such a
 * conversion is created as usual — deduplicated, its later reports and refunds applied — with
 * `awaiting_click_since` set, and nothing is announced for it until one of:
 *  - its click is stored: the click batch copies the click onto it and announces it, in the same
 *    transaction (`releaseStoredClicks`, from enrich.ts);
 *  - the click can no longer come: attribution-clicks has acknowledged every CLICKS message
 *    stored before the conversion was created (the redirect returns only after its click is
 *    published, so its message was among them). If the click row is there then — its batch and
 *    the postback were handled at once and missed each other — it is copied on as the batch would
 *    have; if not, the click was refused by PostgreSQL, or the click ID was minted by a tool
 *    rather than a redirect;
 *  - it waited CLICK_WAIT_MAX_MS (a safety net: a CLICKS consumer stuck on a message for its
 *    whole retry schedule, or NATS unreachable): an affiliate postback without sub IDs is better
 *    than none.
 * The last two record history reason `click_not_stored`, so the trace says why the sub IDs are
 * missing. Its first announcement carries its state at that moment (as a cap release does).
 */
export const CLICK_WAIT_REASON = "awaiting_click";

/** Stream time and database time come from different clocks: this much apart is still "before". */
const CLOCK_MARGIN_MS = 1_000;

/** Inside the click batch's transaction, after enrichment: its clicks' waiting conversions go out. */
export async function releaseStoredClicks(tx: Tx, clickIds: readonly string[]): Promise<number> {
  if (clickIds.length === 0) return 0;
  // The WHERE is re-checked after a concurrent release's commit: each is announced once. Each
  // with the seq of its latest history entry; their events written in one statement.
  const released = await tx<(ConversionRow & { last_seq: number })[]>`
    with released as (
      update conversions set awaiting_click_since = null
      where click_id = any(${tx.array(clickIds as string[])}::text[]) and awaiting_click_since is not null
      returning *)
    select r.*, coalesce((select max(seq) from conversion_history h where h.conversion_id = r.id), 1)::int as last_seq
    from released r
    order by r.id`;
  const events: PreparedEvent[] = [];
  for (const { last_seq, ...row } of released) await announce(tx, row, last_seq, null, events);
  await enqueueAll(tx, events);
  return released.length;
}

/**
 * Announces the waiting conversions whose click can no longer come, or that waited too long,
 * each in its own transaction (a replica releasing the same one at once skips it).
 */
export async function releaseUnmatched(
  sql: Sql,
  bus: Bus,
  options: { maxWaitMs: number; batch?: number; stopping?: () => boolean },
): Promise<{ released: number }> {
  const [{ now }] = (await sql`select now() as now`) as unknown as [{ now: Date }];
  const [oldest] = await sql<{ since: Date }[]>`
    select awaiting_click_since as since from conversions
    where awaiting_click_since is not null order by awaiting_click_since limit 1`;
  if (!oldest) return { released: 0 };
  const acknowledged = await acknowledgedBefore(bus, "attribution-clicks", now).catch(() => null);
  // Caught up, the answer is `now` itself (the database's clock, like awaiting_click_since); an
  // ack floor's is the stream's clock.
  const clicksHandledBefore =
    acknowledged === null
      ? 0
      : acknowledged === now
        ? now.getTime()
        : acknowledged.getTime() - CLOCK_MARGIN_MS;
  const cutoff = Math.max(now.getTime() - options.maxWaitMs, clicksHandledBefore);
  if (oldest.since.getTime() >= cutoff) return { released: 0 };
  let released = 0;
  while (!options.stopping?.()) {
    const due = await sql<{ id: string }[]>`
      select id from conversions
      where awaiting_click_since is not null and awaiting_click_since < ${new Date(cutoff)}
      order by awaiting_click_since, id
      limit ${options.batch ?? 200}`;
    let pass = 0;
    for (const { id } of due) if (await releaseOne(sql, id)) pass++;
    released += pass;
    if (due.length < (options.batch ?? 200) || pass === 0) break;
  }
  return { released };
}

async function releaseOne(sql: Sql, id: string): Promise<boolean> {
  return sql.begin(async (tx) => {
    const [c] = await tx<ConversionRow[]>`
      select * from conversions where id = ${id} and awaiting_click_since is not null for update skip locked`;
    if (!c) return false;
    // Its click may be stored after all: its batch and this conversion's postback were handled at
    // once and missed each other (they share no lock). Then it goes out as the batch would have
    // sent it — with the click, and no reason to record.
    const [stored] = await tx<ConversionRow[]>`
      update conversions c set awaiting_click_since = null,
        subs = k.subs, ip = k.ip, user_agent = k.user_agent, enriched_at = now()
      from clicks k
      where c.id = ${id} and k.click_id = c.click_id
        and k.clicked_at >= c.clicked_at and k.clicked_at < c.clicked_at + interval '1 second'
      returning c.*`;
    if (stored) {
      await announce(tx, stored, await lastSeq(tx, id), null);
      return true;
    }
    const [row] = await tx<ConversionRow[]>`
      update conversions set awaiting_click_since = null where id = ${id} returning *`;
    const seq = await history(tx, id, c.status, null, "click_not_stored");
    await announce(tx, row as ConversionRow, seq, null);
    return true;
  });
}

async function lastSeq(tx: Tx, conversionId: string): Promise<number> {
  const [row] = await tx<{ seq: number }[]>`
    select max(seq)::int as seq from conversion_history where conversion_id = ${conversionId}`;
  return row?.seq ?? 1;
}

/** How many conversions wait for their click (the gauge). */
export async function awaitingClickCount(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from conversions where awaiting_click_since is not null`;
  return row?.n ?? 0;
}
