/**
 * A minimal OTLP/HTTP trace receiver (JSON encoding), standing in for a collector: the services
 * export to it through the standard OTEL_EXPORTER_OTLP_ENDPOINT, and tests read the spans back.
 */
export type ReceivedSpan = {
  service: string;
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, unknown>;
};

type OtlpValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
};
type OtlpAttribute = { key: string; value: OtlpValue };
type OtlpExport = {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: {
      spans?: (Omit<ReceivedSpan, "service" | "attributes"> & { attributes?: OtlpAttribute[] })[];
    }[];
  }[];
};

const flatten = (attrs: OtlpAttribute[] = []) =>
  Object.fromEntries(
    attrs.map((a) => [
      a.key,
      a.value.stringValue ?? a.value.intValue ?? a.value.boolValue ?? a.value.doubleValue,
    ]),
  );

export function startOtlpReceiver() {
  const spans: ReceivedSpan[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method !== "POST" || url.pathname !== "/v1/traces")
        return new Response("not found", { status: 404 });
      if (!(req.headers.get("content-type") ?? "").includes("json")) {
        return new Response("this receiver speaks OTLP/HTTP JSON only", { status: 415 });
      }
      const body = (await req.json()) as OtlpExport;
      for (const rs of body.resourceSpans ?? []) {
        const service = String(flatten(rs.resource?.attributes)["service.name"] ?? "");
        for (const ss of rs.scopeSpans ?? []) {
          for (const span of ss.spans ?? [])
            spans.push({ ...span, service, attributes: flatten(span.attributes) });
        }
      }
      return Response.json({});
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, spans, stop: () => server.stop(true) };
}
