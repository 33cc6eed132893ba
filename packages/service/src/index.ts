export { type NativeRoute, runService, type ServiceContext, type ServiceParts } from "./run.ts";
export { errorBody, errorHandler, HttpError, type ErrorBody, type FieldError } from "./errors.ts";
export { ConfigCache } from "./config-cache.ts";
