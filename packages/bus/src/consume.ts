import type { ConsumerConfig, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import { millis } from "@nats-io/nats-core";
import {
  type Context,
  context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import type { Sql } from "@roundtrip/db";
import type { Registry } from "prom-client";
import { Batcher } from "./batches.ts";
import { decode } from "./codec.ts";
import type { Bus } from "./connection.ts";
import { DeadLetterHeaders, deadLetter, parkDeadLetter, watchExhausted } from "./deadletter.ts";
import { isPermanent, isTopologyMissing, PermanentError } from "./errors.ts";
import { type Logger, stderrLogger } from "./logger.ts";
import { busMetrics } from "./metrics.ts";
import { CONSUMERS, type ConsumerName, describeSubject, type StreamKey } from "./topology.ts";
import { extractContext, headersToRecord, MESSAGING_SYSTEM, tracer } from "./tracing.ts";

export type Delivery<T = unknown> = {
  payload: T;
  /** Logical subject (without BUS_PREFIX), e.g. `postbacks.received.42`. */
  subject: string;
  headers: Readonly<Record<string, string>>;
  /** `Nats-Msg-Id`: the key for `handleOnce`. */
  msgId: string;
  /** 1 on the first delivery. */
  deliveryCount: number;
  stream: StreamKey;
  consumer: ConsumerName;
  streamSequence: number;
  publishedAt: Date;
  /** The CONSUMER span's context; the handler already runs inside it. */
  context: Context;
  span: Span;
};

/**
 * Resolve when the effect is committed. Resolving with `handleOnce`'s result (anything with
 * `duplicate: true`) counts the message as a duplicate instead of a fresh ack.
 */
export type Handler<T> = (delivery: Delivery<T>) => Promise<unknown>;

/**
 * Handles many deliveries at once (one transaction: `handleBatchOnce`), resolving when their
 * effect is committed. Resolving with its outcome counts the ones in `duplicates` as duplicates.
 * A rejection splits the batch: each message is handled again alone, so one that cannot be
 * handled is retried or dead-lettered by itself and does not hold back the others.
 */
export type BatchHandler<T> = (deliveries: Delivery<T>[]) => Promise<unknown>;

type PerMessage<T> = { handler: Handler<T>; batchHandler?: never; maxBatch?: never };
type Batched<T> = {
  batchHandler: BatchHandler<T>;
  /** Messages per batch at most (default 32). */
  maxBatch?: number;
  handler?: never;
};

export type ConsumeOptions<T> = (PerMessage<T> | Batched<T>) & {
  consumer: ConsumerName;
  /** Messages (with `batchHandler`: batches) handled at once by this replica (default 8). */
  concurrency?: number;
  /** Validates the decoded JSON (e.g. TypeBox `Value.Parse`); a throw is a permanent failure. */
  parse?: (payload: unknown) => T;
  registry?: Registry;
  logger?: Logger;
  /** Long-poll length of each pull request (default 5 s; the server minimum is 1 s). */
  pullExpiresMs?: number;
  /**
   * Where a dead letter is parked (`bus_dead_letters`), so the outbox reconciler does not
   * re-publish an event this consumer dead-lettered. Services pass theirs; without it, nothing is parked.
   */
  sql?: Sql;
};

export type Consumer = {
  /** Resolves once the durable consumer was found and pulling started (or stop() was called). */
  readonly ready: Promise<void>;
  /** Stops pulling, waits for in-flight handlers to settle (and ack), then returns. */
  stop(): Promise<void>;
};

type Outcome = "ack" | "duplicate" | "retry" | "dead_letter";

export type RetryPolicy = {
  maxDeliver: number;
  nakDelayMs(deliveryCount: number): number;
  heartbeatMs(deliveryCount: number): number;
};

/**
 * How the loop settles failures, from the consumer's config as stored on the server (so test
 * overrides and re-provisioned values apply without a redeploy).
 *
 * NATS does not apply BackOff to a plain `nak()` (that redelivers at once), and `nak(d)` with a
 * BackOff redelivers after `d - ack_wait + backoff[n-1]` (measured on 2.9.10; the same arithmetic
 * is in current servers). Since the server sets ack_wait = backoff[0], naking with d = ack_wait
 * makes error retries follow the BackOff schedule exactly: 1 s, 5 s, 30 s, … .
 */
export function retryPolicy(
  config: Pick<ConsumerConfig, "ack_wait" | "backoff" | "max_deliver">,
): RetryPolicy {
  const ackWaitMs = config.ack_wait ? millis(config.ack_wait) : 30_000;
  const backoffMs = (config.backoff ?? []).map((n) => millis(n));
  // The server's ack deadline of delivery n is backoff[n-1] (or ack_wait without a BackOff).
  const deadline = (dc: number) =>
    backoffMs.length ? (backoffMs[Math.min(Math.max(dc, 1), backoffMs.length) - 1] as number) : ackWaitMs;
  return {
    maxDeliver: config.max_deliver && config.max_deliver > 0 ? config.max_deliver : Number.POSITIVE_INFINITY,
    nakDelayMs: (dc) => (backoffMs.length ? ackWaitMs : Math.min(2 ** (dc - 1) * 1_000, 600_000)),
    // A handler slower than its ack deadline would be redelivered to another replica while it
    // still runs; progress acks ("working") restart the deadline, three times per period.
    heartbeatMs: (dc) => Math.max(10, Math.floor(deadline(dc) / 3)),
  };
}

/**
 * Runs `handler` for every message of a durable consumer, `concurrency` at a time, and settles
 * each message only after the handler resolved (so after its transaction committed):
 * ack on success; dead-letter + term on a PermanentError or on the last allowed delivery;
 * otherwise nak so the consumer's BackOff schedules the retry.
 *
 * Pulls with `fetch` sized to the free slots rather than `consume()`, because `consume()` refills
 * as messages arrive, not as they are processed: a slow replica would hoard messages whose ack
 * deadlines run out before it gets to them.
 */
export function consume<T = unknown>(bus: Bus, options: ConsumeOptions<T>): Consumer {
  const consumerName = options.consumer;
  const streamKey = CONSUMERS[consumerName].stream;
  const streamName = bus.names.stream(streamKey);
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 8));
  const pullExpiresMs = Math.max(1_000, options.pullExpiresMs ?? 5_000);
  const log = options.logger ?? stderrLogger;
  const registry = options.registry ?? bus.registry;
  const metrics = busMetrics(registry);
  const inflight = new Set<Promise<void>>();
  const batchHandler = options.batchHandler;
  const maxBatch = Math.max(1, Math.floor(options.maxBatch ?? 32));
  // Messages this replica holds at most: per message, or `concurrency` batches' worth.
  const capacity = batchHandler ? concurrency * maxBatch : concurrency;
  let currentPolicy: RetryPolicy | undefined;
  const batcher = batchHandler
    ? new Batcher({
        maxMessages: maxBatch,
        concurrency,
        run: (ms) =>
          handleBatch(ms, currentPolicy as RetryPolicy, batchHandler).catch((err) =>
            log.error("consume: unexpected error settling a batch", { err }),
          ),
        heartbeatMs: (dc) => (currentPolicy as RetryPolicy).heartbeatMs(dc),
        beat: (m) => settle(() => m.working()),
      })
    : undefined;
  const held = () => (batcher ? batcher.size : inflight.size);

  let stopping = false;
  let batch: ConsumerMessages | undefined;
  let signalStop!: () => void;
  const stopped = new Promise<void>((resolve) => {
    signalStop = resolve;
  });
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  const watcher = watchExhausted(bus, {
    consumer: consumerName,
    sql: options.sql,
    registry,
    logger: options.logger,
  });

  function inbound(m: JsMsg) {
    const subject = bus.names.logical(m.subject);
    return {
      subject,
      template: describeSubject(subject)?.template ?? subject,
      // A replayed dead letter is handled under the id of the message it replays (the inbox key).
      msgId: m.headers?.get(DeadLetterHeaders.MsgId) || m.headers?.get("Nats-Msg-Id") || `seq:${m.seq}`,
      deliveryCount: m.info.deliveryCount,
      parent: extractContext(m.headers, ROOT_CONTEXT),
    };
  }

  // Inside the handler's context, so a rejected payload is a permanent failure of this message.
  function delivery(m: JsMsg, info: ReturnType<typeof inbound>, ctx: Context, span: Span): Delivery<T> {
    let payload: T;
    try {
      const raw = decode(m.data);
      payload = options.parse ? options.parse(raw) : (raw as T);
    } catch (err) {
      throw new PermanentError("invalid_payload", `payload rejected: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return {
      payload,
      subject: info.subject,
      headers: headersToRecord(m.headers),
      msgId: info.msgId,
      deliveryCount: info.deliveryCount,
      stream: streamKey,
      consumer: consumerName,
      streamSequence: m.seq,
      publishedAt: m.time,
      context: ctx,
      span,
    };
  }

  function startSpan(
    m: JsMsg,
    info: ReturnType<typeof inbound>,
    parent: Context,
    extra: Record<string, string | number>,
    links?: Link[],
  ): Span {
    return tracer().startSpan(
      `process ${info.template}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          "messaging.system": MESSAGING_SYSTEM,
          "messaging.operation.name": "process",
          "messaging.operation.type": "process",
          "messaging.destination.name": m.subject,
          "messaging.destination.template": info.template,
          "messaging.consumer.group.name": consumerName,
          "messaging.nats.stream": streamName,
          ...extra,
        },
        links,
      },
      parent,
    );
  }

  function failed(span: Span, err: unknown): void {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
  }

  function record(outcome: Outcome, started: number, span: Span): void {
    span.setAttribute("roundtrip.bus.outcome", outcome);
    metrics?.consumed.inc({ stream: streamKey, consumer: consumerName, outcome });
    metrics?.handlerDuration.observe({ consumer: consumerName }, (performance.now() - started) / 1_000);
  }

  async function handle(m: JsMsg, policy: RetryPolicy): Promise<void> {
    const started = performance.now();
    const info = inbound(m);
    const span = startSpan(m, info, info.parent, {
      "messaging.message.id": info.msgId,
      "messaging.message.body.size": m.data.byteLength,
      "messaging.nats.sequence": m.seq,
      "messaging.nats.delivery_count": info.deliveryCount,
    });
    const ctx = trace.setSpan(info.parent, span);
    // A closed connection makes these throw; a timer must never turn that into a crash.
    const heartbeat = setInterval(() => settle(() => m.working()), policy.heartbeatMs(info.deliveryCount));
    let outcome: Outcome;
    try {
      let result: unknown;
      let failure: { err: unknown } | undefined;
      try {
        result = await context.with(ctx, () => options.handler?.(delivery(m, info, ctx, span)));
      } catch (err) {
        failure = { err };
      }
      if (!failure) {
        // The effect is committed; if this ack is lost the redelivery meets the inbox.
        settle(() => m.ack());
        outcome = isDuplicateResult(result) ? "duplicate" : "ack";
      } else {
        failed(span, failure.err);
        outcome = await context.with(ctx, () => settleFailure(m, failure.err, { ...info, policy }));
      }
    } finally {
      // Kept beating through a dead-letter publish, so the message is not redelivered meanwhile.
      clearInterval(heartbeat);
    }
    record(outcome, started, span);
    span.end();
  }

  /**
   * One batch: one CONSUMER span linking every message's trace (a lone message continues its
   * own), one handler call, then each message settled. A failed batch of several is handled
   * again message by message (the Batcher keeps them beating meanwhile).
   */
  async function handleBatch(ms: JsMsg[], policy: RetryPolicy, run: BatchHandler<T>): Promise<void> {
    const started = performance.now();
    const infos = ms.map(inbound);
    const first = infos[0] as ReturnType<typeof inbound>;
    const parent = ms.length === 1 ? first.parent : ROOT_CONTEXT;
    const links = infos.flatMap((i) => {
      const linked = trace.getSpanContext(i.parent);
      return linked ? [{ context: linked }] : [];
    });
    const span = startSpan(
      ms[0] as JsMsg,
      first,
      parent,
      {
        "messaging.batch.message_count": ms.length,
        ...(ms.length === 1 ? { "messaging.message.id": first.msgId } : {}),
      },
      links,
    );
    const ctx = trace.setSpan(parent, span);
    const items: { m: JsMsg; d: Delivery<T> }[] = [];
    for (const [i, m] of ms.entries()) {
      const info = infos[i] as ReturnType<typeof inbound>;
      try {
        items.push({ m, d: delivery(m, info, ctx, span) });
      } catch (err) {
        failed(span, err);
        record(await context.with(ctx, () => settleFailure(m, err, { ...info, policy })), started, span);
      }
    }
    let failure: { err: unknown } | undefined;
    let result: unknown;
    if (items.length > 0) {
      try {
        result = await context.with(ctx, () => run(items.map((x) => x.d)));
      } catch (err) {
        failure = { err };
      }
    }
    if (!failure) {
      const duplicates = duplicatesOf(result);
      for (const { m, d } of items) {
        settle(() => m.ack());
        record(duplicates.has(d) ? "duplicate" : "ack", started, span);
      }
    } else if (items.length > 1) {
      failed(span, failure.err);
      log.warn("consume: batch failed; handling its messages one by one", {
        consumer: consumerName,
        messages: items.length,
        err: failure.err,
      });
      span.end();
      for (const { m } of items) await handleBatch([m], policy, run);
      return;
    } else {
      const { m, d } = items[0] as { m: JsMsg; d: Delivery<T> };
      failed(span, failure.err);
      const outcome = await context.with(ctx, () => settleFailure(m, failure.err, { ...d, policy }));
      record(outcome, started, span);
    }
    span.end();
  }

  // Ack/nak/term/working are fire-and-forget protocol messages; they only throw when the
  // connection is closed, and then the server redelivers after the ack deadline anyway.
  function settle(send: () => void): void {
    try {
      send();
    } catch (err) {
      log.warn("consume: could not settle a message; the server will redeliver it", {
        consumer: consumerName,
        err,
      });
    }
  }

  async function settleFailure(
    m: JsMsg,
    err: unknown,
    d: { subject: string; msgId: string; deliveryCount: number; policy: RetryPolicy },
  ): Promise<Outcome> {
    const permanent = isPermanent(err);
    const exhausted = d.deliveryCount >= d.policy.maxDeliver;
    const fields = {
      stream: streamKey,
      consumer: consumerName,
      seq: m.seq,
      deliveries: d.deliveryCount,
      err,
    };
    if (!permanent && !exhausted) {
      log.warn("handler failed; will retry", fields);
      settle(() => m.nak(d.policy.nakDelayMs(d.deliveryCount)));
      return "retry";
    }
    try {
      await deadLetter(
        bus,
        {
          stream: streamKey,
          consumer: consumerName,
          subject: d.subject,
          streamSequence: m.seq,
          deliveryCount: d.deliveryCount,
          msgId: d.msgId,
          body: m.data,
          headers: m.headers,
          reason: permanent ? "permanent" : "max_deliver",
          errorCode: permanent ? (err as PermanentError).code : errorCode(err),
          error: err instanceof Error ? err.message : String(err),
        },
        registry,
      );
      if (options.sql) await parkDeadLetter(options.sql, consumerName, d.msgId);
      // Only after DEADLETTER stored it (and PostgreSQL parked it): term() alone would lose the message.
      settle(() => m.term());
      log.error("message dead-lettered", { ...fields, reason: permanent ? "permanent" : "max_deliver" });
      return "dead_letter";
    } catch (dlErr) {
      // Try again later. On the last delivery the server then emits MAX_DELIVERIES and the
      // exhausted-watcher dead-letters it.
      log.error("could not dead-letter; will retry", { ...fields, dlErr });
      settle(() => m.nak(d.policy.nakDelayMs(d.deliveryCount)));
      return "retry";
    }
  }

  // Readiness: this loop's pulls failing for longer than the service's threshold makes it unready.
  const pulling = `consumer ${consumerName} cannot pull`;
  const loop = (async () => {
    let failures = 0;
    while (!stopping) {
      // A request sent while disconnected only waits out its timeout; wait for the reconnect instead.
      while (!bus.health.connected && !stopping) await Promise.race([Bun.sleep(100), stopped]);
      if (stopping) break;
      try {
        const c = await bus.js.consumers.get(streamName, consumerName);
        const policy = retryPolicy((await c.info(true)).config);
        markReady();
        while (!stopping) {
          currentPolicy = policy;
          while (held() >= capacity && !stopping) {
            batcher?.pump(); // so that whatever waits has a batch running to wait for
            await Promise.race([...inflight, ...(batcher?.running ?? []), stopped]);
          }
          if (stopping) break;
          batch = await c.fetch({ max_messages: capacity - held(), expires: pullExpiresMs });
          for await (const m of batch) {
            if (stopping) {
              settle(() => m.nak()); // pulled after stop: hand it straight to another replica
              continue;
            }
            if (batcher) {
              batcher.add(m);
              continue;
            }
            const p: Promise<void> = handle(m, policy)
              .catch((err) => log.error("consume: unexpected error settling a message", { err }))
              .finally(() => inflight.delete(p));
            inflight.add(p);
          }
          batch = undefined;
          failures = 0; // a pull that ended normally (full or expired): the path is healthy
          bus.health.succeeded(pulling);
        }
      } catch (err) {
        if (stopping) break;
        bus.health.failed(pulling, err);
        let waitMs: number;
        if (isTopologyMissing(err)) {
          // The broker lost the stream or this consumer (restarted with an empty store): put the
          // topology back and pull again at once; waiting longer would not bring it back.
          await bus.reprovision(err, `consumer ${consumerName}`);
          waitMs = 250;
        } else {
          // Broker restarting, heartbeats missed (also what a deleted consumer looks like: the next
          // lookup then finds it missing). Capped low, so the loop resumes soon after the broker.
          waitMs = Math.min(5_000, 250 * 2 ** failures++);
          log.warn("consume: pull failed; retrying", {
            stream: streamKey,
            consumer: consumerName,
            waitMs,
            err,
          });
        }
        await Promise.race([Bun.sleep(waitMs), stopped]);
      }
    }
  })();

  return {
    ready,
    async stop() {
      if (!stopping) {
        stopping = true;
        signalStop();
        markReady();
        void batch?.close();
      }
      await loop;
      // Pulled but not started: hand them straight to another replica.
      for (const m of batcher?.takePending() ?? []) settle(() => m.nak());
      await Promise.allSettled([...inflight, ...(batcher?.running ?? [])]);
      await watcher.stop();
    },
  };
}

// The deliveries a batch handler's outcome (handleBatchOnce) reports as already handled.
function duplicatesOf(result: unknown): ReadonlySet<unknown> {
  const duplicates = (result as { duplicates?: unknown } | undefined)?.duplicates;
  return new Set(Array.isArray(duplicates) ? duplicates : []);
}

function isDuplicateResult(result: unknown): boolean {
  return (
    typeof result === "object" && result !== null && (result as { duplicate?: unknown }).duplicate === true
  );
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" || typeof code === "number" ? String(code) : undefined;
}
