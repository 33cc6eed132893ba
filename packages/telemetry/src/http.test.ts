import { describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { observability } from "./http.ts";
import { createRegistry } from "./metrics.ts";

function app(checks: Record<string, () => Promise<unknown>>, draining = false) {
  const registry = createRegistry("test");
  const server = new Elysia()
    .use(observability({ registry, checks, draining: () => draining }))
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
      checks: { postgres: "ok", nats: "connection refused" },
    });
    const good = app({ postgres: async () => {} });
    expect((await get(good.server, "/readyz")).status).toBe(200);
    expect((await get(good.server, "/healthz")).status).toBe(200);
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
});
