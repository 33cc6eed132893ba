import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import { headers as natsHeaders, Match, type MsgHdrs } from "@nats-io/nats-core";

/**
 * W3C trace context travels in NATS headers. The propagator is whatever the process registered
 * globally (the W3C one in every service), so the bus never decides the wire format itself.
 */
export const tracer = () => trace.getTracer("@roundtrip/bus");

export const headerSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

// NATS header names are case-sensitive on the wire; propagators ask in lower case, and another
// client may have written `Traceparent`, so look up without case.
export const headerGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => carrier?.keys() ?? [],
  get: (carrier, key) =>
    carrier?.has(key, Match.IgnoreCase) ? carrier.get(key, Match.IgnoreCase) : undefined,
};

/**
 * Runs one message's share of a batch in that message's own trace: a batch's CONSUMER span starts
 * a trace of its own and only links its messages', so without this what a batch handler writes for
 * a message (outbox events, and their trace onward) would leave the trace the message came in.
 * An INTERNAL span named `name`, child of the message's context and linked to the batch's span.
 * Already in the message's trace (a batch of one), or without one, `fn` runs as it is.
 */
export async function inMessageTrace<T>(
  message: { headers: Readonly<Record<string, string>> },
  name: string,
  fn: () => Promise<T>,
): Promise<T> {
  const batch = trace.getSpanContext(context.active());
  const parent = propagation.extract(ROOT_CONTEXT, message.headers);
  const own = trace.getSpanContext(parent);
  if (!own || own.traceId === batch?.traceId) return fn();
  const span = tracer().startSpan(
    name,
    { kind: SpanKind.INTERNAL, links: batch ? [{ context: batch }] : [] },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), fn);
  } finally {
    span.end();
  }
}

export function injectContext(hdrs: MsgHdrs, ctx: Context = context.active()): void {
  propagation.inject(ctx, hdrs, headerSetter);
}

export function extractContext(hdrs: MsgHdrs | undefined, parent: Context = context.active()): Context {
  return propagation.extract(parent, hdrs, headerGetter);
}

/** The active trace context as plain headers, for storing with an outbox row until it is published. */
export function captureTraceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

export const TRACE_HEADERS = new Set(["traceparent", "tracestate"]);

export function toNatsHeaders(record: Record<string, string> | undefined): MsgHdrs {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(record ?? {})) h.set(k, v);
  return h;
}

/** First value of each header, for handlers that should not need the NATS types. */
export function headersToRecord(hdrs: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!hdrs) return out;
  for (const [k, values] of hdrs) if (values[0] !== undefined) out[k] = values[0];
  return out;
}

export const MESSAGING_SYSTEM = "nats";
