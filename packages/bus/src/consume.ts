import type { ConsumerConfig, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import { millis } from "@nats-io/nats-core";
import {
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import type { Sql } from "@roundtrip/db";
import type { Registry } from "prom-client";
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

export type ConsumeOptions<T> = {
  consumer: ConsumerName;
  handler: Handler<T>;
  /** Messages handled at once by this replica (default 8). */
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

  async function handle(m: JsMsg, policy: RetryPolicy): Promise<void> {
    const started = performance.now();
    const subject = bus.names.logical(m.subject);
    const template = describeSubject(subject)?.template ?? subject;
    // A replayed dead letter is handled under the id of the message it replays (the inbox key).
    const msgId = m.headers?.get(DeadLetterHeaders.MsgId) || m.headers?.get("Nats-Msg-Id") || `seq:${m.seq}`;
    const deliveryCount = m.info.deliveryCount;
    const parent = extractContext(m.headers, ROOT_CONTEXT);
    const span = tracer().startSpan(
      `process ${template}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          "messaging.system": MESSAGING_SYSTEM,
          "messaging.operation.name": "process",
          "messaging.operation.type": "process",
          "messaging.destination.name": m.subject,
          "messaging.destination.template": template,
          "messaging.consumer.group.name": consumerName,
          "messaging.message.id": msgId,
          "messaging.message.body.size": m.data.byteLength,
          "messaging.nats.stream": streamName,
          "messaging.nats.sequence": m.seq,
          "messaging.nats.delivery_count": deliveryCount,
        },
      },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    // A closed connection makes these throw; a timer must never turn that into a crash.
    const heartbeat = setInterval(() => settle(() => m.working()), policy.heartbeatMs(deliveryCount));
    let outcome: Outcome;
    try {
      let result: unknown;
      let failure: { err: unknown } | undefined;
      try {
        result = await context.with(ctx, async () => {
          let payload: T;
          try {
            const raw = decode(m.data);
            payload = options.parse ? options.parse(raw) : (raw as T);
          } catch (err) {
            throw new PermanentError("invalid_payload", `payload rejected: ${(err as Error).message}`, {
              cause: err,
            });
          }
          return options.handler({
            payload,
            subject,
            headers: headersToRecord(m.headers),
            msgId,
            deliveryCount,
            stream: streamKey,
            consumer: consumerName,
            streamSequence: m.seq,
            publishedAt: m.time,
            context: ctx,
            span,
          });
        });
      } catch (err) {
        failure = { err };
      }
      if (!failure) {
        // The effect is committed; if this ack is lost the redelivery meets the inbox.
        settle(() => m.ack());
        outcome = isDuplicateResult(result) ? "duplicate" : "ack";
      } else {
        const err = failure.err;
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
        outcome = await context.with(ctx, () =>
          settleFailure(m, err, { subject, msgId, deliveryCount, policy }),
        );
      }
    } finally {
      // Kept beating through a dead-letter publish, so the message is not redelivered meanwhile.
      clearInterval(heartbeat);
    }
    span.setAttribute("roundtrip.bus.outcome", outcome);
    span.end();
    metrics?.consumed.inc({ stream: streamKey, consumer: consumerName, outcome });
    metrics?.handlerDuration.observe({ consumer: consumerName }, (performance.now() - started) / 1_000);
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
          while (inflight.size >= concurrency && !stopping) await Promise.race([...inflight, stopped]);
          if (stopping) break;
          batch = await c.fetch({ max_messages: concurrency - inflight.size, expires: pullExpiresMs });
          for await (const m of batch) {
            if (stopping) {
              settle(() => m.nak()); // pulled after stop: hand it straight to another replica
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
      await Promise.allSettled([...inflight]);
      await watcher.stop();
    },
  };
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
