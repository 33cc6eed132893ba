/**
 * The API's one error shape, `{"error": {"code", "message", "field"?, "errors"?}}` (the gateway
 * adds `"status": "rejected"` beside it), as an Error: thrown by `unwrap`, `send` and `json`.
 */
export type FieldError = { field: string; message: string };

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** Stable and machine-readable: `invalid_request`, `not_found`, `idempotency_key_reused`, … */
    readonly code: string,
    message: string,
    /** The field at fault, e.g. `name` or `events.0.code`, when the error is about one. */
    readonly field?: string,
    /** Every field at fault, when there are several. */
    readonly errors?: FieldError[],
  ) {
    super(message);
  }
}

export const isApiError = (err: unknown, code?: string): err is ApiError =>
  err instanceof ApiError && (code === undefined || err.code === code);

type Parsed = { error?: unknown; message?: unknown };

/**
 * The error an answer stands for, from its parsed body (`body`: JSON, or the text when it was not
 * JSON). The sign-in routes answer `{"error": "<code>", "message"}`; anything else that is not the
 * shared shape becomes `http_error` with the status.
 */
export function errorOf(status: number, body: unknown, statusText = ""): ApiError {
  const parsed = (body && typeof body === "object" ? body : {}) as Parsed;
  const e = parsed.error;
  if (typeof e === "string") {
    const message = typeof parsed.message === "string" ? parsed.message : e.replaceAll("_", " ");
    return new ApiError(status, e, message);
  }
  if (e && typeof e === "object") {
    const { code, message, field, errors } = e as Record<string, unknown>;
    return new ApiError(
      status,
      typeof code === "string" ? code : "error",
      typeof message === "string" ? message : statusText || String(status),
      typeof field === "string" ? field : undefined,
      Array.isArray(errors) ? (errors as FieldError[]) : undefined,
    );
  }
  const text = typeof body === "string" ? body.slice(0, 200) : "";
  return new ApiError(status, "http_error", `${status} ${statusText || text}`.trim());
}

/** The error of a failed Response (reads its body). */
export async function errorOfResponse(response: Response): Promise<ApiError> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the status says enough
  }
  return errorOf(response.status, body, response.statusText);
}
