import { describe, expect, test } from "bun:test";
import { context, propagation } from "@opentelemetry/api";
import { Elysia } from "elysia";
import { observability } from "./http.ts";
import { createRegistry } from "./metrics.ts";
import { startTracing } from "./tracing.ts";

function app(checks: Record<string, () => Promise<unknown>>, draining = false, reasons?: () => string[]) {
  const registry = createRegistry("test");
  const server = new Elysia()
    .use(observability({ registry, checks, draining: () => draining, reasons }))
    .get("/items/:id", ({ params }) => ({ id: params.id }))
    .get("/boom", ({ set }) => {
      set.status = 418;
      return "teapot";
    });
  return { server, registry };
}

const get = (a: { handle(r: Request): Promise<Response> }, path: string) =>
  a.handle(new Request(`http://local${path}`));

describe("observability plugin", () => {
  test("RED metrics use the route template, not the raw path", async () => {
    const { server, registry } = app({});
    await get(server, "/items/1");
    await get(server, "/items/2");
    await get(server, "/boom");
    // onAfterResponse runs after the response is handed back
    await Bun.sleep(10);
    const text = await registry.metrics();
    expect(text).toContain(
      'roundtrip_http_requests_total{method="GET",route="/items/:id",status="200",service="test"} 2',
    );
    expect(text).toContain(
      'roundtrip_http_requests_total{method="GET",route="/boom",status="418",service="test"} 1',
    );
    expect(text).not.toContain("/items/1");
  });

  test("readyz answers 503 naming the dependency that fails, 200 when all answer", async () => {
    const bad = app({
      postgres: async () => {},
      nats: async () => Promise.reject(new Error("connection refused")),
    });
    const res = await get(bad.server, "/readyz");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      status: "not_ready",
      ready: false,
      reasons: ["nats: connection refused"],
      checks: { postgres: "ok", nats: "connection refused" },
    });
    const good = app({ postgres: async () => {} });
    expect((await get(good.server, "/readyz")).status).toBe(200);
    expect((await get(good.server, "/healthz")).status).toBe(200);
  });

  test("readyz answers 503 with the service's own reasons while it has any", async () => {
    let reasons = ["nats: consumer attribution-clicks cannot pull for 12 s: stream not found"];
    const { server } = app({ postgres: async () => {} }, false, () => reasons);
    const res = await get(server, "/readyz");
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ ready: false, reasons });
    reasons = [];
    const ok = await get(server, "/readyz");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ status: "ready", ready: true, reasons: [] });
  });

  test("what the service works around is reported as degraded while /readyz stays 200; a failing check still wins", async () => {
    const outage = "nats: connection is down for 12 s: disconnected from 127.0.0.1:4222";
    let postgres = async () => {};
    const registry = createRegistry("test");
    const server = new Elysia().use(
      observability({ registry, checks: { postgres: () => postgres() }, degraded: () => [outage] }),
    );
    const res = await get(server, "/readyz");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: "ready",
      ready: true,
      degraded: true,
      reasons: [outage],
    });
    postgres = async () => Promise.reject(new Error("connection refused"));
    const down = await get(server, "/readyz");
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({
      ready: false,
      degraded: true,
      reasons: ["postgres: connection refused", outage],
    });
  });

  test("a draining process is not ready but still alive", async () => {
    const { server } = app({ postgres: async () => {} }, true);
    expect((await get(server, "/readyz")).status).toBe(503);
    expect((await get(server, "/healthz")).status).toBe(200);
  });

  test("/metrics exposes default process metrics with the service label", async () => {
    const { server } = app({});
    const text = await (await get(server, "/metrics")).text();
    expect(text).toContain('process_cpu_seconds_total{service="test"}');
  });

  test("with tracing off, an incoming traceparent still reaches the handler's context; none costs nothing", async () => {
    startTracing("test", {});
    const registry = createRegistry("test");
    const seen: Record<string, string>[] = [];
    const server = new Elysia().use(observability({ registry, checks: {}, tracing: false })).get("/x", () => {
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      seen.push(carrier);
      return "ok";
    });
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    await server.handle(new Request("http://local/x", { headers: { traceparent } }));
    await server.handle(new Request("http://local/x"));
    expect(seen[0]?.traceparent?.split("-")[1]).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(seen[1]).toEqual({});
    await Bun.sleep(10);
    expect(await registry.metrics()).toContain(
      'roundtrip_http_requests_total{method="GET",route="/x",status="200",service="test"} 2',
    );
  });
});
