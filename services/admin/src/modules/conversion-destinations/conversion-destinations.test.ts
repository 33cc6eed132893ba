import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type PlatformServer, startOAuthServer, startPlatformServer } from "@roundtrip/outbound/testing";
import { adminHarness, type Harness, program } from "../../test-support.ts";

// biome-ignore lint/suspicious/noExplicitAny: answers read generically
type Json = any;
let h: Harness;
let p: Awaited<ReturnType<typeof program>>;
const TOKEN = "EAAB-secret-meta-token-0123456789";

beforeAll(async () => {
  // the platforms' stand-ins listen on 127.0.0.1: exempt from the SSRF guard as in every test
  h = await adminHarness("capi-destinations", { env: { DELIVERY_ALLOWED_CIDRS: "127.0.0.0/8" } });
  p = await program(h);
}, 90_000);
afterAll(async () => {
  await h?.cleanup();
});

const meta = (over: Record<string, unknown> = {}) => ({
  brand_id: p.brand.id,
  platform: "meta",
  name: "Meta dataset",
  platform_account: "1234567890123",
  access_token: TOKEN,
  app_secret: "meta-app-secret-value",
  events: { ftd: { name: "Purchase" }, registration: { name: "Lead", value: "none" } },
  ...over,
});

describe("ad-platform destinations", () => {
  test("created with a write-only token: the answer, the list, the row's audit never carry it", async () => {
    const created = await h.call<Record<string, unknown>>(
      "POST",
      "/v1/conversion-destinations",
      h.keys.admin,
      meta(),
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      platform: "meta",
      token_hint: "…6789",
      send_on: "booked",
      status: "active",
    });
    expect(created.body).not.toHaveProperty("access_token");
    expect(created.body).not.toHaveProperty("app_secret");
    const id = created.body.id as string;
    const list = await h.call(
      "GET",
      `/v1/conversion-destinations?brand_id=${p.brand.id}&platform=meta`,
      h.keys.analyst,
    );
    const one = await h.call("GET", `/v1/conversion-destinations/${id}`, h.keys.manager);
    const audit =
      await h.sql`select after from audit_log where resource = 'conversion-destinations' and resource_id = ${id}`;
    for (const text of [list.text, one.text, JSON.stringify(audit)]) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain("meta-app-secret-value");
    }
    expect((list.body as { data: unknown[] }).data).toHaveLength(1);
    const [stored] =
      await h.sql`select access_token, app_secret from conversion_destinations where id = ${id}`;
    expect(stored).toEqual({ access_token: TOKEN, app_secret: "meta-app-secret-value" });
  });

  test("a rotated token is stored, hinted and audited as replaced; disabling is the operator's", async () => {
    const { id } = await h.ok<{ id: string }>(
      "POST",
      "/v1/conversion-destinations",
      meta({ name: "rotate" }),
    );
    const next = "EAAB-next-token-abcdefgh";
    const patched = await h.call<Record<string, unknown>>(
      "PATCH",
      `/v1/conversion-destinations/${id}`,
      h.keys.admin,
      {
        access_token: next,
        status: "disabled",
      },
    );
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      token_hint: "…efgh",
      status: "disabled",
      disabled_reason: "operator",
    });
    const [row] = await h.sql`select access_token from conversion_destinations where id = ${id}`;
    expect(row?.access_token).toBe(next);
    const [audit] = await h.sql`
      select after from audit_log where resource = 'conversion-destinations' and resource_id = ${id} and action = 'update'`;
    expect(audit?.after).toMatchObject({ access_token: "(replaced)", status: "disabled" });
    expect(JSON.stringify(audit)).not.toContain(next);
  });

  test("what a platform does not accept is a 400 naming the field", async () => {
    const refused = async (body: Record<string, unknown>) => {
      const a = await h.call<{ error: { field: string } }>(
        "POST",
        "/v1/conversion-destinations",
        h.keys.admin,
        body,
      );
      expect(a.status).toBe(400);
      return a.body.error.field;
    };
    expect(await refused(meta({ platform: "google", app_secret: undefined }))).toBe("platform_account");
    expect(
      await refused(meta({ platform: "google", platform_account: "1234567890", app_secret: undefined })),
    ).toBe("events.ftd.name");
    expect(await refused(meta({ platform: "tiktok", platform_account: "CABC" }))).toBe("app_secret");
    expect(await refused(meta({ login_account: "1234567890" }))).toBe("login_account");
    expect(await refused(meta({ events: {} }))).toBe("events");
    expect(await refused(meta({ access_token: undefined }))).toBe("access_token");
    expect(await refused(meta({ extra: 1 }))).toBe("extra");
    const other = await program(h);
    expect(await refused(meta({ offer_id: other.offer.id }))).toBe("offer_id");
  });

  test("Google with OAuth refresh credentials instead of an access token: all three or none, Google only, write-only", async () => {
    const google = {
      brand_id: p.brand.id,
      platform: "google",
      name: "Google Ads (OAuth)",
      platform_account: "1234567890",
      events: { ftd: { name: "987654321" } },
      oauth_client: "123-abc.apps.googleusercontent.com",
      oauth_client_secret: "GOCSPX-client-secret",
      oauth_refresh_token: "1//refresh-token-value",
    };
    const created = await h.call<Record<string, unknown>>(
      "POST",
      "/v1/conversion-destinations",
      h.keys.admin,
      google,
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ oauth_client: google.oauth_client, token_hint: "…alue" });
    for (const secret of ["GOCSPX-client-secret", "1//refresh-token-value"])
      expect(created.text).not.toContain(secret);
    const field = async (body: Record<string, unknown>) => {
      const a = await h.call<{ error: { field: string } }>(
        "POST",
        "/v1/conversion-destinations",
        h.keys.admin,
        body,
      );
      expect(a.status).toBe(400);
      return a.body.error.field;
    };
    expect(await field({ ...google, oauth_refresh_token: undefined })).toBe("oauth_refresh_token");
    expect(
      await field({
        ...google,
        oauth_client: undefined,
        oauth_client_secret: undefined,
        oauth_refresh_token: undefined,
      }),
    ).toBe("access_token");
    expect(await field(meta({ oauth_client: "x" }))).toBe("oauth_client");
    const rotated = await h.call("PATCH", `/v1/conversion-destinations/${created.body.id}`, h.keys.admin, {
      oauth_refresh_token: "1//another-refresh-token",
    });
    expect(rotated.status).toBe(200);
    const [audit] = await h.sql`
      select after from audit_log where resource = 'conversion-destinations' and resource_id = ${created.body.id as string} and action = 'update'`;
    expect(audit?.after).toMatchObject({ oauth_refresh_token: "(replaced)", token_hint: "…oken" });
    expect(JSON.stringify(audit)).not.toContain("another-refresh");
  });

  test("staff read, admin and manager write; an analyst or an affiliate changes nothing", async () => {
    expect((await h.call("POST", "/v1/conversion-destinations", h.keys.analyst, meta())).status).toBe(403);
    const affiliate = await h.affiliateKey(p.affiliate.id);
    expect((await h.call("GET", "/v1/conversion-destinations", affiliate)).status).toBe(403);
    expect((await h.call("POST", "/v1/conversion-destinations", affiliate, meta())).status).toBe(403);
    const google = await h.call<Record<string, unknown>>(
      "POST",
      "/v1/conversion-destinations",
      h.keys.manager,
      {
        brand_id: p.brand.id,
        offer_id: p.offer.id,
        platform: "google",
        name: "Google Ads",
        platform_account: "1234567890",
        login_account: "9876543210",
        access_token: "ya29.token-value",
        events: { ftd: { name: "987654321" } },
        send_on: "approved",
      },
    );
    expect(google.status).toBe(201);
    expect(google.body).toMatchObject({
      offer_id: p.offer.id,
      login_account: "9876543210",
      send_on: "approved",
    });
  });

  test("send test: one event in the platform's test mode, built and authenticated as a forward; the token never shown", async () => {
    const servers: PlatformServer[] = [];
    const oauth = startOAuthServer({
      clientId: "c-1",
      clientSecret: "c-secret-value",
      refreshToken: "1//refresh-r",
    });
    try {
      const metaServer = startPlatformServer("meta", { token: TOKEN });
      const google = startPlatformServer("google", { token: (t) => oauth.issued.includes(t ?? "") });
      servers.push(metaServer, google);
      const metaId = (
        await h.ok<{ id: string }>(
          "POST",
          "/v1/conversion-destinations",
          meta({ name: "test", base_url: metaServer.url }),
        )
      ).id;
      // Without a test event code the event would count: refused.
      const refused = await h.call<{ error: { code: string; field: string } }>(
        "POST",
        `/v1/conversion-destinations/${metaId}/test`,
        h.keys.admin,
      );
      expect([refused.status, refused.body.error.code, refused.body.error.field]).toEqual([
        409,
        "test_mode_unavailable",
        "test_event_code",
      ]);
      await h.ok("PATCH", `/v1/conversion-destinations/${metaId}`, { test_event_code: "TEST123" });
      const sent = await h.call<Json>("POST", `/v1/conversion-destinations/${metaId}/test`, h.keys.admin);
      expect(sent.status).toBe(200);
      expect(sent.body).toMatchObject({ outcome: "delivered", error: null, response: { status: 200 } });
      expect(sent.text).not.toContain(TOKEN);
      expect(metaServer.problems()).toEqual([]);
      expect(metaServer.requests[0]?.body).toMatchObject({
        test_event_code: "TEST123",
        data: [{ event_name: "Purchase" }],
      });
      // Google: validateOnly, with a token from the OAuth refresh credentials.
      const googleId = (
        await h.ok<{ id: string }>("POST", "/v1/conversion-destinations", {
          brand_id: p.brand.id,
          platform: "google",
          name: "Google test",
          platform_account: "1234567890",
          events: { ftd: { name: "987654321" } },
          oauth_client: "c-1",
          oauth_client_secret: "c-secret-value",
          oauth_refresh_token: "1//refresh-r",
          oauth_token_url: oauth.url,
          base_url: google.url,
        })
      ).id;
      const g = await h.call<Json>("POST", `/v1/conversion-destinations/${googleId}/test`, h.keys.manager);
      expect(g.body).toMatchObject({ outcome: "delivered", response: { status: 200 } });
      expect(google.requests[0]?.body).toMatchObject({ validateOnly: true });
      expect(google.problems()).toEqual([]);
      // A wrong token is the platform's refusal, shown as it answered.
      await h.ok("PATCH", `/v1/conversion-destinations/${metaId}`, { access_token: "EAAB-wrong-token-000" });
      const wrong = await h.call<Json>("POST", `/v1/conversion-destinations/${metaId}/test`, h.keys.admin);
      expect(wrong.body).toMatchObject({
        outcome: "failed",
        error: "meta answered 400",
        response: { status: 400 },
      });
      expect(
        (await h.call("POST", `/v1/conversion-destinations/${metaId}/test`, h.keys.analyst)).status,
      ).toBe(403);
      const audits = await h.sql`
        select count(*)::int as n from audit_log where resource = 'conversion-destinations' and action = 'send-test'`;
      expect(audits[0]?.n).toBe(3);
    } finally {
      for (const s of servers) s.stop();
      oauth.stop();
    }
  });
});
