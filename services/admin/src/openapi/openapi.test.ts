import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Kind } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { TSchema } from "elysia";
import { adminHarness, type Harness } from "../test-support.ts";
import { UPLOAD_ROUTES } from "../json-bodies.ts";
import { operationIdOf } from "./document.ts";

/**
 * The document a running admin process serves (separate process, the deployed entry): valid
 * OpenAPI 3.1, every operation documented (a route without documented() fails here, with the
 * fix in the message), JSON bodies only, stable camelCase ids, an example for every success body.
 */
let h: Harness;
beforeAll(async () => {
  h = await adminHarness("openapi", { process: true });
}, 120_000);
afterAll(async () => {
  await h?.cleanup();
});

type Operation = {
  operationId: string;
  summary?: string;
  description?: string;
  tags?: string[];
  requestBody?: {
    content: Record<string, { schema: { required?: string[]; properties?: Record<string, unknown> } }>;
  };
  parameters?: { name: string; in: string; schema: Record<string, unknown> }[];
  responses: Record<string, { content?: Record<string, { schema?: unknown; example?: unknown }> }>;
};
type Doc = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
};

const fetchDoc = async () => {
  const res = await h.call<Doc>("GET", "/openapi.json", null);
  expect(res.status).toBe(200);
  return res.body;
};
const operations = (doc: Doc) =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({
      key: `${method.toUpperCase()} ${path}`,
      method,
      path,
      op,
    })),
  );
const HOW_TO_FIX =
  "document the route: spread documented({ summary, description, response }) from services/admin/src/openapi/documented.ts into its options (see docs/console.md, 'Documenting a route')";

describe("the OpenAPI document of a running admin", () => {
  test("is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator)", async () => {
    const doc = await fetchDoc();
    const validator = new Validator();
    const result = await validator.validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  test("every /v1 route of the app has a description and a success response schema", () => {
    const undocumented = h.app.routes
      .filter((r) => r.path.startsWith("/v1"))
      .filter((r) => {
        const detail = r.hooks?.detail as
          | {
              summary?: string;
              description?: string;
              responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
            }
          | undefined;
        const success = Object.entries(detail?.responses ?? {}).find(([status]) => /^2\d\d$/.test(status));
        // documented()'s schema, or Elysia's own `response` (validated at run time as well).
        const validated = r.hooks?.response as Record<string, unknown> | undefined;
        const hasSchema =
          Object.values(success?.[1].content ?? {}).some((m) => m.schema !== undefined) ||
          Object.keys(validated ?? {}).some((status) => /^2\d\d$/.test(status)) ||
          (validated !== undefined && "type" in validated);
        return !detail?.summary || !detail.description || detail.description === detail.summary || !hasSchema;
      })
      .map((r) => `${r.method} ${r.path}`);
    expect(undocumented, HOW_TO_FIX).toEqual([]);
  });

  test("every given example satisfies its schema", () => {
    const wrong: string[] = [];
    for (const r of h.app.routes) {
      const responses = (
        r.hooks?.detail as {
          responses?: Record<string, { content?: Record<string, { schema?: TSchema; example?: unknown }> }>;
        }
      )?.responses;
      for (const response of Object.values(responses ?? {}))
        for (const media of Object.values(response.content ?? {}))
          if (
            media.schema &&
            Kind in media.schema &&
            media.example !== undefined &&
            !Value.Check(media.schema, media.example)
          )
            wrong.push(
              `${r.method} ${r.path}: ${[...Value.Errors(media.schema, media.example)].map((e) => `${e.path} ${e.message}`).join("; ")}`,
            );
    }
    expect(wrong).toEqual([]);
  });

  test("every operation: summary, description, camelCase unique id, an example of its success body", async () => {
    const doc = await fetchDoc();
    const ids = new Set<string>();
    const problems: string[] = [];
    for (const { key, op } of operations(doc)) {
      if (!op.summary || !op.description) problems.push(`${key}: no summary or description`);
      if (!/^[a-z][A-Za-z0-9]*$/.test(op.operationId)) problems.push(`${key}: operationId ${op.operationId}`);
      if (ids.has(op.operationId)) problems.push(`${key}: duplicate operationId ${op.operationId}`);
      ids.add(op.operationId);
      const success = Object.entries(op.responses).filter(([s]) => /^2\d\d$/.test(s));
      if (success.length === 0) problems.push(`${key}: no success response`);
      for (const [status, response] of success)
        for (const [type, media] of Object.entries(response.content ?? {})) {
          if (!media.schema) problems.push(`${key} ${status} ${type}: no schema`);
          if (media.example === undefined) problems.push(`${key} ${status} ${type}: no example`);
        }
      if (!op.responses.default) problems.push(`${key}: no error response`);
    }
    expect(problems, HOW_TO_FIX).toEqual([]);
    expect(doc.paths["/v1/advertisers/{id}/rotate-token"]?.post?.operationId).toBe(
      "postAdvertisersByIdRotateToken",
    );
    expect(operationIdOf("get", "/v1/brands/{id}")).toBe("getBrandsById");
  });

  test("request bodies are the types accepted: JSON, never a form; multipart only where a file is uploaded; limit is an integer", async () => {
    const doc = await fetchDoc();
    for (const { key, path, op } of operations(doc)) {
      const types = Object.keys(op.requestBody?.content ?? {});
      expect(types, key).not.toContain("application/x-www-form-urlencoded");
      if (types.includes("multipart/form-data")) expect(UPLOAD_ROUTES.has(path), key).toBe(true);
      if (types.includes("application/json") && !types.includes("text/csv"))
        expect(types, key).toEqual(["application/json"]);
      const limit = op.parameters?.find((p) => p.name === "limit");
      if (limit) expect(limit.schema, key).toMatchObject({ type: "integer", minimum: 1 });
    }
    const body = (key: string) => {
      const [method, path] = key.split(" ") as [string, string];
      return Object.keys(doc.paths[path]?.[method]?.requestBody?.content ?? {}).sort();
    };
    expect(body("post /v1/brands")).toEqual(["application/json"]);
    expect(body("post /v1/imports")).toEqual(["multipart/form-data", "text/csv"]);
    expect(body("post /v1/reports/reconciliation")).toEqual(["multipart/form-data"]);
  });

  test("a form body is refused with 415 in the one error shape", async () => {
    const res = await fetch(`${h.url}/v1/brands`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${h.keys.admin}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "slug=formed&name=Formed&currency=EUR",
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({
      error: {
        code: "unsupported_media_type",
        message: "send the body as application/json",
        field: "(body)",
      },
    });
  });

  test("lists every contract resource and nothing outside /v1", async () => {
    const doc = await fetchDoc();
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
      "imports",
      "reports",
      "api-keys",
      "audit-log",
      "validation-runs",
    ]) {
      expect(paths, resource).toContain(`/v1/${resource}`);
    }
    expect(paths).toContain("/v1/offers/{id}/events/{code}");
    expect(paths.filter((p) => !p.startsWith("/v1"))).toEqual([]);
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.schemas.Error).toBeDefined();
  });

  test("documents every /v1 route of the app as served", async () => {
    const doc = await fetchDoc();
    const missing = h.app.routes
      .filter((r) => r.path.startsWith("/v1/"))
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/\/$/, "").replace(/:(\w+)/g, "{$1}")}`)
      .filter((op) => {
        const [method, path] = op.split(" ") as [string, string];
        return !doc.paths[path]?.[method];
      });
    expect(missing).toEqual([]);
  });

  test("comes from the routes' own schemas: bodies, required fields, query filters, responses", async () => {
    const doc = await fetchDoc();
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
    const brand = doc.paths["/v1/brands"]?.post?.responses["201"]?.content?.["application/json"]?.schema as {
      properties: Record<string, unknown>;
      required: string[];
    };
    expect(brand.required).toEqual(
      expect.arrayContaining(["id", "slug", "name", "currency", "timezone", "created_at"]),
    );
    const list = doc.paths["/v1/brands"]?.get?.responses["200"]?.content?.["application/json"];
    expect(list?.schema).toMatchObject({ properties: { data: { type: "array" } } });
    expect((list?.example as { data: unknown[] } | undefined)?.data.length).toBeGreaterThan(0);
  });
});

describe("the API reference at /docs", () => {
  test("is served with its script from this origin, not a CDN", async () => {
    const page = await h.call("GET", "/docs", null);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.text).toContain('data-url="/openapi.json"');
    expect(page.text).not.toMatch(/https?:\/\//);
    const script = await fetch(`${h.url}/docs/scalar.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });
});

describe("the demo pages", () => {
  test("are not mounted unless DEMO_ENABLED (they are unauthenticated)", async () => {
    for (const path of ["/demo/affiliate-postbacks", "/demo/landing?click_id=x", "/demo/status?click_id=x"])
      expect((await h.call("GET", path, null)).status, path).toBe(404);
  });
});

describe("the web console's files", () => {
  test("are served with a strict content security policy, and nothing else is", async () => {
    const index = await h.call("GET", "/ui/", null);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toContain("text/html");
    expect(index.headers.get("content-security-policy")).toContain("default-src 'self'");
    // The bundle admin builds from ui/src when it starts: script and styles, from memory.
    const script = await h.call("GET", "/ui/main.js", null);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect(script.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(script.text).toContain("/v1/auth/sign-in");
    expect((await h.call("GET", "/ui/main.css", null)).headers.get("content-type")).toContain("css");
    // The demo landing page's own script and styles stay plain files.
    expect((await h.call("GET", "/ui/demo.js", null)).status).toBe(200);
    expect((await h.call("GET", "/ui/app.css", null)).status).toBe(200);
    for (const path of [
      "/ui/..%2Fpackage.json",
      "/ui/.env",
      "/ui/missing.js",
      "/ui/index.ts",
      "/ui/main.tsx",
      "/ui/tsconfig.json",
    ]) {
      expect((await h.call("GET", path, null)).status, path).toBe(404);
    }
    expect((await h.call("GET", "/", null)).status).toBe(302);
  });
});
