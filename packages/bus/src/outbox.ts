import type { PubAck } from "@nats-io/jetstream";
import { context } from "@opentelemetry/api";
import { deleteUntilShort, type Sql, type Tx } from "@roundtrip/db";
import type { Registry } from "prom-client";
import { encodeJson } from "./codec.ts";
import type { Bus } from "./connection.ts";
import { isTopologyMissing } from "./errors.ts";
import { pruneInbox } from "./inbox.ts";
import { type Logger, stderrLogger } from "./logger.ts";
import { busMetrics } from "./metrics.ts";
import { publishRaw } from "./publish.ts";
import { outboxReconciler } from "./reconcile.ts";
import { STREAM_KEYS, streamOf, type StreamKey, type Subject } from "./topology.ts";
import { captureTraceHeaders, extractContext, TRACE_HEADERS, toNatsHeaders } from "./tracing.ts";

/**
 * NOTIFY channel for writers outside the services that relay (admin's imports): notifications are
 * delivered at commit, so the relay never sees uncommitted rows. The hot paths never NOTIFY:
 * PostgreSQL serialises the commits of notifying transactions on one global lock (intake was
 * 3–4× slower with it), so they wake their own process's relay after the commit instead
 * (`OutboxRelay.wake`), and the relays' interval poll picks up the rest.
 */
export const OUTBOX_CHANNEL = "bus_outbox";

export type OutboxMessage = {
  subject: Subject;
  payload: object;
  /** Defaults to `outbox:<row id>`; pass a business-derived id when the event has one. */
  msgId?: string;
  headers?: Record<string, string>;
  /**
   * The trace this event continues (W3C headers from `captureTraceHeaders`), when it is not the
   * active one: an event held back and sent later, from another transaction, belongs to the
   * trace of the request that caused it.
   */
  trace?: Record<string, string>;
};

/**
 * Records an event in the caller's transaction, so it exists if and only if the change it
 * describes committed. The relay publishes it after commit: call the relay's `wake()` once the
 * transaction committed (no NOTIFY is sent: see OUTBOX_CHANNEL), else its poll finds the row.
 */
export async function enqueue(tx: Tx, message: OutboxMessage): Promise<{ id: string; msgId: string }> {
  const headers = { ...message.headers, ...(message.trace ?? captureTraceHeaders()) };
  // Normalised exactly as on the wire (BigInt → string), since the client's JSON encoding would throw on BigInt.
  const payload = JSON.parse(encodeJson(message.payload));
  const stream = streamOf(message.subject);
  const [row] = await tx<{ id: string }[]>`
    insert into bus_outbox (subject, stream, msg_id, payload, headers)
    values (${message.subject}, ${stream}, ${message.msgId ?? null}, ${tx.json(payload)}, ${tx.json(headers)})
    returning id`;
  const id = String((row as { id: string }).id);
  return { id, msgId: message.msgId ?? outboxMsgId(id) };
}

export const outboxMsgId = (id: string) => `outbox:${id}`;

/** An outbox row prepared now (its trace captured now), to be written with others (enqueueAll). */
export type PreparedEvent = {
  subject: string;
  stream: string;
  msg_id: string | null;
  payload: unknown;
  headers: Record<string, string>;
};

/**
 * `enqueue` in two halves, for a batch handler that writes the events of many messages in one
 * statement: `prepareEvent` captures the trace where the event is decided (each message's own),
 * `enqueueAll` inserts the rows in the order given, so their ids (and the relay's publishing
 * order) follow it. Only events with a business `msgId`: nothing needs their row ids.
 */
export function prepareEvent(message: OutboxMessage & { msgId: string }): PreparedEvent {
  return {
    subject: message.subject,
    stream: streamOf(message.subject),
    msg_id: message.msgId,
    payload: JSON.parse(encodeJson(message.payload)),
    headers: { ...message.headers, ...(message.trace ?? captureTraceHeaders()) },
  };
}

export async function enqueueAll(tx: Tx, events: readonly PreparedEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx`
    insert into bus_outbox (subject, stream, msg_id, payload, headers)
    select e->>'subject', e->>'stream', e->>'msg_id', e->'payload', e->'headers'
    from jsonb_array_elements(${JSON.stringify(events)}::text::jsonb) with ordinality as x(e, n)
    order by n`;
}

/**
 * Deletes settled rows (handled by every consumer) older than `olderThanMs`, batch after batch
 * until a batch comes back short. Only settled rows go: an owed row is the one copy left if the
 * broker loses the event.
 */
export async function pruneOutbox(
  sql: Sql,
  options: { olderThanMs: number; batch?: number; budgetMs?: number },
): Promise<number> {
  const seconds = options.olderThanMs / 1_000;
  return deleteUntilShort({ batch: options.batch ?? 5_000, budgetMs: options.budgetMs }, async (limit) => {
    const r = await sql`
      delete from bus_outbox
      where id in (
        select id from bus_outbox
        where handled_at < now() - ${seconds} * interval '1 second'
        limit ${limit}
      )`;
    return r.count;
  });
}

export type OutboxRelayOptions = {
  /** Poll for rows no wake-up announced (other replicas' and processes' writes). Default 1000. */
  intervalMs?: number;
  /** Rows per transaction. Default 100. */
  batchSize?: number;
  /** Settled rows (handled by every consumer) older than this are deleted. Default 1 day. */
  retentionMs?: number;
  /**
   * Owed until handled: a published row that some consumer of its stream has not handled after
   * this long is checked against the stream and re-published if the broker lost it
   * (OUTBOX_REPUBLISH_AFTER_MS). Default 30 s.
   */
  republishAfterMs?: number;
  /** How often the reconciler runs (settles, re-checks, owed gauges). Default 2 s. */
  reconcileIntervalMs?: number;
  /** Inbox rows older than this are deleted by the same housekeeping. Default 7 days; 0 disables. */
  inboxRetentionMs?: number;
  /**
   * The streams whose rows this relay publishes (default: every row). A service relays the events
   * it writes, so its outbox gauges and PRODUCER spans are its own; replicas of one service still
   * share its backlog.
   */
  streams?: StreamKey[];
  registry?: Registry;
  logger?: Logger;
};

export type OutboxRelay = {
  /**
   * Publishes what is unpublished now and waits for this relay's own passes; resolves with the
   * number of rows this call published. Rows another replica holds are that replica's to finish.
   */
  flush(): Promise<number>;
  /**
   * Publishes what is committed, soon: a writer in this process calls it after its transaction
   * committed. Wake-ups coalesce (one pass at a time, and one more for whatever arrived during it),
   * so under load a pass carries many rows.
   */
  wake(): void;
  /** One reconciler pass now (settle proven rows, re-publish what the broker lost); for tests and tools. */
  reconcile(): Promise<{ settled: number; republished: number }>;
  /** Stops listening and polling, waits for a pass in progress, then publishes what is left once. */
  stop(): Promise<void>;
};

const DEFAULT_REPUBLISH_AFTER_MS = 30_000;

type Row = {
  id: string;
  subject: string;
  msg_id: string | null;
  body: string;
  headers: Record<string, string>;
};

const HOUSEKEEPING_EVERY_MS = 60_000;

/**
 * Publishes outbox rows. Every replica may run one: rows are claimed with FOR UPDATE SKIP LOCKED,
 * so replicas split the backlog instead of racing for it. A row whose publish failed, or whose
 * PubAck or `published_at` update was lost, is simply published again on a later pass; its stable
 * msgId makes the stream drop the repeat inside the duplicate window, and consumers' inboxes make
 * it harmless after that.
 */
export function startOutboxRelay(bus: Bus, sql: Sql, options: OutboxRelayOptions = {}): OutboxRelay {
  const intervalMs = options.intervalMs ?? 1_000;
  const batchSize = options.batchSize ?? 100;
  const retentionMs = options.retentionMs ?? 24 * 3_600_000;
  const inboxRetentionMs = options.inboxRetentionMs ?? 7 * 24 * 3_600_000;
  const log = options.logger ?? stderrLogger;
  const registry = options.registry ?? bus.registry;
  const metrics = busMetrics(registry);
  const reconciler = outboxReconciler(bus, sql, {
    streams: options.streams,
    republishAfterMs: options.republishAfterMs ?? bus.outboxRepublishAfterMs ?? DEFAULT_REPUBLISH_AFTER_MS,
    batchSize: Math.max(batchSize, 500),
    registry,
    logger: log,
  });
  const reconcileIntervalMs = options.reconcileIntervalMs ?? 2_000;
  let lastReconcile = 0;
  const streams: readonly StreamKey[] = options.streams ?? STREAM_KEYS;

  let closing = false; // no new passes
  let stopped = false; // and the final drain is over
  let running: Promise<unknown> | undefined;
  let again = false;
  let lastHousekeeping = 0;
  const publishing = `outbox relay cannot publish ${options.streams?.join(",") ?? "events"}`;

  // One batch in one transaction: the row locks are held while publishing (milliseconds), which is
  // what keeps two replicas from publishing the same row at the same moment.
  async function publishBatch(): Promise<{ published: number; claimed: number }> {
    return (await sql.begin(async (tx) => {
      const rows = await tx<Row[]>`
        select id, subject, msg_id, payload::text as body, headers
        from bus_outbox
        where stream = any(${streams as string[]}::text[]) and published_at is null
        order by id
        limit ${batchSize}
        for update skip locked`;
      if (rows.length === 0) {
        // Nothing left to publish (perhaps another replica did): nothing is failing here either.
        bus.health.succeeded(publishing);
        return { published: 0, claimed: 0 };
      }
      const results = await Promise.allSettled(rows.map((row) => publishRow(row)));
      const done: { id: string; seq: number }[] = [];
      results.forEach((r, i) => {
        if (r.status === "fulfilled") done.push({ id: (rows[i] as Row).id, seq: r.value.seq });
      });
      const failed = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
      if (failed.length > 0) {
        const err = failed[0]?.reason;
        bus.health.failed(publishing, err);
        // No stream for the subject is the broker having lost its store: an incident, said loudly
        // (the publish already asked for the topology back). A broker that is down is a warning.
        const fields = { failed: failed.length, err };
        if (isTopologyMissing(err))
          log.error("outbox: publish failed: no stream stores it; will retry", fields);
        else log.warn("outbox: publish failed; will retry", fields);
      } else bus.health.succeeded(publishing);
      // Published is not settled: the row stays owed until its consumers' inbox rows prove it was
      // handled; `stream_seq` lets the reconciler ask the stream whether it still holds it.
      if (done.length > 0)
        await tx`
          update bus_outbox o
          set published_at = now(), stream_seq = u.seq,
              check_at = now() + ${reconciler.republishAfterSeconds} * interval '1 second'
          from jsonb_to_recordset(${JSON.stringify(done)}::text::jsonb) as u(id bigint, seq bigint)
          where o.id = u.id`;
      return { published: done.length, claimed: rows.length };
    })) as { published: number; claimed: number };
  }

  function publishRow(row: Row): Promise<PubAck> {
    const stored = row.headers ?? {};
    const extra = Object.fromEntries(
      Object.entries(stored).filter(([k]) => !TRACE_HEADERS.has(k.toLowerCase())),
    );
    // The publish span continues the trace of the request that enqueued the row.
    const parent = extractContext(toNatsHeaders(stored), context.active());
    return context.with(parent, () =>
      publishRaw(bus, row.subject, new TextEncoder().encode(row.body), {
        msgId: row.msg_id ?? outboxMsgId(row.id),
        headers: extra,
        registry,
      }),
    );
  }

  async function drain(): Promise<number> {
    let total = 0;
    // Disconnected, a publish only waits out its timeout while holding row locks: the pass after
    // the reconnect (interval or notification) publishes instead.
    while (!stopped && bus.health.connected) {
      const { published, claimed } = await publishBatch();
      total += published;
      // No progress (broker down) ends the pass: the next one (notification or interval) retries,
      // no hot loop. A few failing rows do not stop the rest of the backlog.
      if (published === 0 || claimed < batchSize) break;
    }
    return total;
  }

  async function housekeeping(): Promise<void> {
    const [stats] = await sql<{ backlog: number; oldest: number | null }[]>`
      select count(*)::int as backlog,
             extract(epoch from now() - min(created_at))::float8 as oldest
      from bus_outbox
      where stream = any(${streams as string[]}::text[]) and published_at is null`;
    metrics?.outboxBacklog.set(stats?.backlog ?? 0);
    metrics?.outboxOldestAge.set(Math.max(0, stats?.oldest ?? 0));
    if (Date.now() - lastReconcile >= reconcileIntervalMs) {
      lastReconcile = Date.now();
      await reconciler.pass();
    }
    if (Date.now() - lastHousekeeping < HOUSEKEEPING_EVERY_MS) return;
    lastHousekeeping = Date.now();
    await pruneOutbox(sql, { olderThanMs: retentionMs });
    if (inboxRetentionMs > 0) await pruneInbox(sql, { olderThanMs: inboxRetentionMs });
  }

  // Coalesces wake-ups: at most one pass runs, and a wake during a pass causes exactly one more.
  function kick(): void {
    if (closing) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await drain();
        } catch (err) {
          log.warn("outbox: relay pass failed", { err });
          break;
        }
      } while (again && !closing);
    })().finally(() => {
      running = undefined;
    });
  }

  let housekeeping$: Promise<void> | undefined;
  const timer = setInterval(() => {
    kick();
    housekeeping$ ??= housekeeping()
      .catch((err) => log.warn("outbox: housekeeping failed", { err }))
      .finally(() => {
        housekeeping$ = undefined;
      });
  }, intervalMs);

  // LISTEN runs on its own connection; the client re-listens after reconnecting and calls the
  // onlisten callback again, where a pass catches up on anything committed meanwhile.
  const listening = sql
    .listen(
      OUTBOX_CHANNEL,
      () => kick(),
      () => kick(),
    )
    .catch((err) => {
      log.warn("outbox: LISTEN failed; relying on the interval", { err });
      return undefined;
    });

  return {
    async flush() {
      while (running) await running;
      const n = await drain();
      // A pass woken meanwhile may hold rows this drain skipped (SKIP LOCKED): let it finish.
      while (running) await running;
      await housekeeping().catch((err) => log.warn("outbox: housekeeping failed", { err }));
      return n;
    },
    wake: kick,
    reconcile: () => reconciler.pass(),
    async stop() {
      closing = true;
      clearInterval(timer);
      const meta = await listening;
      await meta?.unlisten().catch(() => {});
      while (running) await running;
      // Last pass, so what committed just before SIGTERM is not left for another replica (or the
      // next start). Bounded by the publish timeout when the broker is down.
      await drain().catch((err) => log.warn("outbox: final pass failed", { err }));
      stopped = true;
      await housekeeping$;
      reconciler.dispose();
    },
  };
}
