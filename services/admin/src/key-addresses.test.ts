import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminHarness, type Harness } from "./test-support.ts";
import { type Partner, seedPartner } from "./testing/partners.ts";

/**
 * An affiliate's API-key callers' addresses are recorded for the self-referral rule
 * (affiliate_addresses, source api_key; docs/fraud.md): the client address as for sign-ins — the
 * socket's, or a trusted proxy's X-Forwarded-For — through the running admin process.
 */
let h: Harness;
let A: Partner;

beforeAll(async () => {
  h = await adminHarness("keyaddr", {
    process: true,
    // The test is the proxy: X-Forwarded-For names the caller's address.
    env: { TRUSTED_PROXIES: "127.0.0.1/32,::1/128" },
  });
  A = await seedPartner(h, "A");
}, 90_000);

afterAll(async () => {
  await h?.cleanup();
}, 30_000);

const get = (key: string, forwardedFor: string) =>
  fetch(`${h.url}/v1/links`, {
    headers: { authorization: `Bearer ${key}`, "x-forwarded-for": forwardedFor },
  });

describe("API-key callers' addresses", () => {
  test("an affiliate key's caller address is recorded once per address; staff keys record nothing", async () => {
    expect((await get(A.key, "203.0.113.77")).status).toBe(200);
    expect((await get(A.key, "203.0.113.77")).status).toBe(200);
    expect((await get(A.key, "2001:db8::5")).status).toBe(200);
    expect((await get(h.keys.admin, "203.0.113.99")).status).toBe(200);
    const rows = await h.sql`
      select affiliate_id, host(ip) as ip, source from affiliate_addresses order by ip`;
    expect([...rows]).toEqual([
      { affiliate_id: A.affiliate.id as string, ip: "2001:db8::5", source: "api_key" },
      { affiliate_id: A.affiliate.id as string, ip: "203.0.113.77", source: "api_key" },
    ]);
  });

  test("a forged X-Forwarded-For from an untrusted hop is not believed: the proxy's view counts", async () => {
    // The chain is read from the right: the trusted proxy (the socket) names 198.51.100.9.
    expect((await get(A.key, "10.9.9.9, 198.51.100.9")).status).toBe(200);
    const [row] =
      await h.sql`select host(ip) as ip from affiliate_addresses where host(ip) in ('10.9.9.9', '198.51.100.9')`;
    expect(row?.ip).toBe("198.51.100.9");
  });
});
