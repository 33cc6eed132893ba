import type { Client } from "openapi-fetch";
import createClient from "openapi-fetch";
import type { components, operations, paths } from "./generated/admin.ts";
import { authMiddleware, type ClientOptions, json, type SendInit, send } from "./transport.ts";

export type AdminPaths = paths;
export type AdminOperations = operations;
/** A named schema of the admin document, e.g. `AdminSchema<"Error">`. */
export type AdminSchema<N extends keyof components["schemas"]> = components["schemas"][N];

export type AdminClient = Client<paths, "application/json"> & {
  /** A request outside the typed paths (a path with its query string): the Response, or ApiError thrown. */
  send(method: string, path: string, init?: SendInit): Promise<Response>;
  /** `send`, then its JSON body (undefined for 204). */
  json<T = unknown>(method: string, path: string, init?: SendInit): Promise<T>;
};

/**
 * The admin API (`/v1`), typed from its OpenAPI document: `GET`, `POST`, `PUT`, `PATCH`,
 * `DELETE` answer `{ data, error, response }` (openapi-fetch); `unwrap()` turns that into the data
 * or a thrown ApiError.
 */
export function createAdminClient(options: ClientOptions = {}): AdminClient {
  const client = createClient<paths, "application/json">({
    baseUrl: options.baseUrl ?? "",
    credentials: options.credentials ?? "same-origin",
    headers: options.headers,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  client.use(authMiddleware(options));
  return Object.assign(client, {
    send: (method: string, path: string, init?: SendInit) => send(options, method, path, init),
    json: <T>(method: string, path: string, init?: SendInit) => json<T>(options, method, path, init),
  });
}
