/**
 * Every request the console makes. Signed in with an API key, it sends `Authorization: Bearer`
 * (the key stays in this tab's sessionStorage); signed in with an account, the session cookie
 * goes along and each change carries the session's CSRF token.
 */
const KEY = "roundtrip.apiKey";

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;

export const apiKey = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (key: string) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

function headers(method: string, json: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: "application/json" };
  const key = apiKey.get();
  if (key) h.authorization = `Bearer ${key}`;
  else if (csrfToken && method !== "GET") h["x-csrf-token"] = csrfToken;
  if (json) h["content-type"] = "application/json";
  return h;
}

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as {
      error?: string | { code?: string; message?: string; field?: string };
      message?: string;
    };
    const e = body.error;
    // The sign-in routes answer { error: "<code>", message } (docs/console.md).
    if (typeof e === "string") return new ApiError(res.status, e, body.message ?? e.replaceAll("_", " "));
    if (e) return new ApiError(res.status, e.code ?? "error", e.message ?? res.statusText, e.field);
  } catch {
    // not JSON: the status says enough
  }
  return new ApiError(res.status, "http_error", `${res.status} ${res.statusText || text.slice(0, 200)}`);
}

export async function request(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<Response> {
  // Files go as they are (a Blob carries its own content type); anything else as JSON.
  const form = body instanceof FormData || body instanceof Blob;
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: headers(method, body !== undefined && !form),
    body: body === undefined ? undefined : form ? body : JSON.stringify(body),
    signal,
  });
  if (!res.ok) throw await failure(res);
  return res;
}

export async function api<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  const res = await request(method, path, body, signal);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
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
