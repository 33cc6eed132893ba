import type { Client } from "openapi-fetch";
import createClient from "openapi-fetch";
import type { components, operations, paths } from "./generated/gateway.ts";
import type { ClientOptions } from "./transport.ts";

export type GatewayPaths = paths;
export type GatewayOperations = operations;
export type GatewaySchema<N extends keyof components["schemas"]> = components["schemas"][N];

/**
 * The postback gateway (`/postback`, `/postback/{brand}`, pixels), typed from its OpenAPI
 * document — for an advertiser's backend, or a test acting as one. The advertiser's token goes in
 * the `token` parameter (or sign the body with X-Roundtrip-Signature); a refusal is
 * `{"status": "rejected", "error": {…}}`, which `unwrap()` throws as an ApiError.
 */
export function createGatewayClient(
  options: Pick<ClientOptions, "baseUrl" | "fetch" | "headers"> = {},
): Client<paths, "application/json"> {
  return createClient<paths, "application/json">({
    baseUrl: options.baseUrl ?? "",
    headers: options.headers,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}
