import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type AdvertiserEntry, loadDirectory, signPostback, verifySignature } from "@roundtrip/intake";
import { adminHarness, type Harness } from "../../test-support.ts";

let h: Harness;
let brandId: string;

beforeAll(async () => {
  h = await adminHarness("advauth");
  brandId = (
    await h.ok<{ id: string }>("POST", "/v1/brands", { slug: "advauth", name: "A", currency: "EUR" })
  ).id;
});
afterAll(async () => {
  await h?.cleanup();
});

type Advertiser = {
  id: string;
  token?: string | null;
  signing_secret?: string;
  ip_allowlist: string[];
  rate_limit_per_second: number | null;
  pixel_enabled: boolean;
  dedup_window_hours: number;
  auth: {
    token: boolean;
    signature: { enabled: boolean; keys: unknown[] };
    ip_allowlist: boolean;
    pixel: boolean;
  };
};

async function entry(id: string): Promise<AdvertiserEntry> {
  return (await loadDirectory(h.sql)).advertisers.get(id) as AdvertiserEntry;
}

describe("advertiser postback authentication through the admin API", () => {
  test("any combination at creation: signature and IP allowlist without a token", async () => {
    const a = await h.ok<Advertiser>("POST", "/v1/advertisers", {
      brand_id: brandId,
      name: "Signed",
      token: null,
      signing_secret: "generate",
      ip_allowlist: ["198.51.100.7", "10.1.2.3/8", "2001:DB8::/32"],
      rate_limit_per_second: 50,
      pixel_enabled: true,
      dedup_window_hours: 48,
    });
    expect(a.token).toBeNull();
    expect(a.signing_secret?.length).toBeGreaterThanOrEqual(32);
    expect(a.ip_allowlist).toEqual(["198.51.100.7/32", "10.0.0.0/8", "2001:db8::/32"]);
    expect(a.auth).toMatchObject({
      token: false,
      signature: { enabled: true },
      ip_allowlist: true,
      pixel: true,
    });
    const e = await entry(a.id);
    expect(e.tokenHash).toBeNull();
    expect(e).toMatchObject({ rateLimitPerSecond: 50, pixelEnabled: true, dedupWindowHours: 48 });
    // The secret admin showed is the one the gateway verifies with.
    const header = signPostback(a.signing_secret as string, { method: "GET", target: "/postback?x=1" });
    expect(
      verifySignature({ header, method: "GET", target: "/postback?x=1", body: "" }, e.signingSecrets).ok,
    ).toBe(true);

    // Never shown again, nor in the audit log.
    for (const path of [
      `/v1/advertisers/${a.id}`,
      "/v1/advertisers?limit=500",
      `/v1/advertisers/${a.id}/auth`,
      "/v1/audit-log?resource=advertisers&limit=500",
    ]) {
      const res = await h.call("GET", path, h.keys.admin);
      expect(res.text.includes(a.signing_secret as string)).toBe(false);
    }
  });

  test("rotating the signing secret keeps the old one valid for the grace period; removing it turns the check off", async () => {
    const a = await h.ok<Advertiser>("POST", "/v1/advertisers", {
      brand_id: brandId,
      name: "Rotating",
      signing_secret: "s".repeat(40),
    });
    const rotated = await h.ok<{ signing_secret: string; previous_valid_until: string }>(
      "POST",
      `/v1/advertisers/${a.id}/signing-secret`,
      {
        grace_hours: 2,
      },
    );
    expect(rotated.signing_secret).not.toBe("s".repeat(40));
    const hours = (Date.parse(rotated.previous_valid_until) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(1.9);
    expect(hours).toBeLessThanOrEqual(2);
    expect((await entry(a.id)).signingSecrets.sort()).toEqual(
      [rotated.signing_secret, "s".repeat(40)].sort(),
    );

    const off = await h.ok<Advertiser>("DELETE", `/v1/advertisers/${a.id}/signing-secret`);
    expect(off.auth.signature.enabled).toBe(false);
    expect((await entry(a.id)).signingSecrets).toEqual([]);
    // A secret chosen by the operator must be long enough.
    const short = await h.call("POST", `/v1/advertisers/${a.id}/signing-secret`, h.keys.admin, {
      secret: "short",
    });
    expect(short.status).toBe(400);
  });

  test("token off and on again; IP allowlist and limits changed by PATCH, bad entries refused by name", async () => {
    const a = await h.ok<Advertiser>("POST", "/v1/advertisers", { brand_id: brandId, name: "Patched" });
    expect(a.auth.token).toBe(true);
    const off = await h.ok<Advertiser>("DELETE", `/v1/advertisers/${a.id}/token`);
    expect(off.auth.token).toBe(false);
    expect((await entry(a.id)).tokenHash).toBeNull();
    await h.ok("POST", `/v1/advertisers/${a.id}/rotate-token`);
    expect((await entry(a.id)).tokenHash).not.toBeNull();

    const patched = await h.ok<Advertiser>("PATCH", `/v1/advertisers/${a.id}`, {
      ip_allowlist: ["203.0.113.0/24"],
      rate_limit_per_second: 10,
      dedup_window_hours: 6,
      pixel_sets_money: true,
    });
    expect(patched).toMatchObject({
      ip_allowlist: ["203.0.113.0/24"],
      rate_limit_per_second: 10,
      dedup_window_hours: 6,
      pixel_sets_money: true,
    });
    // Off unless the operator turns it on.
    expect(a).toMatchObject({ pixel_sets_money: false });
    expect(patched.auth.ip_allowlist).toBe(true);

    for (const [body, field] of [
      [{ ip_allowlist: ["not-an-ip"] }, "ip_allowlist"],
      [{ ip_allowlist: ["10.0.0.0/33"] }, "ip_allowlist"],
      [{ ip_allowlist: ["'; drop table advertisers; --"] }, "ip_allowlist"],
      [{ rate_limit_per_second: 0 }, "rate_limit_per_second"],
      [{ dedup_window_hours: 0 }, "dedup_window_hours"],
      [{ pixel_enabled: "yes" }, "pixel_enabled"],
      [{ pixel_sets_money: "yes" }, "pixel_sets_money"],
      [{ token_hash: "x" }, "token_hash"],
    ] as const) {
      const res = await h.call<{ error: { field: string } }>(
        "PATCH",
        `/v1/advertisers/${a.id}`,
        h.keys.admin,
        body,
      );
      expect(res.status).toBe(400);
      expect(res.body.error.field).toBe(field);
    }
    const back = await h.ok<Advertiser>("PATCH", `/v1/advertisers/${a.id}`, {
      ip_allowlist: [],
      rate_limit_per_second: null,
    });
    expect(back.auth.ip_allowlist).toBe(false);
    expect(back.rate_limit_per_second).toBeNull();
  });

  test("the postback guide shows which checks are on, the per-brand URL and the pixel", async () => {
    const a = await h.ok<Advertiser>("POST", "/v1/advertisers", {
      brand_id: brandId,
      name: "Guide",
      token: null,
      signing_secret: "generate",
      pixel_enabled: true,
    });
    const guide = await h.ok<{
      postback_url: string;
      brand_postback_url: string;
      checks: { token: boolean; signature: { header: string } | false };
      pixel?: { script: string };
    }>("GET", `/v1/advertisers/${a.id}/postback-guide`);
    expect(guide.postback_url).not.toContain("token=");
    expect(guide.brand_postback_url).toContain("/postback/advauth?");
    expect(guide.checks.token).toBe(false);
    expect(guide.checks.signature).toMatchObject({ header: "x-roundtrip-signature" });
    expect(guide.pixel?.script).toBe("http://gateway.test/pixel.js");
  });

  test("only admin and manager change authentication", async () => {
    const a = await h.ok<Advertiser>("POST", "/v1/advertisers", { brand_id: brandId, name: "Roles" });
    for (const [method, path] of [
      ["POST", `/v1/advertisers/${a.id}/signing-secret`],
      ["DELETE", `/v1/advertisers/${a.id}/signing-secret`],
      ["DELETE", `/v1/advertisers/${a.id}/token`],
    ] as const) {
      expect((await h.call(method, path, h.keys.analyst)).status).toBe(403);
    }
  });
});
