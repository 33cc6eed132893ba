import { expect, test } from "bun:test";
import fc from "fast-check";
import { acceptedStep, newTotpSecret, totpCode, totpUri } from "./totp.ts";

const STEP_MS = 30_000;

test("a code is good for its step and one step either side, and not beyond", () => {
  const secret = newTotpSecret();
  fc.assert(
    fc.property(
      fc.integer({ min: 1_000_000, max: 4_000_000_000 }),
      fc.integer({ min: -3, max: 3 }),
      (s, offset) => {
        const at = s * STEP_MS + 5_000;
        const code = totpCode(secret, at + offset * STEP_MS);
        const step = acceptedStep(secret, code, null, at);
        if (Math.abs(offset) <= 1) expect(step).toBe(s + offset);
        // beyond the window only a coincidentally equal code (1 in 10^6) could pass: it names another step then
        else expect(step === null || step !== s + offset).toBe(true);
      },
    ),
    { numRuns: 200 },
  );
});

test("a code is refused once its step (or a later one) was used: no replay", () => {
  const secret = newTotpSecret();
  const at = 1_700_000_000_000;
  const code = totpCode(secret, at);
  const step = acceptedStep(secret, code, null, at) as number;
  expect(step).toBe(Math.floor(at / STEP_MS));
  expect(acceptedStep(secret, code, step, at)).toBeNull();
  expect(acceptedStep(secret, code, step + 1, at)).toBeNull();
  // the next step's code still goes through
  expect(acceptedStep(secret, totpCode(secret, at + STEP_MS), step, at + STEP_MS)).toBe(step + 1);
});

test("anything but six digits is refused before any computation", () => {
  const secret = newTotpSecret();
  for (const code of ["", "12345", "1234567", "12345a", " 123456", "１２３４５６"])
    expect(acceptedStep(secret, code, null)).toBeNull();
});

test("the otpauth URI names the issuer and the account, with the secret", () => {
  const secret = newTotpSecret();
  const uri = new URL(totpUri(secret, "ops@example.test"));
  expect(uri.protocol).toBe("otpauth:");
  expect(uri.searchParams.get("secret")).toBe(secret);
  expect(uri.searchParams.get("issuer")).toBe("Roundtrip");
  expect(decodeURIComponent(uri.pathname)).toContain("ops@example.test");
});
