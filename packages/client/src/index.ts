export {
  type AdminClient,
  type AdminOperations,
  type AdminPaths,
  type AdminSchema,
  createAdminClient,
} from "./admin.ts";
export { ApiError, errorOf, errorOfResponse, type FieldError, isApiError } from "./errors.ts";
export {
  createGatewayClient,
  type GatewayOperations,
  type GatewayPaths,
  type GatewaySchema,
} from "./gateway.ts";
export { type ClientOptions, newIdempotencyKey, type SendInit } from "./transport.ts";
export { unwrap } from "./unwrap.ts";
