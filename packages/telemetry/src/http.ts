import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { Elysia } from "elysia";
import type { Registry } from "prom-client";
import { counter, histogram } from "./metrics.ts";
import { tracer } from "./tracing.ts";

/** Named dependency checks for /readyz; each resolves when the dependency answers. */
export type ReadinessChecks = Record<string, () => Promise<unknown>>;

const INFRA_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);
const READY_TIMEOUT_MS = 2_000;

/**
 * What every service gets: RED metrics per route, a SERVER span per request (continuing an
 * incoming `traceparent`), `/healthz` (the process answers), `/readyz` (its dependencies answer)
 * and `/metrics`. `draining()` lets the shutdown sequence turn readiness off first, so the
 * load balancer stops sending traffic before intake stops.
 */
export function observability(options: {
  registry: Registry;
  checks: ReadinessChecks;
  draining?: () => boolean;
  /**
   * Why the service cannot do its work right now, beyond what `checks` ask (still starting, a
   * consumer that has not pulled for too long): any reason makes `/readyz` answer 503 with it.
   * Called on every probe, so it must be cheap (in-memory state, no round trip).
   */
  reasons?: () => string[];
  /**
   * What the service works around rather than stops for (a click or gateway with NATS down:
   * PostgreSQL is the record). Shown in `reasons` with `degraded: true`, but `/readyz` stays 200,
   * so a load balancer keeps the pod. Cheap like `reasons`.
   */
  degraded?: () => string[];
  /**
   * Whether spans are exported (startTracing's `enabled`). When they are not, a request without
   * a `traceparent` skips the span and async-context work entirely (a third of a click's CPU);
   * one with a `traceparent` still carries it on to what the request publishes.
   */
  tracing?: boolean;
}) {
  const { registry, checks } = options;
  const requests = counter(registry, "roundtrip_http_requests_total", "HTTP requests by route and status", [
    "method",
    "route",
    "status",
  ]);
  const duration = histogram(registry, "roundtrip_http_request_duration_seconds", "HTTP request duration", [
    "method",
    "route",
    "status",
  ]);
  const started = new WeakMap<Request, number>();

  // /readyz: `{ ready, reasons }` says why in words an operator can act on; `checks` keeps each answer.
  return new Elysia({ name: "roundtrip-observability" })
    .wrap((fn, request) => {
      if (options.tracing === false && !request.headers.has("traceparent")) return fn;
      const path = new URL(request.url).pathname;
      if (INFRA_PATHS.has(path)) return fn;
      const parent = propagation.extract(context.active(), Object.fromEntries(request.headers.entries()));
      const span = tracer().startSpan(`${request.method}`, { kind: SpanKind.SERVER }, parent);
      const ctx = trace.setSpan(parent, span);
      return (...args: unknown[]) =>
        context.with(ctx, async () => {
          try {
            const response = await (fn as (...a: unknown[]) => unknown)(...args);
            const status = response instanceof Response ? response.status : 200;
            span.setAttribute("http.response.status_code", status);
            if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
            return response;
          } finally {
            span.end();
          }
        });
    })
    .onRequest(({ request }) => {
      started.set(request, performance.now());
    })
    .onAfterResponse({ as: "global" }, ({ request, route, set }) => {
      const t0 = started.get(request);
      if (t0 === undefined) return;
      const labels = {
        method: request.method,
        route: route || "unmatched",
        status: String(typeof set.status === "number" ? set.status : 200),
      };
      requests.inc(labels);
      duration.observe(labels, (performance.now() - t0) / 1000);
      trace.getActiveSpan()?.updateName(`${request.method} ${labels.route}`);
    })
    .get("/healthz", () => ({ status: "ok" }))
    .get("/readyz", async ({ set }) => {
      if (options.draining?.()) {
        set.status = 503;
        return { status: "draining", ready: false, reasons: ["draining: shutting down"] };
      }
      const results = await Promise.all(
        Object.entries(checks).map(async ([name, check]) => {
          try {
            await Promise.race([
              check(),
              Bun.sleep(READY_TIMEOUT_MS).then(() => Promise.reject(new Error("timed out"))),
            ]);
            return [name, "ok"] as const;
          } catch (err) {
            return [name, (err as Error).message] as const;
          }
        }),
      );
      const reasons = [
        ...results.filter(([, r]) => r !== "ok").map(([name, r]) => `${name}: ${r}`),
        ...(options.reasons?.() ?? []),
      ];
      const ready = reasons.length === 0;
      const degraded = options.degraded?.() ?? [];
      set.status = ready ? 200 : 503;
      return {
        status: ready ? "ready" : "not_ready",
        ready,
        ...(degraded.length > 0 && { degraded: true }),
        reasons: [...reasons, ...degraded],
        checks: Object.fromEntries(results),
      };
    })
    .get("/metrics", async ({ set }) => {
      set.headers["content-type"] = registry.contentType;
      return registry.metrics();
    });
}
