import { context } from "@opentelemetry/api";
import type { Sql, Tx } from "@roundtrip/db";
import type { Registry } from "prom-client";
import type { Bus } from "./connection.ts";
import { isTopologyMissing } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { busMetrics } from "./metrics.ts";
import { publishRaw } from "./publish.ts";
import { requiredConsumers } from "./consumers.ts";
import { describeSubject, STREAM_KEYS, type StreamKey } from "./topology.ts";
import { extractContext, TRACE_HEADERS, toNatsHeaders } from "./tracing.ts";

/**
 * Owed until handled (docs/internals.md, "Delivery guarantees"). The broker's PubAck is not the
 * end of an outbox event's life: 2.9 acks before fsync, and a store can be lost. An event stays
 * owed until every durable consumer of its stream that the deployment runs (topology.ts, minus the
 * ones declared off: consumers.ts) has its inbox row, written in the same transaction as the
 * consumer's effect; that proof settles the row (`handled_at`).
 *
 * Owed rows older than the republish age are due for a check: if the stream still holds the
 * message (same sequence, same `Nats-Msg-Id`), a consumer is merely behind or a dead letter waits
 * for a human, and the check is repeated later, less and less often; if the broker lost it, the
 * row is re-published with its original `Nats-Msg-Id`, and the consumers' inboxes absorb any
 * repeat. Republishing only what is lost keeps a lagging consumer from being buried in copies.
 */
export type OutboxReconciler = {
  /** Settles proven rows, re-checks due ones, updates the gauges. One pass at a time. */
  pass(): Promise<{ settled: number; republished: number }>;
  /** When the row just published should first be checked. */
  readonly republishAfterSeconds: number;
  dispose(): void;
};

export type ReconcilerOptions = {
  /** Streams whose rows this reconciler owns (default: every stream). */
  streams?: readonly StreamKey[];
  /** An owed row is checked this long after its publish (OUTBOX_REPUBLISH_AFTER_MS). */
  republishAfterMs: number;
  /** Longest pause between two checks of a row the broker still holds. Default 10 min. */
  maxCheckIntervalMs?: number;
  batchSize: number;
  registry?: Registry;
  logger: Logger;
};

type Due = {
  id: string;
  subject: string;
  wire_id: string;
  body: string;
  headers: Record<string, string>;
  stream_seq: string | null;
  /** Every consumer still missing it dead-lettered it (bus_dead_letters): wait for a replay. */
  parked: boolean;
};

// A pass proves at most this many chunks of owed rows, continuing where it stopped next time, so
// a long consumer outage (many owed rows) costs bounded work per pass.
const SETTLE_CHUNKS_PER_PASS = 10;
const RECHECK_BATCHES_PER_PASS = 10;

/**
 * Parked: some consumer dead-lettered the event (row alias with `wire_id` in scope) and every
 * required consumer without an inbox proof for it is one of those. One that never saw it (lost
 * with the store) still needs a copy, so the row is re-sent then.
 */
function parkedSql(sql: Sql | Tx, required: string[]) {
  return sql`
    exists (select 1 from bus_dead_letters d where d.message_id = wire_id and d.consumer = any(${required}::text[]))
    and not exists (
      select 1 from unnest(${required}::text[]) as c(name)
      where not bus_handled(c.name, wire_id)
        and not exists (select 1 from bus_dead_letters d where d.consumer = c.name and d.message_id = wire_id))`;
}

export function outboxReconciler(bus: Bus, sql: Sql, options: ReconcilerOptions): OutboxReconciler {
  const log = options.logger;
  const metrics = busMetrics(options.registry ?? bus.registry);
  const ageSeconds = options.republishAfterMs / 1_000;
  const maxIntervalSeconds = (options.maxCheckIntervalMs ?? 600_000) / 1_000;
  const streams = options.streams ?? STREAM_KEYS;
  const plans = streams.map((key) => ({
    key,
    cursor: "0",
    /** The stream's creation time last seen: a new one means the broker lost its store. */
    created: undefined as string | undefined,
    recheck: false,
  }));
  // From 0, so the first loss is an increase() the alert sees, not a series that appears at N.
  for (const plan of plans) metrics?.outboxRepublished.inc({ stream: plan.key }, 0);
  // Whoever re-provisions in this process (a consume loop, a publish) tells us the broker lost
  // something: every owed row of every stream is checked on the next pass, not in minutes.
  const unsubscribe = bus.onReprovisioned(() => {
    for (const p of plans) p.recheck = true;
  });

  let running: Promise<{ settled: number; republished: number }> | undefined;

  async function settle(plan: (typeof plans)[number], required: string[]): Promise<number> {
    let settled = 0;
    for (let chunk = 0; chunk < SETTLE_CHUNKS_PER_PASS; chunk++) {
      // Proof = per required consumer, its inbox row (bus_handled: a primary-key probe).
      const [r] = await sql<{ last: string | null; scanned: number; settled: number }[]>`
        with owed as (
          select id, published_at, coalesce(msg_id, 'outbox:' || id::text) as wire_id
          from bus_outbox
          where handled_at is null and id > ${plan.cursor} and stream = ${plan.key}
          order by id
          limit ${options.batchSize}
        ), proven as (
          select id from owed
          where (select count(*) from unnest(${required}::text[]) as c(name)
                 where bus_handled(c.name, owed.wire_id)) = ${required.length}
            and (${required.length} > 0 or published_at is not null)
        ), done as (
          update bus_outbox o set handled_at = now() from proven where o.id = proven.id returning 1
        )
        select (select max(id) from owed)::text as last, (select count(*) from owed)::int as scanned,
               (select count(*) from done)::int as settled`;
      settled += r?.settled ?? 0;
      if (!r || r.scanned < options.batchSize) {
        plan.cursor = "0"; // walked to the end: start from the oldest next pass
        break;
      }
      plan.cursor = r.last ?? "0";
    }
    return settled;
  }

  // A new stream incarnation (or a re-provision here) means the broker lost what it held.
  async function noticeStoreLoss(plan: (typeof plans)[number]): Promise<void> {
    const name = bus.names.stream(plan.key);
    try {
      const info = await bus.jsm.streams.info(name);
      if (plan.created !== undefined && plan.created !== info.created) plan.recheck = true;
      plan.created = info.created;
    } catch (err) {
      if (isTopologyMissing(err)) await bus.reprovision(err, `outbox reconciler ${plan.key}`);
      else throw err;
    }
    if (!plan.recheck) return;
    plan.recheck = false;
    await sql`
      update bus_outbox set check_at = now()
      where handled_at is null and check_at > now() and stream = ${plan.key}`;
  }

  async function recheck(
    plan: (typeof plans)[number],
    required: string[],
  ): Promise<{ due: number; fresh: number }> {
    const stream = bus.names.stream(plan.key);
    const what = `outbox reconciler cannot publish ${plan.key}`;
    return (await sql.begin(async (tx) => {
      const rows = await tx<Due[]>`
        with due as (
          select id, subject, coalesce(msg_id, 'outbox:' || id::text) as wire_id, payload::text as body,
                 headers, stream_seq::text as stream_seq, check_at
          from bus_outbox
          where handled_at is null and check_at <= now() and stream = ${plan.key}
          order by check_at
          limit ${options.batchSize}
          for update skip locked
        )
        select due.*, (${parkedSql(tx, required)}) as parked from due order by check_at`;
      if (rows.length === 0) {
        bus.health.succeeded(what);
        return { due: 0, fresh: 0 };
      }
      const outcomes = await Promise.allSettled(rows.map((row) => reconcileRow(stream, row)));
      const held: string[] = [];
      const sent: { id: string; seq: number; fresh: boolean }[] = [];
      let failure: unknown;
      outcomes.forEach((o, i) => {
        const row = rows[i] as Due;
        if (o.status === "rejected") failure ??= o.reason;
        else if (o.value === "held") held.push(row.id);
        else sent.push({ id: row.id, seq: o.value.seq, fresh: !o.value.duplicate });
      });
      // Held: look again after a pause as long as the row is old (30 s, 1 min, 2 min, … ≤ max).
      if (held.length > 0)
        await tx`
          update bus_outbox
          set check_at = now() + least(greatest(now() - created_at, ${ageSeconds} * interval '1 second'),
                                       ${maxIntervalSeconds} * interval '1 second')
          where id in ${tx(held)}`;
      if (sent.length > 0)
        await tx`
          update bus_outbox o
          set stream_seq = u.seq, check_at = now() + ${ageSeconds} * interval '1 second',
              republished = o.republished + case when u.fresh then 1 else 0 end
          from jsonb_to_recordset(${JSON.stringify(sent)}::text::jsonb) as u(id bigint, seq bigint, fresh bool)
          where o.id = u.id`;
      const fresh = sent.filter((s) => s.fresh).length;
      if (fresh > 0) {
        metrics?.outboxRepublished.inc({ stream: plan.key }, fresh);
        log.error("outbox: the broker lost acknowledged events; re-published them", {
          stream: plan.key,
          republished: fresh,
        });
      }
      if (failure) {
        bus.health.failed(what, failure);
        log.error("outbox: could not re-publish owed events; will retry", { stream: plan.key, err: failure });
      } else bus.health.succeeded(what);
      // A failed batch ends the pass: the broker is refusing, the next pass tries again.
      return { due: failure ? 0 : rows.length, fresh };
    })) as { due: number; fresh: number };
  }

  // "held" when the stream still has it (or it is parked); otherwise the ack of the re-publish.
  async function reconcileRow(
    stream: string,
    row: Due,
  ): Promise<"held" | { seq: number; duplicate: boolean }> {
    // Re-sent, it would only fail again into a new dead letter; a replay ends the parking.
    if (row.parked) return "held";
    if (row.stream_seq !== null) {
      let stored: Awaited<ReturnType<typeof bus.jsm.streams.getMessage>> = null;
      try {
        stored = await bus.jsm.streams.getMessage(stream, { seq: Number(row.stream_seq) });
      } catch (err) {
        if (!isTopologyMissing(err)) throw err;
        await bus.reprovision(err, "outbox reconciler");
      }
      if (stored && stored.header?.get("Nats-Msg-Id") === row.wire_id) return "held";
    }
    const headers = row.headers ?? {};
    const extra = Object.fromEntries(
      Object.entries(headers).filter(([k]) => !TRACE_HEADERS.has(k.toLowerCase())),
    );
    const parent = extractContext(toNatsHeaders(headers), context.active());
    const ack = await context.with(parent, () =>
      publishRaw(bus, row.subject, new TextEncoder().encode(row.body), {
        msgId: row.wire_id,
        headers: extra,
        registry: options.registry,
      }),
    );
    return { seq: ack.seq, duplicate: ack.duplicate };
  }

  async function gauges(required: Record<StreamKey, string[]>): Promise<void> {
    if (!metrics) return;
    for (const plan of plans) {
      const [s] = await sql<{ owed: number; oldest: number | null; parked: number }[]>`
        with owed as (
          select coalesce(msg_id, 'outbox:' || id::text) as wire_id, created_at
          from bus_outbox
          where handled_at is null and stream = ${plan.key}
        )
        select count(*)::int as owed, extract(epoch from now() - min(created_at))::float8 as oldest,
               count(*) filter (where ${parkedSql(sql, required[plan.key] ?? [])})::int as parked
        from owed`;
      metrics.outboxOwed.set({ stream: plan.key }, s?.owed ?? 0);
      metrics.outboxOwedParked.set({ stream: plan.key }, s?.parked ?? 0);
      metrics.outboxOwedOldestAge.set({ stream: plan.key }, Math.max(0, s?.oldest ?? 0));
    }
  }

  // Rows an older release enqueued without their stream (during a rollout) get it here, from the
  // one mapping (topology.ts), before anything looks for them by stream. Normally finds none.
  async function label(): Promise<void> {
    const rows = await sql<{ id: string; subject: string }[]>`
      select id, subject from bus_outbox where stream is null and handled_at is null limit 1000`;
    const labelled = rows.flatMap((r) => {
      const stream = describeSubject(r.subject)?.stream;
      return stream ? [{ id: r.id, stream }] : [];
    });
    if (labelled.length > 0)
      await sql`
        update bus_outbox o set stream = u.stream
        from jsonb_to_recordset(${JSON.stringify(labelled)}::text::jsonb) as u(id bigint, stream text)
        where o.id = u.id`;
  }

  async function pass(): Promise<{ settled: number; republished: number }> {
    await label();
    let settled = 0;
    let republished = 0;
    // Read each pass: admin switching its reports off (or on) applies without a restart here.
    // Admin's reports-* count while they run: a lost event would leave the reports short of the ledger.
    const required = await requiredConsumers(sql);
    for (const plan of plans) {
      settled += await settle(plan, required[plan.key] ?? []);
      // While disconnected a broker request only waits out its timeout: check after the reconnect.
      if (!bus.health.connected) continue;
      await noticeStoreLoss(plan);
      // After a store loss every owed row is due at once: work through it in bounded batches.
      for (let batch = 0; batch < RECHECK_BATCHES_PER_PASS; batch++) {
        const { due, fresh } = await recheck(plan, required[plan.key] ?? []);
        republished += fresh;
        if (due < options.batchSize) break;
      }
    }
    await gauges(required);
    return { settled, republished };
  }

  return {
    republishAfterSeconds: ageSeconds,
    pass() {
      running ??= pass().finally(() => {
        running = undefined;
      });
      return running;
    },
    dispose: unsubscribe,
  };
}
