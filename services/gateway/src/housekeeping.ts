import { deleteUntilShort, type Sql } from "@roundtrip/db";
import type { Logger } from "@roundtrip/telemetry";

const EVERY_MS = 60_000;
const PARTITIONS_EVERY_MS = 3_600_000;

/**
 * Forgets used signatures once their timestamp is out of tolerance anyway (the replay store),
 * batch after batch until a batch comes back short: at thousands of signed postbacks a second a
 * fixed batch a minute would fall behind for good.
 */
export function pruneSignatures(
  sql: Sql,
  options: { batch?: number; budgetMs?: number } = {},
): Promise<number> {
  return deleteUntilShort({ batch: options.batch ?? 10_000, budgetMs: options.budgetMs }, async (limit) => {
    const r = await sql`
      delete from postback_signatures
      where ctid in (select ctid from postback_signatures where expires_at < now() limit ${limit})`;
    return r.count;
  });
}

/**
 * Background chores every replica may run (each is idempotent and batched): forget used
 * signatures once their timestamp is out of tolerance anyway, and keep postback_log partitions
 * created a week ahead for a gateway that runs for months.
 */
export function startHousekeeping(sql: Sql, logger: Logger): { stop(): void } {
  let lastPartitions = Date.now();
  const run = async () => {
    await pruneSignatures(sql);
    if (Date.now() - lastPartitions >= PARTITIONS_EVERY_MS) {
      lastPartitions = Date.now();
      await sql`select ensure_daily_partitions('postback_log', 7)`;
    }
  };
  const timer = setInterval(() => {
    run().catch((err) => logger.warn("gateway housekeeping failed; will retry", { error: err as Error }));
  }, EVERY_MS);
  return { stop: () => clearInterval(timer) };
}
