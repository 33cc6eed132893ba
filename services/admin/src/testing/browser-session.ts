/**
 * A console session as a browser holds it, for tests against a real admin process: the cookie
 * from Set-Cookie sent back on every request, and the CSRF token from sign-in sent on changes —
 * or deliberately not, to prove the refusal.
 */
import { parseSetCookie } from "cookie";
import { SESSION_COOKIE } from "../sessions.ts";
import type { Answer } from "../test-support.ts";

export type SignedInUser = {
  id: string;
  email: string;
  name: string;
  role: string;
  affiliateId: string | null;
};

export class BrowserSession {
  cookie: string | null = null;
  csrf: string | null = null;
  user: SignedInUser | null = null;
  /** The last Set-Cookie for the session, as parsed (to check its attributes). */
  lastSetCookie: ReturnType<typeof parseSetCookie> | null = null;

  constructor(
    readonly baseUrl: string,
    /** Sent as X-Forwarded-For (the admin under test trusts 127.0.0.1 as a proxy). */
    readonly forwardedFor: string | null = null,
  ) {}

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    options: { csrf?: string | null; headers?: Record<string, string> } = {},
  ): Promise<Answer<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.cookie) headers.cookie = `${SESSION_COOKIE}=${this.cookie}`;
    const csrf = options.csrf === undefined ? this.csrf : options.csrf;
    if (csrf && method !== "GET") headers["x-csrf-token"] = csrf;
    if (this.forwardedFor) headers["x-forwarded-for"] = this.forwardedFor;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: "manual",
    });
    for (const line of res.headers.getSetCookie()) {
      const parsed = parseSetCookie(line);
      if (parsed.name !== SESSION_COOKIE) continue;
      this.lastSetCookie = parsed;
      this.cookie = parsed.value && parsed.maxAge !== 0 ? parsed.value : null;
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed as T, headers: res.headers, text };
  }

  async signIn(email: string, password: string, totp?: string) {
    const a = await this.request<{ user: SignedInUser; csrfToken: string; error?: string }>(
      "POST",
      "/v1/auth/sign-in",
      { email, password, ...(totp ? { totp } : {}) },
    );
    if (a.status === 200) {
      this.csrf = a.body.csrfToken;
      this.user = a.body.user;
    }
    return a;
  }
}
