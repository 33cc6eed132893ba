/**
 * Conversions API forwarding end to end (docs/conversions-api.md): the six real services, an
 * affiliate endpoint and three local servers standing in for Meta, Google (Data Manager API) and
 * TikTok that check each platform's documented payload rules. A click carrying fbclid, gclid and
 * ttclid, a postback, and the conversion forwarded once per platform with the advertiser's
 * transaction ID as event_id; a retried forward keeps it; an event older than Meta's and TikTok's
 * 7 days is recorded as skipped with the reason (deliveries list and trace) and never sent.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ConversionPlatform } from "@roundtrip/contracts";
import { type PlatformServer, startPlatformServer } from "@roundtrip/outbound/testing";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { BROWSER_UA } from "./support/load.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

let env: TestStack;
let affiliate: ReturnType<typeof startAffiliateEndpoint>;
let program: Program;
const TOKENS: Record<ConversionPlatform, string> = {
  meta: "EAAB-e2e-meta-token-secret",
  google: "ya29.e2e-google-token-secret",
  tiktok: "e2e-tiktok-token-secret",
};
const platforms = {} as Record<ConversionPlatform, PlatformServer>;
// biome-ignore lint/suspicious/noExplicitAny: payloads as the platform servers received them
type Json = any;

beforeAll(async () => {
  affiliate = startAffiliateEndpoint();
  // Meta answers its first request with a transient error: the forward is retried.
  platforms.meta = startPlatformServer("meta", {
    token: TOKENS.meta,
    appSecret: "e2e-app-secret",
    failFirst: 1,
  });
  platforms.google = startPlatformServer("google", { token: TOKENS.google });
  platforms.tiktok = startPlatformServer("tiktok", { token: TOKENS.tiktok });
  env = await startTestStack("capi", { DELIVERY_RETRY_SCHEDULE_S: "0,0.5,0.5,0.5" });
  program = await createProgram(env.admin, { postbackUrl: affiliate.url });
  const common = { brand_id: program.brand.id, offer_id: program.offer.id };
  await env.admin.post("/v1/conversion-destinations", {
    ...common,
    platform: "meta",
    name: "Meta dataset",
    platform_account: "1234567890123",
    access_token: TOKENS.meta,
    app_secret: "e2e-app-secret",
    events: { ftd: { name: "Purchase" }, registration: { name: "CompleteRegistration", value: "none" } },
    base_url: platforms.meta.url,
  });
  await env.admin.post("/v1/conversion-destinations", {
    ...common,
    platform: "google",
    name: "Google Ads",
    platform_account: "1234567890",
    access_token: TOKENS.google,
    events: { ftd: { name: "555000111" } },
    base_url: platforms.google.url,
  });
  await env.admin.post("/v1/conversion-destinations", {
    ...common,
    platform: "tiktok",
    name: "TikTok pixel",
    platform_account: "CTIKTOKPIXEL1",
    access_token: TOKENS.tiktok,
    events: { ftd: { name: "CompletePayment" } },
    base_url: platforms.tiktok.url,
  });
}, 120_000);

afterAll(async () => {
  await env?.stop();
  affiliate?.stop();
  for (const s of Object.values(platforms)) s?.stop();
}, 60_000);

/** A browser following the tracking link from an ad; waits until attribution stored the click. */
async function click(query: string): Promise<string> {
  const res = await eventually(async () => {
    const r = await fetch(`${env.urls.click}/c/${program.link.code}${query}`, {
      redirect: "manual",
      headers: { "user-agent": BROWSER_UA },
    });
    return r.status === 302 ? r : undefined;
  }, "the tracking link to redirect");
  const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
  await eventually(async () => {
    const rows = await env.sql`select 1 from clicks where click_id = ${clickId}`;
    return rows.length > 0;
  }, "the click row");
  return clickId;
}

async function postback(params: Record<string, string>) {
  const res = await fetch(
    `${env.urls.gateway}/postback?${new URLSearchParams({ token: program.advertiser.token, ...params })}`,
  );
  expect(res.status).toBe(200);
}

type Delivery = {
  id: string;
  destination_id: string | null;
  status: string;
  platform_event_id: string | null;
  last_error: string | null;
  attempts: number;
};

async function deliveriesOf(clickId: string, settled: number): Promise<Delivery[]> {
  return eventually(
    async () => {
      const [c] = await env.sql`select id from conversions where click_id = ${clickId}`;
      if (!c) return undefined;
      const list = await env.admin.get<{ data: Delivery[] }>(`/v1/deliveries?conversion_id=${c.id}`);
      const done = list.data.filter((d) => d.destination_id && d.status !== "pending");
      return done.length >= settled ? list.data : undefined;
    },
    "the platform deliveries to settle",
    30_000,
  );
}

const eventsOf = (platform: ConversionPlatform, txid: string): Json[] =>
  platforms[platform].requests.flatMap((r) => {
    const body = r.body as Json;
    const events: Json[] = platform === "google" ? body.events : body.data;
    return events.filter((e) => (e.event_id ?? e.transactionId) === txid);
  });

describe("conversions forwarded to ad platforms", () => {
  test("a click with fbclid, gclid and ttclid and a postback: one forward per platform, documented payloads, the txid as event_id", async () => {
    const clickId = await click("?sub1=ads&fbclid=IwAR-e2e-fb&gclid=Cj0KCQ-e2e-g&ttclid=E.C.P.e2e-tt");
    await postback({ click_id: clickId, txid: "capi-tx-1", event: "ftd", amount: "120.00" });
    const list = await deliveriesOf(clickId, 3);
    const forwards = list.filter((d) => d.destination_id);
    expect(forwards.map((d) => [d.status, d.platform_event_id])).toEqual([
      ["delivered", "capi-tx-1"],
      ["delivered", "capi-tx-1"],
      ["delivered", "capi-tx-1"],
    ]);
    // the affiliate's own postback went out as before
    expect(list.filter((d) => !d.destination_id)).toHaveLength(1);
    for (const s of Object.values(platforms)) expect(s.problems()).toEqual([]);

    // Meta: retried after its transient error, the same event_id both times; accepted once.
    const meta = eventsOf("meta", "capi-tx-1");
    expect(meta).toHaveLength(2);
    expect(meta[0]).toEqual(meta[1]);
    expect(meta[0]).toMatchObject({
      event_name: "Purchase",
      action_source: "website",
      event_source_url: "https://casino.example/landing",
      custom_data: { value: 120, currency: "EUR" },
      user_data: { client_user_agent: BROWSER_UA },
    });
    expect(meta[0].user_data.fbc).toMatch(/^fb\.1\.\d{13}\.IwAR-e2e-fb$/);
    expect(meta[0].user_data.external_id[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(forwards.map((d) => d.attempts).sort()).toEqual([1, 1, 2]);

    const google = eventsOf("google", "capi-tx-1");
    expect(google).toHaveLength(1);
    expect(google[0]).toMatchObject({
      adIdentifiers: { gclid: "Cj0KCQ-e2e-g" },
      conversionValue: 120,
      currency: "EUR",
    });
    const tiktok = eventsOf("tiktok", "capi-tx-1");
    expect(tiktok).toHaveLength(1);
    expect(tiktok[0]).toMatchObject({ event: "CompletePayment", user: { ttclid: "E.C.P.e2e-tt" } });

    // The same postback again is a duplicate: nothing is forwarded a second time.
    await postback({ click_id: clickId, txid: "capi-tx-1", event: "ftd", amount: "120.00" });
    await Bun.sleep(1_500);
    expect(eventsOf("google", "capi-tx-1")).toHaveLength(1);
    expect(eventsOf("tiktok", "capi-tx-1")).toHaveLength(1);

    // No token in what is stored or shown.
    const shown = JSON.stringify([
      await env.admin.get(`/v1/deliveries/${forwards[0]?.id}`),
      await env.admin.get("/v1/conversion-destinations"),
      await env.sql`select * from delivery_attempts`,
      await env.sql`select after from audit_log where resource = 'conversion-destinations'`,
    ]);
    for (const token of Object.values(TOKENS)) expect(shown).not.toContain(token);
  });

  test("an event older than Meta's and TikTok's 7 days is skipped with the reason, visible in the deliveries list and the trace; Google (90 days from the click) still gets it", async () => {
    const clickId = await click("?gclid=Cj0-old-g&fbclid=IwAR-old&ttclid=tt-old");
    const eightDaysAgo = Math.floor((Date.now() - 8 * 86_400_000) / 1000);
    await postback({
      click_id: clickId,
      txid: "capi-old",
      event: "ftd",
      amount: "80.00",
      timestamp: String(eightDaysAgo),
    });
    const list = await deliveriesOf(clickId, 3);
    const forwards = list.filter((d) => d.destination_id);
    expect(forwards.map((d) => [d.status, d.last_error]).sort()).toEqual([
      ["delivered", null],
      ["skipped", "too old for meta: the event is more than 7 days old"],
      ["skipped", "too old for tiktok: the event is more than 7 days old"],
    ]);
    expect(eventsOf("meta", "capi-old")).toHaveLength(0);
    expect(eventsOf("tiktok", "capi-old")).toHaveLength(0);
    expect(eventsOf("google", "capi-old")).toHaveLength(1);
    const skipped = await env.admin.get<{ data: Delivery[] }>("/v1/deliveries?status=skipped");
    expect(skipped.data.map((d) => d.platform_event_id)).toEqual(["capi-old", "capi-old"]);
    const trace = await env.admin.get<{
      conversions: { deliveries: Delivery[] }[];
      timeline: { kind: string; summary: string }[];
    }>(`/v1/trace?click_id=${clickId}`);
    expect(trace.conversions[0]?.deliveries.filter((d) => d.status === "skipped")).toHaveLength(2);
    const lines = trace.timeline.map((e) => e.summary);
    expect(lines.filter((l) => l.startsWith("ad-platform forward skipped")).sort()).toEqual([
      "ad-platform forward skipped: too old for meta: the event is more than 7 days old",
      "ad-platform forward skipped: too old for tiktok: the event is more than 7 days old",
    ]);
    expect(lines).toContain("ad-platform forward attempt 1 → 200");
  });
});
