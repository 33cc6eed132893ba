import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/**
 * Signed postbacks: `X-Roundtrip-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
 * `<t>.<METHOD>.<path and query as sent>.<raw body>`. Several `v1=` may be sent (the advertiser
 * rotating its secret); any secret of the advertiser may match (we are rotating ours).
 */
export const SIGNATURE_HEADER = "x-roundtrip-signature";
export const SIGNATURE_TOLERANCE_S = 300;

export type SignedRequest = {
  /** The header's value, or null when absent. */
  header: string | null;
  method: string;
  /** Path and query exactly as received, e.g. `/postback?click_id=…&event=ftd`. */
  target: string;
  body: string;
};

export type SignatureCheck =
  | { ok: true; signature: string; expiresAt: Date }
  | {
      ok: false;
      reason: "signature_missing" | "signature_malformed" | "signature_expired" | "signature_invalid";
    };

function signedMessage(timestamp: string, method: string, target: string, body: string): string {
  return `${timestamp}.${method.toUpperCase()}.${target}.${body}`;
}

/** What an advertiser computes; used by tests, the docs' example and the bench. */
export function signPostback(
  secret: string,
  req: { method: string; target: string; body?: string; timestamp?: number },
): string {
  const t = String(req.timestamp ?? Math.floor(Date.now() / 1000));
  const mac = createHmac("sha256", secret)
    .update(signedMessage(t, req.method, req.target, req.body ?? ""))
    .digest("hex");
  return `t=${t},v1=${mac}`;
}

export function verifySignature(
  req: SignedRequest,
  secrets: readonly string[],
  nowMs = Date.now(),
): SignatureCheck {
  if (!req.header) return { ok: false, reason: "signature_missing" };
  let timestamp: string | undefined;
  const given: Buffer[] = [];
  for (const part of req.header.split(",")) {
    const eq = part.indexOf("=");
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t" && /^\d{1,12}$/.test(value)) timestamp = value;
    else if (key === "v1" && /^[0-9a-f]{64}$/i.test(value)) given.push(Buffer.from(value, "hex"));
  }
  if (timestamp === undefined || given.length === 0 || given.length > 4)
    return { ok: false, reason: "signature_malformed" };
  const at = Number(timestamp);
  if (Math.abs(nowMs / 1000 - at) > SIGNATURE_TOLERANCE_S) return { ok: false, reason: "signature_expired" };
  const message = signedMessage(timestamp, req.method, req.target, req.body);
  for (const secret of secrets) {
    const expected = createHmac("sha256", secret).update(message).digest();
    const match = given.find((g) => timingSafeEqual(g, expected));
    // The matched MAC is the replay key: the same bytes can never be accepted twice.
    if (match)
      return {
        ok: true,
        signature: match.toString("hex"),
        expiresAt: new Date((at + SIGNATURE_TOLERANCE_S) * 1000),
      };
  }
  return { ok: false, reason: "signature_invalid" };
}

/** Token check: SHA-256 of the given token against the stored hash, in constant time. */
export function tokenMatches(token: string, expectedHex: string): boolean {
  const given = createHash("sha256").update(token).digest();
  const expected = Buffer.from(expectedHex, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}
