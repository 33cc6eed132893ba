import type { Middleware } from "openapi-fetch";
import { errorOfResponse } from "./errors.ts";

/** How a client reaches the API and who it is. */
export type ClientOptions = {
  /** e.g. `https://admin.example.com`; `""` (the default) is the page's own origin, for a browser. */
  baseUrl?: string;
  /** An API key (`rt_…`), sent as `Authorization: Bearer`; a function is asked on every request. */
  apiKey?: string | (() => string | null | undefined);
  /**
   * Session auth (a browser signed in to the console): the `rt_session` cookie goes with
   * `credentials`, and every change carries this CSRF token as `X-CSRF-Token`. Asked on every
   * request; unused while an API key is set.
   */
  csrfToken?: () => string | null | undefined;
  /** Default `same-origin`; `include` for a console served from another origin. */
  credentials?: RequestCredentials;
  /**
   * Give every POST without an `Idempotency-Key` a fresh one (default false). Useful with a
   * retrying `fetch`: each retry of a request carries the key it was first sent with, so a create
   * the server already did is answered again instead of done twice.
   */
  idempotencyKeys?: boolean;
  /** A fetch of your own (a retrying one, a test double); default the global fetch. */
  fetch?: (input: Request) => Promise<Response>;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
};

export const IDEMPOTENCY_KEY = "Idempotency-Key";
const READS = new Set(["GET", "HEAD", "OPTIONS"]);

/** A fresh Idempotency-Key, for a create you may retry: keep it and send the same key again. */
export const newIdempotencyKey = (): string => crypto.randomUUID();

/** Sets the authentication and idempotency headers of one request (the one place for that rule). */
export function authenticate(request: Request, options: ClientOptions): Request {
  const key = typeof options.apiKey === "function" ? options.apiKey() : options.apiKey;
  if (key) request.headers.set("authorization", `Bearer ${key}`);
  else if (!READS.has(request.method)) {
    const csrf = options.csrfToken?.();
    if (csrf) request.headers.set("x-csrf-token", csrf);
  }
  if (options.idempotencyKeys && request.method === "POST" && !request.headers.has(IDEMPOTENCY_KEY))
    request.headers.set(IDEMPOTENCY_KEY, newIdempotencyKey());
  return request;
}

export const authMiddleware = (options: ClientOptions): Middleware => ({
  onRequest: ({ request }) => authenticate(request, options),
});

export type SendInit = {
  /** JSON-serialisable, or FormData / Blob / URLSearchParams / a string, sent as they are. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
};

const sentAsIs = (body: unknown) =>
  body instanceof FormData ||
  body instanceof Blob ||
  body instanceof URLSearchParams ||
  typeof body === "string";

/**
 * A request by method and path (query string included) outside the typed paths: the same base
 * URL, authentication and errors. Answers the Response; a status outside 2xx throws ApiError.
 */
export async function send(
  options: ClientOptions,
  method: string,
  path: string,
  init: SendInit = {},
): Promise<Response> {
  const { body } = init;
  const headers = new Headers({ accept: "application/json", ...options.headers, ...init.headers });
  if (body !== undefined && !sentAsIs(body)) headers.set("content-type", "application/json");
  const request = new Request(`${options.baseUrl ?? ""}${path}`, {
    method,
    headers,
    credentials: options.credentials ?? "same-origin",
    body: body === undefined ? undefined : sentAsIs(body) ? (body as BodyInit) : JSON.stringify(body),
    signal: init.signal,
  });
  const response = await (options.fetch ?? fetch)(authenticate(request, options));
  if (!response.ok) throw await errorOfResponse(response);
  return response;
}

/** `send`, then the JSON answer (undefined for 204 or an empty body). */
export async function json<T>(
  options: ClientOptions,
  method: string,
  path: string,
  init: SendInit = {},
): Promise<T> {
  const response = await send(options, method, path, init);
  const text = response.status === 204 ? "" : await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
