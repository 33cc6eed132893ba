/** Why a request body was refused before its parameters were looked at. */
export class BodyError extends Error {
  override name = "BodyError";
  constructor(
    readonly status: 400 | 413 | 415,
    readonly code: "body_too_large" | "invalid_body" | "unsupported_media_type",
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads at most `limit` bytes: a declared Content-Length above it is refused before reading, and
 * a chunked body is cut off as soon as it passes it, so a huge upload costs nothing.
 */
export async function readBody(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit)
    throw new BodyError(413, "body_too_large", `the request body is larger than ${limit} bytes`);
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyError(413, "body_too_large", `the request body is larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new BodyError(400, "invalid_body", "the request body is not valid UTF-8");
  }
}

/** Query-string or form parameters; a name given twice becomes an array (intake refuses it by name). */
export function formParams(search: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [k, v] of search) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** JSON object or form body → parameters. Anything else is refused with the reason. */
export function bodyParams(contentType: string | null, text: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (type === "application/json" || type.endsWith("+json")) {
    let parsed: unknown;
    try {
      // Numbers keep their source text (JSON.parse source access), so 12345678901234.123456 never passes through a float.
      parsed = JSON.parse(text, (_key, value, context?: { source?: string }) =>
        typeof value === "number" && context?.source !== undefined ? context.source : value,
      );
    } catch {
      throw new BodyError(400, "invalid_body", "the request body is not valid JSON");
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new BodyError(400, "invalid_body", "the JSON body must be an object of parameters");
    }
    // Booleans are accepted as their text; nested values are refused by intake, naming the field.
    const out: Record<string, unknown> = Object.create(null);
    for (const [k, v] of Object.entries(parsed)) out[k] = typeof v === "boolean" ? String(v) : v;
    return out;
  }
  if (type === "application/x-www-form-urlencoded" || type === "")
    return formParams(new URLSearchParams(text));
  throw new BodyError(
    415,
    "unsupported_media_type",
    "send parameters as application/json or application/x-www-form-urlencoded",
  );
}

/** Query and body together; a name in both is ambiguous and becomes an array. */
export function mergeParams(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(a)) out[k] = v;
  for (const [k, v] of Object.entries(b)) out[k] = k in out ? [out[k], v].flat() : v;
  return out;
}
