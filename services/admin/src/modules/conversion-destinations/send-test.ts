/**
 * "Send test" for an ad-platform destination: one sample event, built and authenticated exactly
 * as a forward (@roundtrip/outbound: the same payload builder, token handling, SSRF guard and
 * request), sent once in the platform's test mode so it never counts as a conversion — Meta and
 * TikTok with the destination's test_event_code (refused without one), Google with validateOnly.
 * The answer says whether the platform accepted the credentials and the payload, with the request
 * as sent (no token) and the platform's answer. Nothing is stored but the audit entry.
 */
import { type ConversionPlatform, maskUrl } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import {
  AccessTokens,
  authorize,
  BadTargetError,
  BlockedAddressError,
  buildRequest,
  checkTarget,
  platformVerdict,
  send,
  TokenRefreshError,
  USER_AGENT,
} from "@roundtrip/outbound";
import { HttpError } from "@roundtrip/service";
import type { SendTestSettings } from "../affiliate-postbacks/send-test.ts";
import { randomToken } from "../../tokens.ts";

type Destination = {
  id: string;
  platform: ConversionPlatform;
  platform_account: string;
  login_account: string | null;
  test_event_code: string | null;
  base_url: string | null;
  events: Record<string, { name: string }>;
  event_source_url: string | null;
  access_token: string | null;
  app_secret: string | null;
  oauth_client: string | null;
  oauth_client_secret: string | null;
  oauth_refresh_token: string | null;
  oauth_token_url: string | null;
  currency: string;
};

export type DestinationTestResult = {
  outcome: "delivered" | "failed" | "refused" | "network_error";
  error: string | null;
  request: { method: "POST"; url: string; body: string };
  response: { status: number; body: string } | null;
  latency_ms: number;
};

export async function sendDestinationTest(
  sql: Sql,
  id: string,
  settings: SendTestSettings,
): Promise<DestinationTestResult> {
  const [d] = await sql<Destination[]>`
    select cd.*, b.currency from conversion_destinations cd join brands b on b.id = cd.brand_id where cd.id = ${id}`;
  if (!d) throw new HttpError(404, "not_found", "no such conversion-destination", "id");
  if (d.platform !== "google" && !d.test_event_code)
    throw new HttpError(
      409,
      "test_mode_unavailable",
      `set test_event_code first: without it a test event would count as a real ${d.platform} conversion`,
      "test_event_code",
    );
  const [event, mapping] = Object.entries(d.events)[0] ?? ["test", { name: "Purchase" }];
  const now = new Date();
  const tag = randomToken(9);
  const planned = buildRequest(
    d,
    {
      eventId: `rt_test_${tag}`,
      eventName: mapping.name,
      eventTime: now,
      clickTime: now,
      clickId: `test_${tag}`,
      adClickId: `test-${event}-${tag}`,
      ip: "203.0.113.1",
      userAgent: USER_AGENT,
      value: "1.00",
      currency: d.currency.trim(),
      sourceUrl: d.event_source_url ?? "https://example.com/",
    },
    { validateOnly: true },
  );
  if ("skip" in planned) throw new Error(`a fresh test event was skipped: ${planned.skip}`);
  const request = { method: "POST" as const, url: maskUrl(planned.url), body: planned.body };
  const t0 = performance.now();
  const result = (r: Omit<DestinationTestResult, "request" | "latency_ms">): DestinationTestResult => ({
    ...r,
    request,
    latency_ms: Math.round(performance.now() - t0),
  });
  let token = d.access_token;
  if (d.oauth_client && d.oauth_client_secret && d.oauth_refresh_token) {
    try {
      token = await new AccessTokens({ allowed: settings.allowed, http: settings.limits }).get({
        destinationId: d.id,
        clientId: d.oauth_client,
        clientSecret: d.oauth_client_secret,
        refreshToken: d.oauth_refresh_token,
        tokenUrl: d.oauth_token_url,
      });
    } catch (err) {
      if (!(err instanceof TokenRefreshError)) throw err;
      return result({ outcome: "failed", error: err.message, response: null });
    }
  }
  const auth = authorize(
    { platform: d.platform, access_token: token ?? "", app_secret: d.app_secret },
    planned.url,
  );
  let target: Awaited<ReturnType<typeof checkTarget>>;
  try {
    target = await checkTarget(auth.url, settings.allowed, settings.resolver);
  } catch (err) {
    const refused = err instanceof BlockedAddressError || err instanceof BadTargetError;
    return result({
      outcome: refused ? "refused" : "network_error",
      error: `${refused ? "" : "dns: "}${(err as Error).message.replaceAll(auth.url, request.url)}`,
      response: null,
    });
  }
  try {
    const res = await send(
      target,
      {
        method: "POST",
        headers: { "user-agent": USER_AGENT, "content-type": "application/json", ...auth.headers },
        body: planned.body,
      },
      settings.limits,
    );
    const verdict = platformVerdict(d.platform, res.status, res.excerpt);
    return result({
      outcome: verdict === "delivered" ? "delivered" : "failed",
      error: verdict === "delivered" ? null : `${d.platform} answered ${res.status}`,
      response: { status: res.status, body: res.excerpt },
    });
  } catch (err) {
    return result({ outcome: "network_error", error: (err as Error).message, response: null });
  }
}
