import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminHarness, type Harness } from "./test-support.ts";

let h: Harness;
beforeAll(async () => {
  h = await adminHarness("openapi");
});
afterAll(async () => {
  await h?.cleanup();
});

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        tags?: string[];
        requestBody?: {
          content: Record<string, { schema: { required?: string[]; properties?: Record<string, unknown> } }>;
        };
        parameters?: { name: string; in: string }[];
        responses: Record<string, unknown>;
      }
    >
  >;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
};

describe("the OpenAPI document", () => {
  test("is served without a key and lists every contract resource", async () => {
    const res = await h.call<Doc>("GET", "/openapi.json", null);
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toStartWith("3.1");
    const paths = Object.keys(doc.paths);
    for (const resource of [
      "brands",
      "advertisers",
      "offers",
      "affiliates",
      "links",
      "payout-rules",
      "affiliate-postbacks",
      "clicks",
      "conversions",
      "deliveries",
      "reports",
      "api-keys",
      "audit-log",
      "validation-runs",
    ]) {
      expect(paths, resource).toContain(`/v1/${resource}`);
    }
    expect(paths).toContain("/v1/offers/{id}/events/{code}");
    expect(paths).toContain("/v1/trace");
    expect(paths.some((p) => p.startsWith("/ui") || p.startsWith("/demo"))).toBe(false);
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.schemas.Error).toBeDefined();
  });

  test("documents every /v1 route of the app as served (the runner's routes around it too)", async () => {
    const doc = (await h.call<Doc>("GET", "/openapi.json", null)).body;
    const missing = h.app.routes
      .filter((r) => r.path.startsWith("/v1/"))
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/\/$/, "").replace(/:(\w+)/g, "{$1}")}`)
      .filter((op) => {
        const [method, path] = op.split(" ") as [string, string];
        return !doc.paths[path]?.[method];
      });
    expect(missing).toEqual([]);
    expect(Object.keys(doc.paths).filter((p) => !p.startsWith("/v1"))).toEqual([]);
  });

  test("comes from the routes' own schemas: bodies, required fields, query filters, PATCH", async () => {
    const doc = (await h.call<Doc>("GET", "/openapi.json", null)).body;
    const create = doc.paths["/v1/offers"]?.post?.requestBody?.content["application/json"]?.schema;
    expect(create?.required).toEqual(
      expect.arrayContaining(["brand_id", "advertiser_id", "name", "destination_url", "currency", "events"]),
    );
    const patch = doc.paths["/v1/links/{id}"]?.patch?.requestBody?.content["application/json"]?.schema;
    expect(Object.keys(patch?.properties ?? {})).toEqual(["status"]);
    const filters = doc.paths["/v1/conversions"]?.get?.parameters
      ?.filter((p) => p.in === "query")
      .map((p) => p.name);
    expect(filters).toEqual(
      expect.arrayContaining([
        "affiliate_id",
        "offer_id",
        "click_id",
        "txid",
        "status",
        "from",
        "to",
        "cursor",
        "limit",
      ]),
    );
    expect(doc.paths["/v1/brands"]?.get?.responses.default).toBeDefined();
  });
});

describe("the web console's files", () => {
  test("are served with a strict content security policy, and nothing else is", async () => {
    const index = await h.call("GET", "/ui/", null);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toContain("text/html");
    expect(index.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect((await h.call("GET", "/ui/app.js", null)).headers.get("content-type")).toContain("javascript");
    for (const path of ["/ui/..%2Fpackage.json", "/ui/.env", "/ui/missing.js", "/ui/index.ts"]) {
      expect((await h.call("GET", path, null)).status, path).toBe(404);
    }
    expect((await h.call("GET", "/", null)).status).toBe(302);
  });
});
