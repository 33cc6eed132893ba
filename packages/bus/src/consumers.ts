import type { Sql } from "@roundtrip/db";
import { CONSUMER_NAMES, CONSUMERS, type ConsumerName, STREAM_KEYS, type StreamKey } from "./topology.ts";

/**
 * The consumers an outbox event waits for are the ones the deployment runs, not every consumer in
 * topology.ts: a switched-off consumer never writes its inbox proof, and waiting for it would keep
 * every event of its stream owed forever (re-published after the stream's max age, again and again).
 *
 * The service that owns an optional consumer declares it at start (the one place that reads its
 * switch), and the record is PostgreSQL, so the reconciler in every other service and replica
 * reads the same answer without sharing that service's configuration. A declaration is a state,
 * not a heartbeat: a consumer that is merely down (crashed, scaled to zero) stays required, and an
 * undeclared one is required too. Replicas of one service share its configuration, so the last
 * start's declaration is everyone's.
 */
export async function declareConsumers(
  sql: Sql,
  names: readonly ConsumerName[],
  enabled: boolean,
): Promise<void> {
  if (names.length === 0) return;
  await sql`
    insert into bus_consumers (consumer, enabled)
    select unnest(${names as string[]}::text[]), ${enabled}
    on conflict (consumer) do update set enabled = excluded.enabled, declared_at = now()`;
}

/** Per stream, the consumers whose inbox row an event of that stream needs before it is settled. */
export async function requiredConsumers(sql: Sql): Promise<Record<StreamKey, string[]>> {
  const off = new Set(
    (await sql<{ consumer: string }[]>`select consumer from bus_consumers where not enabled`).map(
      (r) => r.consumer,
    ),
  );
  const required = Object.fromEntries(STREAM_KEYS.map((key) => [key, [] as string[]])) as Record<
    StreamKey,
    string[]
  >;
  for (const name of CONSUMER_NAMES) if (!off.has(name)) required[CONSUMERS[name].stream].push(name);
  return required;
}
