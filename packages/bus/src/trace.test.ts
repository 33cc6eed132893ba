import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { TestDatabase } from "@roundtrip/db";
import { consume } from "./consume.ts";
import { enqueue, startOutboxRelay } from "./outbox.ts";
import { publish } from "./publish.ts";
import { type TestBus, testBus, testDatabase, waitFor } from "./test-support.ts";
import { subjects } from "./topology.ts";
import { captureTraceHeaders, inMessageTrace } from "./tracing.ts";

const exporter = new InMemorySpanExporter();
let t: TestBus;
let db: TestDatabase;

beforeAll(async () => {
  // What a service's telemetry start-up does: real SDK, W3C propagation, async context. Whatever an
  // earlier test file in this process registered is cleared first (the API refuses re-registration).
  trace.disable();
  propagation.disable();
  context.disable();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  t = await testBus({ consumers: { "delivery-commissions": { backoffMs: [200, 400], maxDeliver: 4 } } });
  db = await testDatabase("bus_trace");
});

afterAll(async () => {
  await t.cleanup();
  await db.drop();
  trace.disable();
  propagation.disable();
  context.disable();
});

const spans = () => exporter.getFinishedSpans();

describe("trace context across the bus", () => {
  test("the consumer span continues the producer span's trace, and handler spans are its children", async () => {
    exporter.reset();
    let handlerSpanId = "";
    const c = consume(t.bus, {
      consumer: "delivery-commissions",
      handler: async (d) => {
        // Anything the handler starts (queries, HTTP calls, publishes) hangs under the CONSUMER span.
        trace.getTracer("test").startActiveSpan("handler work", (s) => {
          handlerSpanId = s.spanContext().spanId;
          s.end();
        });
        expect(trace.getActiveSpan()?.spanContext().spanId).toBe(d.span.spanContext().spanId);
      },
    });
    await publish(t.bus, subjects.commissionBooked(), { entry_id: "1" }, { msgId: "commission:1" });
    await waitFor(() => handlerSpanId, Boolean, { what: "the handler" });
    await c.stop();

    const producer = spans().find((s) => s.name === "publish commissions.booked");
    const consumer = spans().find((s) => s.name === "process commissions.booked");
    const work = spans().find((s) => s.name === "handler work");
    expect(producer?.kind).toBe(SpanKind.PRODUCER);
    expect(consumer?.kind).toBe(SpanKind.CONSUMER);
    expect(consumer?.spanContext().traceId).toBe(producer?.spanContext().traceId as string);
    expect(consumer?.parentSpanContext?.spanId).toBe(producer?.spanContext().spanId as string);
    expect(work?.parentSpanContext?.spanId).toBe(consumer?.spanContext().spanId as string);
    expect(producer?.attributes["messaging.destination.name"]).toBe(`${t.prefix}.commissions.booked`);
    expect(producer?.attributes["messaging.message.id"]).toBe("commission:1");
    expect(consumer?.attributes["messaging.consumer.group.name"]).toBe("delivery-commissions");
  });

  test("through the outbox, the trace of the request that enqueued the event continues", async () => {
    exporter.reset();
    let consumerTraceId = "";
    const c = consume(t.bus, {
      consumer: "delivery-commissions",
      handler: async (d) => {
        consumerTraceId = d.span.spanContext().traceId;
      },
    });
    const relay = startOutboxRelay(t.bus, db.sql, { intervalMs: 60_000 });
    try {
      const requestTraceId = await trace
        .getTracer("test")
        .startActiveSpan("POST /postback", async (request) => {
          await db.sql.begin((tx) =>
            enqueue(tx, { subject: subjects.commissionBooked(), payload: { entry_id: "2" } }),
          );
          request.end();
          return request.spanContext().traceId;
        });
      await relay.flush();
      await waitFor(() => consumerTraceId, Boolean, { what: "the consumer" });
      expect(consumerTraceId).toBe(requestTraceId);
      const producer = spans().find((s) => s.name === "publish commissions.booked");
      expect(producer?.spanContext().traceId).toBe(requestTraceId);
    } finally {
      await relay.stop();
      await c.stop();
    }
  });

  test("a batch handler's share of one message continues that message's trace, not the batch's", async () => {
    exporter.reset();
    const tracer = trace.getTracer("test");
    const message = { headers: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" } };
    await tracer.startActiveSpan("process batch", async (batch) => {
      const written = await inMessageTrace(message, "attribute postback", async () => captureTraceHeaders());
      expect(written.traceparent).toStartWith("00-4bf92f3577b34da6a3ce929d0e0e4736-");
      // A message without a trace, or already in it (a batch of one), stays in the batch's span.
      const batchTrace = batch.spanContext().traceId;
      const plain = await inMessageTrace({ headers: {} }, "attribute postback", async () =>
        captureTraceHeaders(),
      );
      expect(plain.traceparent).toContain(batchTrace);
      batch.end();
    });
    const share = spans().find((s) => s.name === "attribute postback");
    expect(share?.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(share?.parentSpanContext?.spanId).toBe("00f067aa0ba902b7");
    const batchSpan = spans().find((s) => s.name === "process batch");
    expect(share?.links.map((l) => l.context.spanId)).toEqual([batchSpan?.spanContext().spanId as string]);
    expect(spans().filter((s) => s.name === "attribute postback")).toHaveLength(1);
  });
});
