export type { Readiness } from "./readiness.ts";
export { runService, type ServiceContext, type ServiceParts } from "./run.ts";
export {
  MAX_REQUEST_BODY_BYTES,
  type NativeRoute,
  type ServeOptions,
  type Served,
  type SocketServer,
  serveService,
} from "./serve.ts";
export { errorBody, errorHandler, HttpError, type ErrorBody, type FieldError } from "./errors.ts";
export { ConfigCache } from "./config-cache.ts";
export { type Periodic, startPeriodic } from "./periodic.ts";
export { startServiceForTest, type TestService } from "./testing.ts";
