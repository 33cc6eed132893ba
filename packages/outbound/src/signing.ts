import { Webhook } from "standardwebhooks";

/**
 * Standard Webhooks (https://www.standardwebhooks.com): `webhook-id` (the delivery, stable
 * across retries so the affiliate can drop a repeat), `webhook-timestamp` (Unix seconds of this
 * attempt) and, when the affiliate has signing secrets, `webhook-signature`: one
 * `v1,<base64 HMAC-SHA256 of "id.timestamp.payload">` per secret, space separated, so the
 * affiliate can verify with either secret during a rotation.
 *
 * The signed payload is the request body for POST; a GET has no body, so its payload is the
 * request target (path and query string, exactly as sent), which covers every macro value.
 */
export function webhookHeaders(input: {
  id: string;
  at: Date;
  payload: string;
  secrets: readonly string[];
}): Record<string, string> {
  const headers: Record<string, string> = {
    "webhook-id": input.id,
    "webhook-timestamp": String(Math.floor(input.at.getTime() / 1000)),
  };
  const signatures = input.secrets.map((s) => new Webhook(s).sign(input.id, input.at, input.payload));
  if (signatures.length) headers["webhook-signature"] = signatures.join(" ");
  return headers;
}

/** The signed payload of a request (see above). */
export function signedPayload(method: "GET" | "POST", url: URL, body: string | null): string {
  return method === "POST" ? (body ?? "") : `${url.pathname}${url.search}`;
}

/** A new secret in the Standard Webhooks format: `whsec_` + base64 of 32 random bytes. */
export function newSecret(): string {
  return `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`;
}
