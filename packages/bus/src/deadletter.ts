import type { MsgRequest, PubAck } from "@nats-io/jetstream";
import type { MsgHdrs, Subscription } from "@nats-io/nats-core";
import type { Sql } from "@roundtrip/db";
import type { Registry } from "prom-client";
import type { Bus } from "./connection.ts";
import { DeadLetterNotFoundError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { stderrLogger } from "./logger.ts";
import { busMetrics } from "./metrics.ts";
import { publishRaw } from "./publish.ts";
import { CONSUMERS, type ConsumerName, type StreamKey, subjects } from "./topology.ts";
import { headersToRecord, TRACE_HEADERS } from "./tracing.ts";

/** Headers a dead letter carries, so an operator (and `replayDeadLetter`) knows what failed and where it came from. */
export const DeadLetterHeaders = {
  Reason: "Roundtrip-Dead-Letter-Reason",
  ErrorCode: "Roundtrip-Error-Code",
  Error: "Roundtrip-Error",
  Subject: "Roundtrip-Original-Subject",
  Stream: "Roundtrip-Original-Stream",
  Sequence: "Roundtrip-Original-Sequence",
  Consumer: "Roundtrip-Consumer",
  DeliveryCount: "Roundtrip-Delivery-Count",
  MsgId: "Roundtrip-Original-Msg-Id",
} as const;

export const REPLAYED_FROM_HEADER = "Roundtrip-Replayed-From";

/** `permanent`: the handler threw a PermanentError. `max_deliver`: the retries ran out (errors or ack timeouts). */
export type DeadLetterReason = "permanent" | "max_deliver";

export type DeadLetterInput = {
  stream: StreamKey;
  consumer: ConsumerName;
  /** Logical subject of the original message. */
  subject: string;
  streamSequence: number;
  deliveryCount: number;
  msgId: string;
  body: Uint8Array;
  headers: MsgHdrs | undefined;
  reason: DeadLetterReason;
  errorCode?: string;
  error: string;
  /**
   * Names a dead letter that is a part of its message (e.g. the rows of a batch PostgreSQL refused),
   * so it and a later dead letter of the whole message are both stored, not deduplicated as one.
   */
  part?: string;
};

const OUR_HEADERS = new Set(Object.values(DeadLetterHeaders).map((h) => h.toLowerCase()));

// Header values are single protocol lines: no CR/LF, and kept short.
function headerValue(s: string, max = 512): string {
  const flat = s.replace(/[\r\n]+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

// The original's own headers ride along (minus the server's Nats-* and trace headers, which are
// set afresh), so a replay looks to the handler like the message it failed on.
function carriedHeaders(hdrs: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headersToRecord(hdrs))) {
    const lower = k.toLowerCase();
    if (lower.startsWith("nats-") || TRACE_HEADERS.has(lower) || OUR_HEADERS.has(lower)) continue;
    out[k] = v;
  }
  return out;
}

/**
 * Stores the original body in DEADLETTER. `Nats-Msg-Id` is `dl:<consumer>:<stream seq>[:<part>]`, so a
 * consumer that dead-letters, crashes before `term()` and gets the message again stores it once.
 */
export function deadLetter(bus: Bus, input: DeadLetterInput, registry?: Registry): Promise<PubAck> {
  const headers: Record<string, string> = {
    ...carriedHeaders(input.headers),
    [DeadLetterHeaders.Reason]: input.reason,
    [DeadLetterHeaders.Error]: headerValue(input.error || "(no message)"),
    [DeadLetterHeaders.Subject]: input.subject,
    [DeadLetterHeaders.Stream]: input.stream,
    [DeadLetterHeaders.Sequence]: String(input.streamSequence),
    [DeadLetterHeaders.Consumer]: input.consumer,
    [DeadLetterHeaders.DeliveryCount]: String(input.deliveryCount),
    [DeadLetterHeaders.MsgId]: headerValue(input.msgId),
  };
  if (input.errorCode) headers[DeadLetterHeaders.ErrorCode] = headerValue(input.errorCode, 128);
  return publishRaw(bus, subjects.deadLetter(input.stream, input.consumer), input.body, {
    msgId: `dl:${input.consumer}:${input.streamSequence}${input.part ? `:${input.part}` : ""}`,
    headers,
    registry,
  });
}

/**
 * Records in PostgreSQL that `consumer` dead-lettered `messageId` (its inbox key): the outbox
 * reconciler then treats the event as parked, owed but not re-published, since a copy sent after
 * the stream aged the original out would only fail and be dead-lettered again, every 7 days.
 */
export async function parkDeadLetter(sql: Sql, consumer: string, messageId: string): Promise<void> {
  await sql`
    insert into bus_dead_letters (consumer, message_id) values (${consumer}, ${messageId})
    on conflict do nothing`;
}

/**
 * The consume loop dead-letters what fails on its last delivery, but a replica that dies holding
 * the last delivery never gets that chance: the server just stops delivering and emits a
 * MAX_DELIVERIES advisory. This watcher (one per consume loop, in a queue group so one replica
 * acts) moves such messages to DEADLETTER too, so nothing exhausts its retries invisibly.
 * Advisories are not persisted: if no replica is running at that moment, the message stays
 * unacknowledged in the stream (visible as num_ack_pending going stale).
 */
export function watchExhausted(
  bus: Bus,
  options: { consumer: ConsumerName; sql?: Sql; registry?: Registry; logger?: Logger },
): { stop(): Promise<void> } {
  const { consumer } = options;
  const streamKey = CONSUMERS[consumer].stream;
  const streamName = bus.names.stream(streamKey);
  const log = options.logger ?? stderrLogger;
  const metrics = busMetrics(options.registry ?? bus.registry);
  const pending = new Set<Promise<void>>();
  const sub: Subscription = bus.nc.subscribe(
    `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${streamName}.${consumer}`,
    {
      queue: `roundtrip-bus-exhausted.${streamName}.${consumer}`,
      callback: (err, msg) => {
        if (err) return;
        const p = (async () => {
          const advisory = msg.json<{ stream_seq: number; deliveries: number }>();
          const stored = await bus.jsm.streams.getMessage(streamName, { seq: advisory.stream_seq });
          if (!stored) return; // aged out or deleted meanwhile: nothing left to keep
          // A replayed dead letter is known by the id of the message it replays (its inbox key).
          const msgId =
            stored.header?.get(DeadLetterHeaders.MsgId) ||
            stored.header?.get("Nats-Msg-Id") ||
            `seq:${stored.seq}`;
          await deadLetter(
            bus,
            {
              stream: streamKey,
              consumer,
              subject: bus.names.logical(stored.subject),
              streamSequence: stored.seq,
              deliveryCount: advisory.deliveries,
              msgId,
              body: stored.data,
              headers: stored.header,
              reason: "max_deliver",
              errorCode: "ack_timeout",
              error: `not acknowledged after ${advisory.deliveries} deliveries (handler crashed or timed out)`,
            },
            options.registry,
          );
          if (options.sql) await parkDeadLetter(options.sql, consumer, msgId);
          metrics?.consumed.inc({ stream: streamKey, consumer, outcome: "dead_letter" });
          log.warn("dead-lettered a message whose deliveries ran out without an ack", {
            stream: streamKey,
            consumer,
            seq: stored.seq,
          });
        })()
          .catch((e) => log.error("could not dead-letter an exhausted message", { consumer, err: e }))
          .finally(() => pending.delete(p));
        pending.add(p);
      },
    },
  );
  return {
    async stop() {
      sub.unsubscribe();
      await Promise.allSettled(pending);
    },
  };
}

export type DeadLetter = {
  /** Sequence in DEADLETTER: the handle for replay. */
  seq: number;
  time: Date;
  reason: string;
  errorCode?: string;
  error: string;
  stream: string;
  consumer: string;
  /** Logical subject the message was published to. */
  subject: string;
  originalSequence: number;
  deliveryCount: number;
  msgId: string;
  /** Decoded JSON, or the raw text when the body was not JSON (often the reason it is here). */
  payload: unknown;
};

function toDeadLetter(seq: number, time: Date, hdrs: MsgHdrs | undefined, data: Uint8Array): DeadLetter {
  const h = (k: string) => hdrs?.get(k) ?? "";
  const text = new TextDecoder().decode(data);
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    payload = text;
  }
  return {
    seq,
    time,
    reason: h(DeadLetterHeaders.Reason),
    errorCode: h(DeadLetterHeaders.ErrorCode) || undefined,
    error: h(DeadLetterHeaders.Error),
    stream: h(DeadLetterHeaders.Stream),
    consumer: h(DeadLetterHeaders.Consumer),
    subject: h(DeadLetterHeaders.Subject),
    originalSequence: Number(h(DeadLetterHeaders.Sequence)),
    deliveryCount: Number(h(DeadLetterHeaders.DeliveryCount)),
    msgId: h(DeadLetterHeaders.MsgId),
    payload,
  };
}

/** Oldest first, starting at `fromSeq`; direct gets, so listing creates no consumer on the server. */
export async function listDeadLetters(
  bus: Bus,
  options: { limit?: number; fromSeq?: number } = {},
): Promise<DeadLetter[]> {
  const limit = Math.max(0, Math.min(options.limit ?? 100, 1_000));
  const stream = bus.names.stream("DEADLETTER");
  const filter = bus.names.subject("deadletter.>");
  const out: DeadLetter[] = [];
  let seq = Math.max(1, options.fromSeq ?? 1);
  while (out.length < limit) {
    // next_by_subj: the first stored message at or after `seq`, skipping replayed (deleted) ones.
    // The server (2.9+) accepts it on STREAM.MSG.GET; the client only types it for direct gets.
    const query = { seq, next_by_subj: filter } as unknown as MsgRequest;
    const m = await bus.jsm.streams.getMessage(stream, query);
    if (!m) break;
    out.push(toDeadLetter(m.seq, m.time, m.header, m.data));
    seq = m.seq + 1;
  }
  return out;
}

/**
 * Publishes a dead letter back to its original subject (`Nats-Msg-Id` = `replay:<seq>`, so a
 * double click stores it once, even inside the original's duplicate window) and removes it from
 * DEADLETTER. The original message id rides along (`Roundtrip-Original-Msg-Id`) and is what the
 * handler sees as `msgId`, its inbox key: consumers of the stream that had handled the original
 * see a duplicate, and the outbox row it came from settles once the failed consumer handles it.
 * With `sql`, the parking is cleared too, so the reconciler re-publishes the event again if the
 * broker loses the replayed copy before it is handled (a failing replay parks it anew).
 */
export async function replayDeadLetter(
  bus: Bus,
  seq: number,
  options: { registry?: Registry; sql?: Sql } = {},
): Promise<PubAck> {
  const stream = bus.names.stream("DEADLETTER");
  const m = await bus.jsm.streams.getMessage(stream, { seq });
  if (!m) throw new DeadLetterNotFoundError(seq);
  const subject = m.header?.get(DeadLetterHeaders.Subject);
  if (!subject)
    throw new DeadLetterNotFoundError(seq, { cause: new Error("not a dead letter: no original subject") });
  const ack = await publishRaw(bus, subject, m.data, {
    msgId: `replay:${seq}`,
    headers: {
      ...carriedHeaders(m.header),
      [REPLAYED_FROM_HEADER]: String(seq),
      ...(m.header?.get(DeadLetterHeaders.MsgId)
        ? { [DeadLetterHeaders.MsgId]: m.header.get(DeadLetterHeaders.MsgId) }
        : {}),
    },
    registry: options.registry,
  });
  const consumer = m.header?.get(DeadLetterHeaders.Consumer);
  const msgId = m.header?.get(DeadLetterHeaders.MsgId);
  if (options.sql && consumer && msgId)
    await options.sql`delete from bus_dead_letters where consumer = ${consumer} and message_id = ${msgId}`;
  await bus.jsm.streams.deleteMessage(stream, seq, false);
  return ack;
}
