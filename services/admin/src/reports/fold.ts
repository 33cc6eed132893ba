import type { Sql } from "@roundtrip/db";
import type { Logger } from "@roundtrip/telemetry";

const HOUR_MS = 3_600_000;
/** A gateway transaction commits within milliseconds of its `received_at`; minutes are generous. */
export const FOLD_GRACE_MS = 2 * 60_000;
const FOLD_LOCK = 7_242_300;
export const POSTBACK_FOLD = "postbacks";

/**
 * Folds closed hours of the append-only postback request log into `report_postbacks_hourly`.
 * An hour is folded once it ended (plus a grace period) by replacing its rows with a fresh
 * aggregate, and recorded in `report_folds`; hours are folded in order, so everything before the
 * watermark (the last folded hour + 1 h) is in the rollup and reports read raw rows only after
 * it (the open hour). Folding an hour again gives the same figures: it is idempotent.
 * Returns the number of hours folded. Replicas skip while another one folds.
 */
export async function foldPostbackLog(
  sql: Sql,
  options: { now?: Date; maxHours?: number } = {},
): Promise<number> {
  const now = options.now ?? new Date();
  const closedBefore = new Date(Math.floor((now.getTime() - FOLD_GRACE_MS) / HOUR_MS) * HOUR_MS);
  const maxHours = options.maxHours ?? 48;
  let folded = 0;
  while (folded < maxHours) {
    const done = await sql.begin(async (tx) => {
      const [{ locked }] =
        (await tx`select pg_try_advisory_xact_lock(${FOLD_LOCK}) as locked`) as unknown as [
          { locked: boolean },
        ];
      if (!locked) return true;
      const [{ watermark }] = (await tx`
        select max(hour) + interval '1 hour' as watermark from report_folds where name = ${POSTBACK_FOLD}`) as unknown as [
        { watermark: Date | null },
      ];
      // The next hour with any request at or after the watermark (empty hours are skipped).
      const [{ next }] = (await tx`
        select date_trunc('hour', min(received_at)) as next from postback_log
        where received_at >= ${watermark ?? new Date(0)} and received_at < ${closedBefore}`) as unknown as [
        { next: Date | null },
      ];
      if (!next) return true;
      const end = new Date(next.getTime() + HOUR_MS);
      await tx`delete from report_postbacks_hourly where hour = ${next}`;
      const rows = await tx`
        insert into report_postbacks_hourly (hour, advertiser_id, brand_id, source, outcome, reason, requests)
        select ${next}::timestamptz, coalesce(l.advertiser_id, 0), coalesce(a.brand_id, 0), l.source, l.outcome,
               coalesce(l.reason, ''), count(*)
        from postback_log l left join advertisers a on a.id = l.advertiser_id
        where l.received_at >= ${next} and l.received_at < ${end}
        group by 2, 3, 4, 5, 6`;
      await tx`
        insert into report_folds (name, hour, rows) values (${POSTBACK_FOLD}, ${next}, ${rows.count})
        on conflict (name, hour) do update set rows = excluded.rows, folded_at = now()`;
      return false;
    });
    if (done) break;
    folded++;
  }
  return folded;
}

export async function postbackWatermark(sql: Sql): Promise<Date> {
  const [row] = await sql<{ watermark: Date | null }[]>`
    select max(hour) + interval '1 hour' as watermark from report_folds where name = ${POSTBACK_FOLD}`;
  return row?.watermark ?? new Date(0);
}

/** Runs the fold every `intervalMs` until stopped; a failure is logged and retried next time. */
export function startFolding(sql: Sql, logger: Logger, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = foldPostbackLog(sql).catch((err) =>
      logger.warn("postback log fold failed", { error: err as Error }),
    );
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
