import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { startOtlpReceiver } from "./support/otlp-receiver.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

let env: TestStack;
let otlp: ReturnType<typeof startOtlpReceiver>;
let affiliate: ReturnType<typeof startAffiliateEndpoint>;
let program: Program;

const SPAN_KIND = { SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

beforeAll(async () => {
  otlp = startOtlpReceiver();
  affiliate = startAffiliateEndpoint();
  env = await startTestStack("trace", {
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "100",
  });
  program = await createProgram(env.admin, { postbackUrl: affiliate.url });
}, 120_000);

afterAll(async () => {
  await env?.stop();
  otlp?.stop();
  affiliate?.stop();
}, 60_000);

describe("one trace per postback", () => {
  test("the gateway's trace continues through attribution, commission and delivery over NATS", async () => {
    const click = await eventually(async () => {
      const r = await fetch(`${env.urls.click}/c/${program.link.code}`, { redirect: "manual" });
      return r.status === 302 ? r : undefined;
    }, "the link to redirect");
    const clickId = new URL(click.headers.get("location") as string).searchParams.get("cid") as string;

    // The advertiser's own trace context is continued, so its trace ID is ours too.
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await fetch(
      `${env.urls.gateway}/postback?${new URLSearchParams({ click_id: clickId, txid: "tr-1", event: "ftd", amount: "10", token: program.advertiser.token })}`,
      { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } },
    );
    expect(res.status).toBe(200);
    await eventually(
      async () => affiliate.received.some((r) => r.url.searchParams.get("cid") === clickId),
      "the affiliate postback",
    );

    const consumers = ["attribution", "commission", "delivery"].map((s) => `roundtrip-${s}`);
    const spans = await eventually(
      async () => {
        const inTrace = otlp.spans.filter((s) => s.traceId === traceId);
        const consumed = consumers.every((svc) =>
          inTrace.some((s) => s.service === svc && s.kind === SPAN_KIND.CONSUMER),
        );
        return consumed ? inTrace : undefined;
      },
      "consumer spans of every service in the trace",
      20_000,
    );

    const server = spans.find((s) => s.service === "roundtrip-gateway" && s.kind === SPAN_KIND.SERVER);
    expect(server?.parentSpanId).toBe("00f067aa0ba902b7");
    // Every publish is a PRODUCER span and every consume a CONSUMER span whose parent is in the trace.
    // Any service's outbox relay may publish a row; what matters is that each hop is in the trace.
    const published = spans
      .filter((s) => s.kind === SPAN_KIND.PRODUCER)
      .map((s) => String(s.attributes["messaging.nats.stream"]));
    expect(published).toEqual(
      expect.arrayContaining([
        `${env.busPrefix}_POSTBACKS`,
        `${env.busPrefix}_CONVERSIONS`,
        `${env.busPrefix}_COMMISSIONS`,
      ]),
    );
    const ids = new Set(spans.map((s) => s.spanId));
    for (const consumer of spans.filter((s) => s.kind === SPAN_KIND.CONSUMER)) {
      expect(ids.has(consumer.parentSpanId)).toBe(true);
      expect(consumer.attributes["messaging.system"]).toBe("nats");
    }
  });

  test("click spans are exported", async () => {
    await fetch(`${env.urls.click}/c/${program.link.code}`, { redirect: "manual" });
    await eventually(
      async () => otlp.spans.some((s) => s.service === "roundtrip-click" && s.kind === SPAN_KIND.SERVER),
      "a click span",
    );
  });
});
