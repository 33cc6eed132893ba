/**
 * `bun run --silent openapi` (in services/gateway): the gateway's OpenAPI document on stdout, as
 * served at /openapi.json. packages/client generates its postback types from it.
 */
import { gatewayDocument } from "./openapi.ts";

process.stdout.write(`${JSON.stringify(gatewayDocument(), null, 2)}\n`);
