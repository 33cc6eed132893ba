import { createHash } from "node:crypto";
import { type Limits, send } from "../http.ts";
import { type Cidr, checkTarget } from "../ssrf.ts";

/** Google's OAuth 2.0 token endpoint. */
export const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";
/** A token is renewed this long before Google says it expires (clock skew, a slow attempt). */
const EARLY_MS = 60_000;

export type RefreshCredentials = {
  destinationId: string;
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  tokenUrl: string | null;
};

/** The token endpoint refused or failed; `retryable` when trying again later may help. */
export class TokenRefreshError extends Error {
  override readonly name = "TokenRefreshError";
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/**
 * Access tokens from OAuth 2.0 refresh credentials (RFC 6749 §6: `grant_type=refresh_token`),
 * kept in this replica's memory until shortly before they expire — a Google access token lives
 * an hour, so a destination costs one token request an hour per replica. The request goes
 * through the same SSRF guard as every delivery. A platform that refuses a cached token (401)
 * has it dropped, so the retry asks for a new one. Keyed by destination and refresh token, so a
 * rotated refresh token is used at once.
 */
export class AccessTokens {
  private readonly cache = new Map<string, { token: string; until: number }>();

  constructor(private readonly options: { allowed: Cidr[]; http: Limits }) {}

  private key(c: RefreshCredentials): string {
    return `${c.destinationId}:${createHash("sha256").update(c.refreshToken).digest("hex")}`;
  }

  async get(c: RefreshCredentials): Promise<string> {
    const cached = this.cache.get(this.key(c));
    if (cached && cached.until > Date.now()) return cached.token;
    const url = c.tokenUrl ?? GOOGLE_TOKEN_URL;
    const body = new URLSearchParams({
      grant_type: "refresh_token",
      client_id: c.clientId,
      client_secret: c.clientSecret,
      refresh_token: c.refreshToken,
    }).toString();
    let res: Awaited<ReturnType<typeof send>>;
    try {
      const target = await checkTarget(url, this.options.allowed);
      res = await send(
        target,
        { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body },
        { ...this.options.http, excerptBytes: 4096 },
      );
    } catch (err) {
      throw new TokenRefreshError(`oauth token refresh: ${(err as Error).message}`, true);
    }
    let answer: { access_token?: unknown; expires_in?: unknown; error?: unknown } = {};
    try {
      answer = JSON.parse(res.excerpt);
    } catch {}
    if (res.status !== 200 || typeof answer.access_token !== "string") {
      // invalid_grant, invalid_client: the credentials are wrong or revoked; only an operator helps
      const retryable = res.status === 429 || res.status >= 500;
      throw new TokenRefreshError(
        `oauth token refresh: ${res.status} ${typeof answer.error === "string" ? answer.error : "no access_token"}`,
        retryable,
      );
    }
    const lifetimeS = typeof answer.expires_in === "number" ? answer.expires_in : 3600;
    this.cache.set(this.key(c), {
      token: answer.access_token,
      until: Date.now() + Math.max(0, lifetimeS * 1000 - EARLY_MS),
    });
    return answer.access_token;
  }

  /** The platform refused this destination's token: the next attempt asks for a new one. */
  drop(c: RefreshCredentials): void {
    this.cache.delete(this.key(c));
  }
}
