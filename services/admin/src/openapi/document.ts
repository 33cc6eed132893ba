import { toOpenAPISchema } from "@elysiajs/openapi";
import type { AnyElysia } from "elysia";
import { t } from "elysia";
import { sample } from "openapi-sampler";
import { IDEMPOTENCY_TTL_HOURS, idempotentRequest } from "../idempotency.ts";
import { REQUEST_HEADERS } from "./documented.ts";

export const API_VERSION = "1.0.0";

/** The one error shape of every service (admin and gateway), as a schema for the documents. */
export const ErrorBody = t.Object(
  {
    error: t.Object({
      code: t.String({
        description: "stable machine-readable code, e.g. invalid_request, forbidden, not_found",
      }),
      message: t.String(),
      field: t.Optional(t.String({ description: "the field at fault, e.g. offer_id or events.0.code" })),
      errors: t.Optional(t.Array(t.Object({ field: t.String(), message: t.String() }))),
    }),
  },
  {
    title: "Error",
    examples: [{ error: { code: "invalid_request", message: "name: is required", field: "name" } }],
  },
);

/**
 * Only the `/v1` API is documented: not the console's files, the demo pages, this document, nor
 * the `/healthz` `/readyz` `/metrics` routes the shared runner adds around the app. (No
 * `excludeTags` either: @elysiajs/openapi 1.4 then reads `detail.tags` of every route and throws
 * on a route without `detail`, such as the runner's — the 500 a running admin answered.)
 */
export const documentedPath = (path: string) => path === "/v1" || path.startsWith("/v1/");

/** `post /v1/advertisers/{id}/rotate-token` → `postAdvertisersByIdRotateToken`: stable, camelCase, unique per operation. */
export function operationIdOf(method: string, path: string): string {
  const words = path
    .replace(/^\/v1(\/|$)/, "/")
    .split("/")
    .filter(Boolean)
    .map((segment) => {
      const param = /^\{(.+)\}$/.exec(segment) ?? /^:(.+)$/.exec(segment);
      return param ? `By-${param[1]}` : segment;
    })
    .flatMap((segment) => segment.split(/[^A-Za-z0-9]+/))
    .filter(Boolean)
    .map((w) => w[0]?.toUpperCase() + w.slice(1));
  return method.toLowerCase() + (words.join("") || "Root");
}

type Operation = {
  operationId?: string;
  parameters?: unknown[];
  requestBody?: { content?: Record<string, unknown> };
  responses?: Record<string, { content?: Record<string, { schema?: unknown; example?: unknown }> }>;
  [REQUEST_HEADERS]?: { name: string; description: string; required?: boolean }[];
};

const IDEMPOTENCY_KEY_PARAMETER = {
  name: "Idempotency-Key",
  description: `Makes the request safe to retry (kept ${IDEMPOTENCY_TTL_HOURS} hours): the same key with the same body answers the first answer again (header Idempotent-Replayed: true); with another body, 409 idempotency_key_reused; while the first still runs, 409 idempotency_key_in_use.`,
};

const ERROR_RESPONSE = {
  description:
    "an error: 400 invalid input (names the field), 401 no or unknown key, 403 role not allowed, 404 not found, 409 conflict (or an Idempotency-Key reused or still in use), 415 a body that is not JSON",
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
};

/**
 * Request bodies are what json-bodies.ts lets through: JSON, or multipart for a body with a file
 * (t.File), or what a route that reads its own body says in its `requestBody`.
 */
function acceptedBodies(operation: Operation): void {
  const content = operation.requestBody?.content;
  // Only the generator's guess (every type for every body) is narrowed; a route's own list stands.
  if (!content?.["application/x-www-form-urlencoded"]) return;
  const upload = JSON.stringify(content["multipart/form-data"] ?? {}).includes('"format":"binary"');
  const kept = upload ? "multipart/form-data" : "application/json";
  if (!content[kept]) return;
  operation.requestBody = { ...operation.requestBody, content: { [kept]: content[kept] } };
}

type BodySchema = { type?: string; additionalProperties?: unknown; [key: string]: unknown };

/** TypeBox's `t.Never()` as JSON Schema: matches nothing, like `false`. */
const isNever = (schema: unknown) =>
  !!schema && typeof schema === "object" && JSON.stringify(schema) === JSON.stringify({ not: {} });

function neverAsFalse(node: unknown): void {
  if (!node || typeof node !== "object") return;
  const schema = node as BodySchema;
  if (isNever(schema.additionalProperties)) schema.additionalProperties = false;
  for (const child of Object.values(schema)) neverAsFalse(child);
}

/**
 * Request bodies say which fields they take, the same before and after a route first ran: Elysia
 * closes a top-level object body (`additionalProperties: false`) when it builds the route's
 * validator — lazily, on the first request, in place — so without this the served document would
 * change once a route has been called. `Strict` bodies refuse other fields with `t.Never()`,
 * stated as `false`, which client generators read as "no other fields" (not as an open record).
 * Copies: the routes' own schemas stay as they validate.
 */
function closedBodies(operation: Operation): void {
  for (const media of Object.values(operation.requestBody?.content ?? {}) as { schema?: BodySchema }[]) {
    if (!media.schema || "$ref" in media.schema) continue;
    const schema = plain(media.schema);
    neverAsFalse(schema);
    if (schema.type === "object" && !("additionalProperties" in schema)) schema.additionalProperties = false;
    media.schema = schema;
  }
}

/** Every object schema below `node` without a word on other fields is stated closed. */
function closeObjects(node: unknown): void {
  if (!node || typeof node !== "object") return;
  if (Array.isArray(node)) {
    for (const child of node) closeObjects(child);
    return;
  }
  const schema = node as BodySchema;
  const isObject = schema.type === "object" || (schema.properties && typeof schema.properties === "object");
  if (isObject && !("additionalProperties" in schema) && !("patternProperties" in schema))
    schema.additionalProperties = false;
  for (const child of Object.values(schema)) closeObjects(child);
}

/**
 * Response bodies too are the same before and after a route first ran: when Elysia compiles a
 * route (on its first request, in place) it closes the response's object schemas
 * (`additionalProperties: false`, so extra fields are cleaned from answers), and the document
 * read them as they were at that moment — a running admin served one document before traffic
 * and another after. Stated closed from the start, both are the same. Copies, as for bodies.
 */
function closedResponses(operation: Operation): void {
  for (const response of Object.values(operation.responses ?? {})) {
    for (const media of Object.values(response.content ?? {})) {
      if (!media.schema || "$ref" in (media.schema as object)) continue;
      const schema = plain(media.schema);
      neverAsFalse(schema);
      closeObjects(schema);
      media.schema = schema;
    }
  }
}

type ParameterSchema = { type?: string; format?: string; anyOf?: ParameterSchema[] };
type Parameter = { in: string; schema?: ParameterSchema };

/**
 * Elysia coerces a numeric query parameter by accepting its string form too (an `anyOf` of a
 * "numeric" string and the number); on the wire a query parameter is text anyway, so the document
 * states the number alone — what the server checks and what a client should send.
 */
function numericParameters(operation: Operation): void {
  for (const parameter of (operation.parameters ?? []) as Parameter[]) {
    const branches = parameter.schema?.anyOf;
    if (branches?.length !== 2) continue;
    const text = branches.find(
      (b) => b.type === "string" && (b.format === "numeric" || b.format === "integer"),
    );
    const number = branches.find((b) => b.type === "number" || b.type === "integer");
    if (text && number) parameter.schema = number;
  }
}

/** JSON Schema as JSON (TypeBox's symbols and transforms dropped), for the sampler and the document. */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value));

function withExamples(operation: Operation, components: Record<string, unknown>): void {
  for (const response of Object.values(operation.responses ?? {})) {
    for (const media of Object.values(response.content ?? {})) {
      if (!media.schema || media.example !== undefined || "$ref" in (media.schema as object)) continue;
      media.schema = plain(media.schema);
      media.example = sample(media.schema as never, { skipReadOnly: false }, { components } as never);
    }
  }
}

/**
 * The OpenAPI document, generated by @elysiajs/openapi from the routes' own TypeBox schemas and
 * their `documented()` responses (never written by hand), with the bearer scheme, the shared
 * error shape, JSON-only request bodies, stable camelCase operation ids, an example for every
 * success body, and paths without the trailing slash a prefixed "/" route gets.
 */
export function openApiDocument(app: AnyElysia) {
  const { paths, components } = toOpenAPISchema(app, undefined, undefined, undefined, "3.1.0");
  const explicitIds = new Map<string, string>();
  for (const route of app.routes) {
    const id = (route.hooks?.detail as { operationId?: string } | undefined)?.operationId;
    if (id) explicitIds.set(`${route.method.toLowerCase()} ${route.path.replace(/\/$/, "")}`, id);
  }
  const normalised: Record<string, Record<string, Operation>> = {};
  for (const [path, item] of Object.entries(paths)) {
    if (!documentedPath(path)) continue;
    const key = path.length > 1 ? path.replace(/\/$/, "") : path;
    normalised[key] = { ...normalised[key], ...(item as Record<string, Operation>) };
  }
  for (const [path, item] of Object.entries(normalised)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!operation || typeof operation !== "object") continue;
      const elysiaPath = path.replace(/\{([^}]+)\}/g, ":$1");
      operation.operationId = explicitIds.get(`${method} ${elysiaPath}`) ?? operationIdOf(method, path);
      const headers = [...(operation[REQUEST_HEADERS] ?? [])];
      if (idempotentRequest(method.toUpperCase(), path)) headers.push(IDEMPOTENCY_KEY_PARAMETER);
      delete operation[REQUEST_HEADERS];
      if (headers.length > 0) {
        operation.parameters = [
          ...(operation.parameters ?? []),
          ...headers.map((h) => ({
            name: h.name,
            in: "header",
            required: h.required ?? false,
            description: h.description,
            schema: { type: "string", minLength: 1, maxLength: 255 },
          })),
        ];
      }
      acceptedBodies(operation);
      closedBodies(operation);
      closedResponses(operation);
      numericParameters(operation);
      withExamples(operation, components.schemas ?? {});
      operation.responses = { ...operation.responses, default: ERROR_RESPONSE };
    }
  }
  return plain({
    openapi: "3.1.0",
    info: {
      title: "Roundtrip admin API",
      version: API_VERSION,
      description:
        'Configuration, reports, traces and launch validation for Roundtrip. Authenticate with `Authorization: Bearer <api key>`; roles: admin, manager, analyst (read-only), affiliate (its own data only). Lists page with `cursor` (the previous page\'s `next_cursor`) and `limit`. Secrets (tokens, keys) are write-only: shown once when created, never again. Every POST accepts an `Idempotency-Key` header: the same key with the same body answers the first answer again, with another body 409. Every error has one shape: `{"error": {"code", "message", "field"?, "errors"?}}`.',
    },
    servers: [{ url: "/" }],
    security: [{ apiKey: [] }],
    paths: normalised,
    components: {
      ...components,
      schemas: { ...components.schemas, Error: ErrorBody },
      securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "an API key (rt_…)" } },
    },
  });
}
