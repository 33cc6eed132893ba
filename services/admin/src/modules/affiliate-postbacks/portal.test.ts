/**
 * The affiliate portal's own actions against a real admin process: the link builder and a
 * template's "send test", which reaches a real endpoint (a small server on 127.0.0.1, allowed by
 * DELIVERY_ALLOWED_CIDRS exactly as for delivery) and is refused by the same SSRF guard for
 * anything else. An affiliate acts only on its own links and templates.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Webhook } from "standardwebhooks";
import { adminHarness, type Harness } from "../../test-support.ts";
import { type Partner, seedPartner } from "../../testing/partners.ts";

type Received = { method: string; url: string; headers: Record<string, string>; body: string };
type TestAnswer = {
  outcome: string;
  error: string | null;
  request: { method: string; url: string; headers: Record<string, string>; body: string | null };
  response: { status: number; body: string; headers: Record<string, string> } | null;
  values: Record<string, string>;
};

let h: Harness;
let A: Partner;
let B: Partner;
let endpoint: ReturnType<typeof Bun.serve>;
const received: Received[] = [];

beforeAll(async () => {
  endpoint = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      received.push({
        method: req.method,
        url: `${url.pathname}${url.search}`,
        headers: Object.fromEntries(req.headers),
        body: await req.text(),
      });
      if (url.pathname === "/broken") return new Response("upstream exploded", { status: 500 });
      return new Response(`ok ${url.searchParams.get("cid")}`, { headers: { "x-partner": "yes" } });
    },
  });
  h = await adminHarness("portal", {
    process: true,
    publicClickUrl: "https://track.example",
    env: { DELIVERY_ALLOWED_CIDRS: "127.0.0.0/8" },
  });
  A = await seedPartner(h, "A");
  B = await seedPartner(h, "B");
}, 90_000);

afterAll(async () => {
  await h?.cleanup();
  endpoint?.stop(true);
});

const template = (affiliateId: string, body: Record<string, unknown>) =>
  h.ok<{ id: string }>("POST", "/v1/affiliate-postbacks", { affiliate_id: affiliateId, ...body });

describe("send test", () => {
  test("an affiliate's test reaches its URL, signed like a delivery, and shows request and response", async () => {
    const t = await template(A.affiliate.id, {
      url_template: `http://127.0.0.1:${endpoint.port}/pb?cid={click_id}&payout={payout}&s={sub1}&token=hush`,
    });
    const before = received.length;
    const a = await h.call<TestAnswer>("POST", `/v1/affiliate-postbacks/${t.id}/test`, A.key);
    expect(a.status, a.text).toBe(200);
    expect(a.body.outcome).toBe("delivered");
    expect(received.length).toBe(before + 1);
    const got = received[received.length - 1] as Received;
    expect(got.url).toBe(`/pb?cid=${a.body.values.click_id}&payout=0.00&s=test&token=hush`);
    expect(a.body.values.click_id).toStartWith("test_");
    expect(a.body.response).toMatchObject({ status: 200, body: `ok ${a.body.values.click_id}` });
    expect(a.body.response?.headers["x-partner"]).toBe("yes");
    // the URL's secret is masked in the answer (and the audit log), not in what was sent
    expect(a.body.request.url).toContain("token=***");
    expect(a.text).not.toContain("hush");
    // Standard Webhooks headers as a delivery sends them, verifiable with the affiliate's secret
    expect(got.headers["user-agent"]).toBe("Roundtrip-Postback/1.0");
    expect(got.headers["webhook-id"]).toBe(a.body.request.headers["webhook-id"]);
    const [secret] = await h.sql<{ secret: string }[]>`
      select secret from affiliate_webhook_secrets where affiliate_id = ${A.affiliate.id}`;
    expect(() =>
      new Webhook(secret?.secret as string).verify(got.url, got.headers, { jsonParse: false }),
    ).not.toThrow();
    // nothing booked or queued, the template's health untouched
    expect((await h.sql`select 1 from deliveries where template_id = ${t.id}`).length).toBe(0);
    const audit = await h.call<{ data: { action: string; after: Record<string, unknown> }[] }>(
      "GET",
      `/v1/audit-log?resource=affiliate-postbacks&resource_id=${t.id}&action=send-test`,
      h.keys.admin,
    );
    expect(audit.body.data[0]?.after).toMatchObject({ outcome: "delivered", status: 200 });
  });

  test("a POST template is sent with its rendered body; a failing endpoint's answer is shown", async () => {
    const t = await template(A.affiliate.id, {
      method: "POST",
      url_template: `http://127.0.0.1:${endpoint.port}/broken`,
      body_template: '{"id":"{click_id}","event":"{event}"}',
    });
    const a = await h.call<TestAnswer>("POST", `/v1/affiliate-postbacks/${t.id}/test`, h.keys.manager);
    expect(a.body.outcome).toBe("failed");
    expect(a.body.error).toContain("500");
    expect(a.body.response).toMatchObject({ status: 500, body: "upstream exploded" });
    const got = received[received.length - 1] as Received;
    expect(got.method).toBe("POST");
    expect(JSON.parse(got.body)).toEqual({ id: a.body.values.click_id, event: "test" });
    expect(got.headers["content-type"]).toBe("application/json");
  });

  test("the SSRF guard refuses private and metadata addresses before any connection", async () => {
    for (const url of [
      "http://169.254.169.254/latest/meta-data",
      "http://10.1.2.3/pb",
      "http://[::1]:9/pb",
    ]) {
      const t = await template(A.affiliate.id, { url_template: url });
      const a = await h.call<TestAnswer>("POST", `/v1/affiliate-postbacks/${t.id}/test`, A.key);
      expect(a.status).toBe(200);
      expect(a.body.outcome, url).toBe("refused");
      expect(a.body.response).toBeNull();
      expect(a.body.error).toMatch(/refused to connect/);
    }
  });

  test("an affiliate cannot test another's template; an analyst cannot send at all", async () => {
    const before = received.length;
    const t = await template(B.affiliate.id, {
      url_template: `http://127.0.0.1:${endpoint.port}/pb?cid={click_id}`,
    });
    expect((await h.call("POST", `/v1/affiliate-postbacks/${t.id}/test`, A.key)).status).toBe(404);
    expect((await h.call("POST", `/v1/affiliate-postbacks/${t.id}/test`, h.keys.analyst)).status).toBe(403);
    expect(received.length).toBe(before);
    expect((await h.call("POST", `/v1/affiliate-postbacks/${t.id}/test`, B.key)).status).toBe(200);
    expect(received.length).toBe(before + 1);
  });
});

describe("link builder", () => {
  test("an affiliate builds its tracking URL with sub IDs, encoded", async () => {
    const a = await h.call<{ tracking_url: string; affiliate_id: string; id: string }>(
      "GET",
      `/v1/links/build?offer_id=${A.offer.id}&sub1=${encodeURIComponent("a b&c")}&sub3=x%2Fy&sub2=`,
      A.key,
    );
    expect(a.status, a.text).toBe(200);
    const url = new URL(a.body.tracking_url);
    expect(`${url.origin}${url.pathname}`).toBe(`https://track.example/c/${A.link.code}`);
    expect([...url.searchParams]).toEqual([
      ["sub1", "a b&c"],
      ["sub3", "x/y"],
    ]);
    expect(a.body.id).toBe(A.link.id);
  });

  test("another affiliate's offer has no link of this affiliate; staff name the affiliate", async () => {
    expect((await h.call("GET", `/v1/links/build?offer_id=${B.offer.id}`, A.key)).status).toBe(404);
    // an affiliate naming another affiliate still gets its own scope
    const own = await h.call(
      "GET",
      `/v1/links/build?offer_id=${B.offer.id}&affiliate_id=${B.affiliate.id}`,
      A.key,
    );
    expect(own.status).toBe(404);
    expect((await h.call("GET", `/v1/links/build?offer_id=${A.offer.id}`, h.keys.analyst)).status).toBe(400);
    const staff = await h.call<{ tracking_url: string }>(
      "GET",
      `/v1/links/build?offer_id=${B.offer.id}&affiliate_id=${B.affiliate.id}&sub1=z`,
      h.keys.analyst,
    );
    expect(staff.body.tracking_url).toBe(`https://track.example/c/${B.link.code}?sub1=z`);
  });
});
