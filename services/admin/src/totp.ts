/**
 * The optional second factor: RFC 6238 TOTP (30-second steps, 6 digits, SHA-1 — what every
 * authenticator app reads from an otpauth:// URI), through the otpauth library. A code is
 * accepted one step either side of now (clock drift) and only once: the step it was good for is
 * remembered, and a code for that step or an earlier one is refused (a code seen over a
 * shoulder or in a log cannot be replayed).
 */
import { Secret, TOTP } from "otpauth";

const PERIOD_S = 30;
const ISSUER = "Roundtrip";

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** The otpauth:// URI an authenticator app scans (as a QR code) or takes pasted. */
export function totpUri(secret: string, account: string): string {
  return totp(secret, account).toString();
}

/**
 * The time step `code` is good for, or null when it is wrong or not newer than `lastStep`
 * (already used). `now` in milliseconds.
 */
export function acceptedStep(
  secret: string,
  code: string,
  lastStep: number | null,
  now: number = Date.now(),
): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const delta = totp(secret, "").validate({ token: code, timestamp: now, window: 1 });
  if (delta === null) return null;
  const step = Math.floor(now / 1000 / PERIOD_S) + delta;
  return lastStep !== null && step <= lastStep ? null : step;
}

/** The code for a moment (tests and the setup check). */
export function totpCode(secret: string, now: number = Date.now()): string {
  return totp(secret, "").generate({ timestamp: now });
}

function totp(secret: string, account: string): TOTP {
  return new TOTP({
    issuer: ISSUER,
    label: account,
    secret: Secret.fromBase32(secret),
    algorithm: "SHA1",
    digits: 6,
    period: PERIOD_S,
  });
}
