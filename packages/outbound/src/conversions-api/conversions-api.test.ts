import { afterAll, describe, expect, test } from "bun:test";
import { buildRequest, type DestinationConfig, type ForwardedEvent, sha256 } from "./payloads.ts";
import { type PlatformServer, startPlatformServer } from "./platform-servers.ts";

const servers: PlatformServer[] = [];
afterAll(() => {
  for (const s of servers) s.stop();
});

const DAY = 86_400_000;
const destination = (
  platform: DestinationConfig["platform"],
  base_url: string | null = null,
): DestinationConfig => ({
  platform,
  platform_account: platform === "google" ? "1234567890" : "1234567890123",
  login_account: null,
  test_event_code: null,
  base_url,
});
const event = (over: Partial<ForwardedEvent> = {}): ForwardedEvent => ({
  eventId: "tx-1",
  eventName: "Purchase",
  eventTime: new Date(Date.now() - 60_000),
  clickTime: new Date(Date.now() - 3_600_000),
  clickId: "AbC123",
  adClickId: "IwAR-1",
  ip: "203.0.113.7",
  userAgent: "Mozilla/5.0",
  value: "10.50",
  currency: "EUR",
  sourceUrl: "https://casino.example/landing",
  ...over,
});

async function post(
  server: PlatformServer,
  body: unknown,
  path: string,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("the payloads", () => {
  test("hashes are SHA-256 of the trimmed, lower-cased value, as 64 hex", () => {
    expect(sha256(" AbC ")).toBe(sha256("abc"));
    expect(sha256("abc")).toMatch(/^[0-9a-f]{64}$/);
  });

  test("age limits: Meta and TikTok from the event (7 days), Google from the click (90 days)", () => {
    const old = event({
      eventTime: new Date(Date.now() - 8 * DAY),
      clickTime: new Date(Date.now() - 8 * DAY),
    });
    expect(buildRequest(destination("meta"), old)).toMatchObject({
      skip: expect.stringContaining("more than 7 days"),
    });
    expect(buildRequest(destination("tiktok"), old)).toMatchObject({
      skip: expect.stringContaining("more than 7 days"),
    });
    const google = buildRequest(destination("google"), { ...old, eventName: "123" });
    expect("url" in google).toBe(true);
    expect(google.sendBefore.getTime()).toBe((old.clickTime as Date).getTime() + 90 * DAY);
    const stale = { ...old, clickTime: new Date(Date.now() - 91 * DAY) };
    expect(buildRequest(destination("google"), stale)).toMatchObject({
      skip: expect.stringContaining("90 days"),
    });
  });

  test("Google: the gclid, else an iOS click's gbraid or wbraid; none of them is a skip", () => {
    const body = (e: ForwardedEvent) => {
      const planned = buildRequest(destination("google"), { ...e, eventName: "1" });
      return "body" in planned ? JSON.parse(planned.body).events[0].adIdentifiers : planned.skip;
    };
    expect(body(event({ adClickId: "Cj0" }))).toMatchObject({ gclid: "Cj0" });
    expect(body(event({ adClickId: null, gbraid: "gb1", wbraid: "wb1" }))).toMatchObject({ gbraid: "gb1" });
    expect(body(event({ adClickId: null, wbraid: "wb1" }))).toMatchObject({ wbraid: "wb1" });
    expect(body(event({ adClickId: null }))).toBe(
      "no gclid on the click: Google Ads has nothing to match it to",
    );
  });

  test("the token is never part of a planned request", () => {
    for (const platform of ["meta", "google", "tiktok"] as const) {
      const planned = buildRequest(
        destination(platform),
        event({ eventName: platform === "google" ? "1" : "Purchase" }),
      );
      expect(JSON.stringify(planned)).not.toMatch(/token|secret/i);
    }
  });
});

describe("the platform stand-ins refuse what the platforms refuse", () => {
  test("Meta: a hashed IP, a missing event_id, an 8-day-old event, a Purchase without value, a wrong token", async () => {
    const meta = startPlatformServer("meta", { token: "right" });
    servers.push(meta);
    const good = JSON.parse((buildRequest(destination("meta"), event()) as { body: string }).body);
    const path = "/v24.0/1234567890123/events?access_token=right";
    expect((await post(meta, good, path)).status).toBe(200);
    const bad = structuredClone(good);
    bad.data[0].user_data.client_ip_address = sha256("203.0.113.7");
    delete bad.data[0].event_id;
    bad.data[0].event_time = Math.floor((Date.now() - 8 * DAY) / 1000);
    delete bad.data[0].custom_data;
    const refused = await post(meta, bad, "/v24.0/1234567890123/events?access_token=wrong");
    expect(refused.status).toBe(400);
    expect(meta.requests.at(-1)?.problems).toEqual([
      "access_token missing or wrong",
      "data[0].event_time is more than 7 days old",
      "data[0].event_id is required for deduplication",
      "data[0].user_data.client_ip_address must be an IP address in clear (not hashed)",
      "data[0].custom_data.value must be a number",
      "data[0].custom_data.currency must be ISO 4217",
    ]);
  });

  test("TikTok refuses with HTTP 200 and a code; Google with 400, or 401 for its token", async () => {
    const tiktok = startPlatformServer("tiktok", { token: "tt" });
    const google = startPlatformServer("google", { token: "g" });
    servers.push(tiktok, google);
    const t = JSON.parse(
      (buildRequest(destination("tiktok"), event({ eventName: "CompletePayment" })) as { body: string }).body,
    );
    t.data[0].user.external_id = "not-a-hash";
    const tr = await post(tiktok, t, "/open_api/v1.3/event/track/", { "access-token": "tt" });
    expect([tr.status, tr.body.code]).toEqual([200, 40002]);
    expect(tiktok.requests.at(-1)?.problems).toEqual([
      "data[0].user.external_id must be SHA-256 as 64 lower-case hex",
    ]);
    const g = JSON.parse(
      (buildRequest(destination("google"), event({ eventName: "555" })) as { body: string }).body,
    );
    expect((await post(google, g, "/v1/events:ingest", { authorization: "Bearer g" })).status).toBe(200);
    expect((await post(google, g, "/v1/events:ingest", { authorization: "Bearer expired" })).status).toBe(
      401,
    );
    g.events[0].adIdentifiers = {};
    expect((await post(google, g, "/v1/events:ingest", { authorization: "Bearer g" })).status).toBe(400);
    expect(google.requests.at(-1)?.problems).toEqual(["events[0] needs a gclid, gbraid, wbraid or userData"]);
  });
});
