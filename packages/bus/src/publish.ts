import type { PubAck } from "@nats-io/jetstream";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Registry } from "prom-client";
import { encode } from "./codec.ts";
import type { Bus } from "./connection.ts";
import { isTopologyMissing } from "./errors.ts";
import { busMetrics } from "./metrics.ts";
import { describeSubject, type Subject } from "./topology.ts";
import { injectContext, MESSAGING_SYSTEM, TRACE_HEADERS, toNatsHeaders, tracer } from "./tracing.ts";

export type PublishOptions = {
  /**
   * `Nats-Msg-Id`, derived from the business identity of the event (for a postback: advertiser +
   * txid + event) so a retried publish inside the duplicate window is stored once. Required.
   */
  msgId: string;
  /** Extra headers. Trace headers come from the active context and Nats-Msg-Id from `msgId`, never from here. */
  headers?: Record<string, string>;
  timeoutMs?: number;
  registry?: Registry;
};

/**
 * Publishes `payload` as JSON and waits for JetStream to store it. The returned PubAck says
 * `duplicate: true` when the server dropped it as a repeat of `msgId`; that is success.
 */
export function publish(
  bus: Bus,
  subject: Subject,
  payload: object,
  options: PublishOptions,
): Promise<PubAck> {
  return publishRaw(bus, subject, encode(payload), options);
}

/** Same, for bytes that are already encoded (the outbox relay, dead letters, replays). */
export async function publishRaw(
  bus: Bus,
  subject: string,
  body: Uint8Array,
  options: PublishOptions,
): Promise<PubAck> {
  if (!options.msgId) throw new TypeError(`publish to ${subject}: msgId is required (Nats-Msg-Id)`);
  const described = describeSubject(subject);
  const template = described?.template ?? subject;
  const wire = bus.names.subject(subject);
  // OTel messaging semconv: a PRODUCER span named "<operation> <destination template>".
  const span = tracer().startSpan(
    `publish ${template}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.name": "publish",
        "messaging.operation.type": "send",
        "messaging.destination.name": wire,
        "messaging.destination.template": template,
        "messaging.message.id": options.msgId,
        "messaging.message.body.size": body.byteLength,
      },
    },
    context.active(),
  );
  const hdrs = toNatsHeaders(
    Object.fromEntries(
      Object.entries(options.headers ?? {}).filter(([k]) => {
        const lower = k.toLowerCase();
        return !TRACE_HEADERS.has(lower) && lower !== "nats-msg-id";
      }),
    ),
  );
  injectContext(hdrs, trace.setSpan(context.active(), span));
  try {
    const ack = await bus.js.publish(wire, body, {
      msgID: options.msgId,
      headers: hdrs,
      ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
    });
    span.setAttribute("messaging.nats.stream", ack.stream);
    span.setAttribute("messaging.nats.sequence", ack.seq);
    span.setAttribute("messaging.nats.duplicate", ack.duplicate);
    busMetrics(options.registry ?? bus.registry)?.published.inc({ stream: described?.stream ?? "unknown" });
    return ack;
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    // No stream stores this subject any more (a wiped broker): put the topology back, so the
    // caller's retry (outbox relay, reconciler, click fallback probe) lands. Logged there, at error.
    if (isTopologyMissing(err)) void bus.reprovision(err, `publish ${template}`);
    throw err;
  } finally {
    span.end();
  }
}
