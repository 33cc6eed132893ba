import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CANONICAL_PARAMS, DEFAULT_ALIASES } from "@roundtrip/intake";
import { Validator } from "@seriousme/openapi-schema-validator";
import { gatewayDocument, REFUSALS } from "./openapi.ts";

const doc = gatewayDocument();

test("the gateway's document is valid OpenAPI 3.1", async () => {
  const result = await new Validator().validate(doc as never);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
});

test("every parameter and default alias of the intake is documented on GET and POST /postback", () => {
  const get = doc.paths["/postback"].get;
  expect(get.parameters.map((p) => p.name)).toEqual([...CANONICAL_PARAMS]);
  const text = JSON.stringify(get.parameters);
  for (const alias of Object.keys(DEFAULT_ALIASES)) expect(text).toContain(alias);
  expect(Object.keys(doc.paths["/postback"].post.requestBody.content).sort()).toEqual([
    "application/json",
    "application/x-www-form-urlencoded",
  ]);
});

test("every refusal code the gateway's sources can answer is documented with its status", () => {
  const documented = new Set(REFUSALS.map(([, code]) => code));
  const sources = [
    "../../../packages/intake/src/intake.ts",
    "./body.ts",
    "../../../packages/intake/src/auth.ts",
  ]
    .map((f) => readFileSync(join(import.meta.dir, f), "utf8"))
    .join("\n");
  // Literal codes in reject(...)/invalid(...)/BodyError(...) and the signature check's reasons.
  const codes = new Set(
    [
      ...sources.matchAll(
        /(?:reject\(\s*\d+,\s*"[a-z_]+",\s*|invalid\(\s*|BodyError\(\d+, |reason: )"([a-z_]+)"/g,
      ),
    ].map((m) => m[1] as string),
  );
  expect([...codes].filter((c) => !documented.has(c))).toEqual([]);
  const responses = doc.paths["/postback"].get.responses as Record<string, { description: string }>;
  for (const [status, code] of REFUSALS) expect(responses[String(status)]?.description).toContain(code);
});
