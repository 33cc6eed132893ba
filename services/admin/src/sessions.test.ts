import { expect, test } from "bun:test";
import fc from "fast-check";
import {
  csrfMatches,
  csrfTokenFor,
  newSessionToken,
  secureFor,
  SESSION_COOKIE,
  sessionTokenOf,
} from "./sessions.ts";

test("a session's CSRF token matches only that session", () => {
  fc.assert(
    fc.property(fc.constant(null), () => {
      const a = newSessionToken();
      const b = newSessionToken();
      expect(csrfMatches(a, csrfTokenFor(a))).toBe(true);
      expect(csrfMatches(a, csrfTokenFor(b))).toBe(false);
      expect(csrfMatches(a, a)).toBe(false); // the cookie itself is not the token
      expect(csrfMatches(a, null)).toBe(false);
      expect(csrfMatches(a, "")).toBe(false);
    }),
    { numRuns: 50 },
  );
});

test("only a well-formed session cookie names a session", () => {
  const token = newSessionToken();
  expect(sessionTokenOf(`a=1; ${SESSION_COOKIE}=${token}; b=2`)).toBe(token);
  expect(sessionTokenOf(`${SESSION_COOKIE}=${token.slice(1)}`)).toBeNull();
  expect(sessionTokenOf(`${SESSION_COOKIE}=${token}%00`)).toBeNull();
  expect(sessionTokenOf("other=1")).toBeNull();
  expect(sessionTokenOf(undefined)).toBeNull();
});

test("Secure follows the setting, and in auto mode the request's scheme", () => {
  const http = new Request("http://console.test/v1/auth/sign-in");
  const https = new Request("https://console.test/v1/auth/sign-in");
  const proxied = new Request("http://console.test/", { headers: { "x-forwarded-proto": "https" } });
  expect([secureFor(http, "auto"), secureFor(https, "auto"), secureFor(proxied, "auto")]).toEqual([
    false,
    true,
    true,
  ]);
  expect(secureFor(http, "always")).toBe(true);
  expect(secureFor(https, "never")).toBe(false);
});
