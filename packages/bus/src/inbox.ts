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
 * handled before, with one commit for all of them.
 *
 * One statement records and checks at once: the batch's keys are inserted as `bus_inbox` rows in
 * sorted order, `on conflict do nothing returning` the ones that were new. A key another
 * transaction inserted but has not committed makes this one wait for it (the primary key), then
 * counts as handled if it committed — so two overlapping batches on two replicas each apply only
 * what the other did not, and, taking the keys in the same order, never deadlock. A redelivered
 * batch is all duplicates; a partly overlapping one applies only the rest; a key twice in one
 * batch counts once. A failing effect rolls the rows back with it, so nothing is marked handled
 * that was not.
 */
export async function handleBatchOnce<D, T>(
  sql: Sql,
  consumer: string,
  items: readonly D[],
  keyOf: (item: D) => string,
  effect: (tx: Tx, fresh: D[]) => Promise<T>,
): Promise<BatchOutcome<D, T>> {
  const keys = [...new Set(items.map(keyOf))].sort();
  return (await sql.begin(async (tx) => {
    const claimed = new Set(
      (
        await tx<{ message_id: string }[]>`
          insert into bus_inbox (consumer, message_id, handled_at)
          select ${consumer}, k, now() from unnest(${tx.array(keys)}::text[]) as k order by k
          on conflict do nothing
          returning message_id`
      ).map((r) => r.message_id),
    );
    const fresh: D[] = [];
    const duplicates: D[] = [];
    for (const item of items) {
      const key = keyOf(item);
      if (claimed.delete(key)) fresh.push(item);
      else duplicates.push(item);
    }
    if (fresh.length === 0) return { fresh, duplicates };
    return { fresh, duplicates, result: await effect(tx, fresh) };
  })) as BatchOutcome<D, T>;
}

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
  const owed = () => sql`
    exists (select 1 from bus_outbox o
            where o.handled_at is null and coalesce(o.msg_id, 'outbox:' || o.id::text) = message_id)`;
  const older = (column: string) => sql`${sql(column)} < now() - ${seconds} * interval '1 second'`;
  const rows = await prune(
    (limit) => sql`
      delete from bus_inbox where ctid in (
        select ctid from bus_inbox
        where ${older("handled_at")} and not ${owed()}
        limit ${limit})`,
  );
  const parkings = await prune(
    (limit) => sql`
      delete from bus_dead_letters where ctid in (
        select ctid from bus_dead_letters
        where ${older("dead_lettered_at")} and not ${owed()}
        limit ${limit})`,
  );
  return rows + parkings;
}
