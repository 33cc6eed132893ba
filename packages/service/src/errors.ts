import { Elysia } from "elysia";

/** A domain error that maps to an HTTP answer; services throw these instead of building responses deep inside. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export type ErrorBody = { error: { code: string; message: string; field?: string; errors?: FieldError[] } };
export type FieldError = { field: string; message: string };

export function errorBody(code: string, message: string, field?: string, errors?: FieldError[]): ErrorBody {
  return { error: { code, message, ...(field ? { field } : {}), ...(errors ? { errors } : {}) } };
}

/**
 * One error shape for every service: `{ error: { code, message, field?, errors? } }`.
 * Validation failures name each field (`/amount` → `amount`); unexpected errors are logged
 * by the caller's logger and answered without internals.
 */
export function errorHandler(onUnexpected: (err: unknown) => void) {
  return new Elysia({ name: "roundtrip-errors" }).onError({ as: "global" }, ({ code, error, set }) => {
    if (error instanceof HttpError) {
      set.status = error.status;
      return errorBody(error.code, error.message, error.field);
    }
    if (code === "VALIDATION") {
      const errors = fieldErrors(error);
      set.status = 400;
      const first = errors[0];
      return errorBody(
        "invalid_request",
        first ? `${first.field}: ${first.message}` : "invalid request",
        first?.field,
        errors,
      );
    }
    if (code === "PARSE") {
      set.status = 400;
      return errorBody("invalid_body", "the request body could not be parsed");
    }
    if (code === "NOT_FOUND") {
      set.status = 404;
      return errorBody("not_found", "no such route");
    }
    onUnexpected(error);
    set.status = 500;
    return errorBody("internal", "internal error");
  });
}

function fieldErrors(error: unknown): FieldError[] {
  const all = (error as { all?: { path?: string; message?: string; summary?: string }[] }).all ?? [];
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const e of all) {
    const field = (e.path ?? "").replace(/^\//, "").replaceAll("/", ".") || "(body)";
    if (seen.has(field)) continue;
    seen.add(field);
    out.push({ field, message: e.summary ?? e.message ?? "is invalid" });
  }
  return out;
}
