import { createHmac } from "node:crypto";
import type { ConversionPlatform } from "@roundtrip/contracts";
import { classify } from "../verdict.ts";

export type Credentials = { platform: ConversionPlatform; access_token: string; app_secret: string | null };

/**
 * The token goes on the request as it leaves, never into the stored delivery: Meta takes it as the
 * `access_token` parameter (plus `appsecret_proof`, the HMAC-SHA256 of the token under the app
 * secret, when the app requires signed calls), Google as an OAuth bearer token, TikTok in its
 * `Access-Token` header. The attempt log keeps the stored URL, which has neither.
 */
export function authorize(c: Credentials, url: string): { url: string; headers: Record<string, string> } {
  switch (c.platform) {
    case "meta": {
      const u = new URL(url);
      u.searchParams.set("access_token", c.access_token);
      if (c.app_secret)
        u.searchParams.set(
          "appsecret_proof",
          createHmac("sha256", c.app_secret).update(c.access_token).digest("hex"),
        );
      return { url: u.toString(), headers: {} };
    }
    case "google":
      return { url, headers: { authorization: `Bearer ${c.access_token}` } };
    case "tiktok":
      return { url, headers: { "access-token": c.access_token } };
  }
}

/** TikTok codes worth another try: rate limited, and its own server errors (5xxxx). */
const TIKTOK_RETRYABLE = (code: number) => code === 40100 || code === 40016 || code >= 50000;
/** Meta error codes that mean "later" (throttling, temporary): the Graph API's documented ones. */
const META_RETRYABLE = new Set([1, 2, 4, 17, 32, 341, 613, 80004]);

function json(excerpt: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(excerpt);
    return v && typeof v === "object" ? v : null;
  } catch {
    return null;
  }
}

/**
 * What a platform's answer means. TikTok answers HTTP 200 to a refused request and says so in
 * `code` (0 is success); Meta marks a temporary error `is_transient` or with a throttling code in
 * a 400; otherwise the HTTP status decides as for any delivery (429 and 5xx retried).
 */
export function platformVerdict(
  platform: ConversionPlatform,
  status: number,
  excerpt: string,
): "delivered" | "retryable" | "permanent" {
  const byStatus = classify(status);
  if (platform === "tiktok" && byStatus === "delivered") {
    const body = json(excerpt);
    const code = typeof body?.code === "number" ? body.code : null;
    if (code === null) return "retryable"; // not TikTok's answer (a proxy page, a cut-off body)
    if (code === 0) return "delivered";
    return TIKTOK_RETRYABLE(code) ? "retryable" : "permanent";
  }
  if (platform === "meta" && byStatus === "permanent") {
    const error = json(excerpt)?.error as { code?: number; is_transient?: boolean } | undefined;
    if (error?.is_transient || (error?.code !== undefined && META_RETRYABLE.has(error.code)))
      return "retryable";
  }
  return byStatus;
}
