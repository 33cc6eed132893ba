/**
 * How an admin route documents itself — every `/v1` route must (openapi.test.ts fails otherwise):
 *
 * ```ts
 * .get("/:id", handler, {
 *   params: IdParams,
 *   ...documented({
 *     summary: "Get a brand",                        // one line, shown in lists
 *     description: "What it returns, who may call it, what can go wrong.",
 *     response: Row("brands"),                       // the success body's schema (rows.ts, or t.Object)
 *     status: 200,                                   // 201 for a create, 202 for accepted work
 *   }),
 * })
 * ```
 *
 * The schema goes to the document only (`detail.responses`), not to Elysia's response
 * validation: a handler's answer is never turned into a 500 by its own documentation. An example
 * is generated from the schema (openapi-sampler) unless `example` is given; a given one must
 * satisfy the schema (checked by openapi.test.ts). Errors are documented once for every
 * operation (the shared Error shape), so routes only describe success.
 */
import type { DocumentDecoration, Static, TSchema } from "elysia";

/** Where documented() leaves the request headers for openApiDocument. */
export const REQUEST_HEADERS = "x-request-headers";

export type Documented<S extends TSchema> = {
  summary: string;
  description: string;
  response: S;
  /** The success status (default 200). */
  status?: 200 | 201 | 202 | 204;
  /** A literal example of the success body; generated from `response` when absent. */
  example?: Static<S>;
  /** The media type of the success body (default application/json; text/csv for exports). */
  mediaType?: string;
  /** A stable camelCase operation id; derived from method and path when absent. */
  operationId?: string;
  /** The request body by media type, for a route that reads its own body (`parse: "none"`). */
  requestBody?: Record<string, TSchema>;
  /** Request headers the operation reads, e.g. Idempotency-Key (documented as parameters). */
  headers?: { name: string; description: string; required?: boolean }[];
};

/** The route option that documents an admin operation (spread it into the route's options). */
export function documented<S extends TSchema>(spec: Documented<S>) {
  const status = String(spec.status ?? 200);
  const mediaType = spec.mediaType ?? "application/json";
  const detail = {
    summary: spec.summary,
    description: spec.description,
    ...(spec.operationId ? { operationId: spec.operationId } : {}),
    // Merged into the operation's parameters by openApiDocument (the generator overwrites `parameters`).
    ...(spec.headers ? { [REQUEST_HEADERS]: spec.headers } : {}),
    ...(spec.requestBody
      ? {
          requestBody: {
            required: true,
            content: Object.fromEntries(
              Object.entries(spec.requestBody).map(([type, schema]) => [type, { schema }]),
            ),
          },
        }
      : {}),
    responses: {
      [status]: {
        description: spec.summary,
        content: {
          [mediaType]: {
            schema: spec.response,
            ...(spec.example === undefined ? {} : { example: spec.example }),
          },
        },
      },
    },
  };
  // TypeBox schemas are JSON Schema, but not OpenAPI's TypeScript types: the generator takes them as they are.
  return { detail: detail as unknown as DocumentDecoration };
}
