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
  const batches = { batch: options.batch ?? 5_000, budgetMs: options.budgetMs };
  const rows = await deleteUntilShort(batches, async (limit) => {
    const r = await sql`
      delete from bus_inbox
      where ctid in (
        select i.ctid from bus_inbox i
        where i.handled_at < now() - ${seconds} * interval '1 second'
          and not exists (
            select 1 from bus_outbox o
            where o.handled_at is null and coalesce(o.msg_id, 'outbox:' || o.id::text) = i.message_id)
        limit ${limit}
      )`;
    return r.count;
  });
  const parkings = await deleteUntilShort(batches, async (limit) => {
    const r = await sql`
      delete from bus_dead_letters
      where ctid in (
        select d.ctid from bus_dead_letters d
        where d.dead_lettered_at < now() - ${seconds} * interval '1 second'
          and not exists (
            select 1 from bus_outbox o
            where o.handled_at is null and coalesce(o.msg_id, 'outbox:' || o.id::text) = d.message_id)
        limit ${limit}
      )`;
    return r.count;
  });
  return rows + parkings;
}
