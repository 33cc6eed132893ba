/**
 * Every request the console makes. Signed in with an API key, it sends `Authorization: Bearer`
 * (the key stays in this tab's sessionStorage); signed in with an account, the session cookie
 * goes along and each change carries the session's CSRF token. Requests go through the typed
 * client of packages/client (@roundtrip/client): one error shape (ApiError: status, code, message,
 * field) and one place for the authentication headers.
 */
import { ApiError, createAdminClient } from "@roundtrip/client";

export { ApiError };

const KEY = "roundtrip.apiKey";

let csrfToken: string | null = null;

export const apiKey = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (key: string) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/**
 * The typed client of packages/client, on this page's origin with this tab's credentials:
 * `unwrap(client.GET("/v1/brands/{id}", { params: { path: { id } } }))` checks the path, the
 * parameters and the answer against the API's OpenAPI document. `api` and `request` below are its
 * untyped form (a path with its query string), for the pages that describe the answer themselves.
 */
export const client = createAdminClient({ apiKey: () => apiKey.get(), csrfToken: () => csrfToken });

/** The Response of a request (files go as they are, anything else as JSON); ApiError thrown on a failure. */
export function request(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<Response> {
  return client.send(method, path, { body, signal });
}

/** The JSON answer of a request (undefined for 204); ApiError thrown on a failure. */
export function api<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  return client.json<T>(method, path, { body, signal });
}

/** Query string from the set values only. */
export function qs(params: Record<string, string | number | boolean | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Saves a response as a file (CSV exports), with the same credentials as every request. */
export async function download(path: string, filename: string): Promise<void> {
  const res = await request("GET", path);
  saveBlob(await res.blob(), filename);
}

export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export type Paged<T> = { data: T[]; next_cursor: string | null };
