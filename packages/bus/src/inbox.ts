import { deleteUntilShort, type Sql, type Tx } from "@roundtrip/db";

export type InboxKey = {
  /** The durable consumer name: one message can be handled once per consumer. */
  consumer: string;
  /** The delivery's `msgId` (Nats-Msg-Id). */
  messageId: string;
};

/**
 * Runs `effect` at most once per (consumer, messageId): the inbox row and the effect commit in one
 * transaction. A redelivery after a crash between commit and ack finds the row and returns
 * `{ duplicate: true }` without running the effect. Two replicas handling the same message at once
 * serialise on the primary key: the second waits for the first to commit, then sees a duplicate
 * (or, if the first rolled back, does the work itself).
 */
export async function handleOnce<T>(
  sql: Sql,
  key: InboxKey,
  effect: (tx: Tx) => Promise<T>,
): Promise<{ duplicate: boolean; result?: T }> {
  return (await sql.begin(async (tx) => {
    const inserted = await tx`
      insert into bus_inbox (consumer, message_id, handled_at)
      values (${key.consumer}, ${key.messageId}, now())
      on conflict do nothing
      returning 1 as ok`;
    if (inserted.length === 0) return { duplicate: true };
    return { duplicate: false, result: await effect(tx) };
  })) as { duplicate: boolean; result?: T };
}

export type BatchOutcome<D, T> = {
  /** The items whose effect ran now, in the order given. */
  fresh: D[];
  /** Already handled (an earlier batch, another replica, or a repeat inside this batch). */
  duplicates: D[];
  /** The effect's result; absent when every item was a duplicate. */
  result?: T;
};

/**
 * `handleOnce` for many messages in one transaction: the effect runs once over the items not
 * handled before, and one `bus_inbox_batches` row records their inbox keys — one row per batch
 * instead of one per message, and one commit for all of them.
 *
 * Exactly once, per key: every key's advisory lock is taken first (in one sorted order, so two
 * batches that overlap never deadlock), then a second statement — with a snapshot taken after the
 * locks, so it sees whatever a batch that held them committed — looks for keys already handled
 * (batch rows or per-message `bus_inbox` rows, bus_handled()). A redelivered batch is all
 * duplicates; a batch that partly overlaps an earlier one applies only the rest; a key twice in
 * one batch (a re-published copy fetched with its original) counts once. A failing effect rolls
 * the batch row back with it, so nothing is marked handled that was not.
 */
export async function handleBatchOnce<D, T>(
  sql: Sql,
  consumer: string,
  items: readonly D[],
  keyOf: (item: D) => string,
  effect: (tx: Tx, fresh: D[]) => Promise<T>,
): Promise<BatchOutcome<D, T>> {
  const keys = [...new Set(items.map(keyOf))];
  return (await sql.begin(async (tx) => {
    await tx`
      select pg_advisory_xact_lock(k)
      from (select distinct hashtextextended(${consumer} || '/' || id, ${INBOX_LOCK_SEED}) as k
            from unnest(${tx.array(keys)}::text[]) as id order by 1) s`;
    const handled = new Set(
      (
        await tx<{ id: string }[]>`
          select id from unnest(${tx.array(keys)}::text[]) as id where bus_handled(${consumer}, id)`
      ).map((r) => r.id),
    );
    const fresh: D[] = [];
    const duplicates: D[] = [];
    for (const item of items) {
      const key = keyOf(item);
      if (handled.has(key)) duplicates.push(item);
      else {
        handled.add(key);
        fresh.push(item);
      }
    }
    if (fresh.length === 0) return { fresh, duplicates };
    await tx`
      insert into bus_inbox_batches (consumer, message_ids)
      values (${consumer}, ${tx.array(fresh.map(keyOf))}::text[])`;
    return { fresh, duplicates, result: await effect(tx, fresh) };
  })) as BatchOutcome<D, T>;
}

// Separates these advisory locks from the application's (click-lock.ts and others use two-int keys).
const INBOX_LOCK_SEED = 7_242_510;

/**
 * Inbox rows only need to outlive redeliveries (minutes), so a week is generous — except a proof
 * an owed outbox event still needs: its other consumers may not have handled it yet, and the
 * reconciler must not see this consumer's proof vanish and send the event to it again. Dead-letter
 * parkings (bus_dead_letters) follow the same rule: kept while their event is owed. Deletes in
 * bounded batches (short locks) until a batch comes back short, so clean-up keeps up with intake.
 */
export async function pruneInbox(
  sql: Sql,
  options: { olderThanMs?: number; batch?: number; budgetMs?: number } = {},
): Promise<number> {
  const seconds = (options.olderThanMs ?? 7 * 24 * 3_600_000) / 1_000;
  const prune = (remove: (limit: number) => Promise<{ count: number }>) =>
    deleteUntilShort({ batch: options.batch ?? 5_000, budgetMs: options.budgetMs }, async (limit) =>
      Number((await remove(limit)).count),
    );
  // Kept while an owed outbox event needs it (anti-join through the owed rows' wire-id index).
  const owed = (matching: ReturnType<typeof sql>) => sql`
    exists (select 1 from bus_outbox o
            where o.handled_at is null and coalesce(o.msg_id, 'outbox:' || o.id::text) ${matching})`;
  const older = (column: string) => sql`${sql(column)} < now() - ${seconds} * interval '1 second'`;
  const rows = await prune(
    (limit) => sql`
      delete from bus_inbox where ctid in (
        select ctid from bus_inbox
        where ${older("handled_at")} and not ${owed(sql`= message_id`)}
        limit ${limit})`,
  );
  const batchRows = await prune(
    (limit) => sql`
      delete from bus_inbox_batches where id in (
        select id from bus_inbox_batches
        where ${older("handled_at")} and not ${owed(sql`= any(message_ids)`)}
        limit ${limit})`,
  );
  const parkings = await prune(
    (limit) => sql`
      delete from bus_dead_letters where ctid in (
        select ctid from bus_dead_letters
        where ${older("dead_lettered_at")} and not ${owed(sql`= message_id`)}
        limit ${limit})`,
  );
  return rows + batchRows + parkings;
}
