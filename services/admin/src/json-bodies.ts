import { HttpError } from "@roundtrip/service";
import { Elysia } from "elysia";

const FORMS = /^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i;
/** Routes that take an uploaded file (their body schema has a t.File, or they read the upload themselves). */
export const UPLOAD_ROUTES: ReadonlySet<string> = new Set(["/v1/imports", "/v1/reports/reconciliation"]);

/**
 * The API takes JSON bodies (and the media types a route reads itself, such as CSV imports):
 * Elysia would otherwise parse a form into strings and let it reach a handler typed for JSON.
 * A form or multipart body sent to the API (/v1) is refused with 415 before any parsing, except multipart on the
 * routes that take an uploaded file.
 */
export function jsonBodies() {
  // onRequest, not onParse: an error thrown while parsing is reported as a parse error (400).
  return new Elysia({ name: "json-bodies" }).onRequest(({ request }) => {
    const contentType = request.headers.get("content-type") ?? "";
    if (!FORMS.test(contentType)) return;
    const path = new URL(request.url).pathname.replace(/\/$/, "");
    if (!path.startsWith("/v1/")) return;
    if (UPLOAD_ROUTES.has(path) && /^multipart\/form-data\b/i.test(contentType)) return;
    throw new HttpError(415, "unsupported_media_type", "send the body as application/json", "(body)");
  });
}
