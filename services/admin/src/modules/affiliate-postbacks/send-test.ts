/**
 * "Send test" for a postback template: renders it with sample values, signs it as the delivery
 * sender would (Standard Webhooks headers with the affiliate's secrets), checks the URL with the
 * same SSRF guard and sends it once through the same pinned-address request
 * (@roundtrip/outbound) — so what a partner receives from a test is what a delivery sends, and
 * a test cannot reach an address a delivery could not. Nothing is booked or queued; the answer
 * is the request as sent and the response as received.
 */
import { type BodyContentType, maskUrl, renderBody, renderUrl } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import {
  BadTargetError,
  BlockedAddressError,
  type Cidr,
  checkTarget,
  type Limits,
  type Resolver,
  send,
  signedPayload,
  USER_AGENT,
  webhookHeaders,
} from "@roundtrip/outbound";
import { randomToken } from "../../tokens.ts";

export type SendTestSettings = { allowed: Cidr[]; limits: Limits; resolver?: Resolver };

export const DEFAULT_TEST_LIMITS: Limits = {
  connectTimeoutMs: 3_000,
  totalTimeoutMs: 10_000,
  excerptBytes: 2_000,
};

type Template = {
  id: string;
  affiliate_id: string;
  offer_id: string | null;
  event: string | null;
  method: "GET" | "POST";
  url_template: string;
  body_template: string | null;
  content_type: BodyContentType;
  payout_currency: string | null;
};

export type TestResult = {
  outcome: "delivered" | "failed" | "refused" | "network_error";
  /** Why it was not delivered, in words (refused address, network error, a non-2xx answer). */
  error: string | null;
  request: { method: "GET" | "POST"; url: string; headers: Record<string, string>; body: string | null };
  response: {
    status: number;
    headers: Record<string, string>;
    body: string;
    remote_address: string | null;
  } | null;
  latency_ms: number;
  values: Record<string, string>;
};

/** The macro values of a test: recognisably a test (`test_…` IDs), the template's own event and offer. */
export function sampleValues(t: Template, now: Date, tag: string): Record<string, string> {
  return {
    click_id: `test_${tag}`,
    txid: `test-${tag}`,
    conversion_id: "0",
    event: t.event ?? "test",
    status: "approved",
    payout: "0.00",
    currency: (t.payout_currency ?? "EUR").trim(),
    amount: "0.00",
    offer_id: t.offer_id ?? "0",
    affiliate_id: t.affiliate_id,
    brand: "test",
    timestamp: String(Math.floor(now.getTime() / 1000)),
    ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`sub${i + 1}`, i === 0 ? "test" : ""])),
  };
}

/** The template as its affiliate or staff may test it (scope: the caller's affiliate), or null. */
export async function templateForTest(
  sql: Sql,
  id: string,
  affiliateId: string | null,
): Promise<Template | null> {
  const [t] = await sql<Template[]>`
    select p.id, p.affiliate_id, p.offer_id, p.event, p.method, p.url_template, p.body_template, p.content_type,
           a.payout_currency
    from affiliate_postbacks p join affiliates a on a.id = p.affiliate_id
    where p.id = ${id} and (${affiliateId}::bigint is null or p.affiliate_id = ${affiliateId}::bigint)`;
  return t ?? null;
}

export async function sendTest(sql: Sql, t: Template, settings: SendTestSettings): Promise<TestResult> {
  const now = new Date();
  const tag = randomToken(9);
  const values = sampleValues(t, now, tag);
  const url = renderUrl(t.url_template, values);
  const body = t.method === "POST" ? renderBody(t.body_template, values, t.content_type) : null;
  const secrets = await sql<{ secret: string }[]>`
    select secret from affiliate_webhook_secrets
    where affiliate_id = ${t.affiliate_id} and (expires_at is null or expires_at > now()) order by id desc`;
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    // refused below by the guard, which names the problem
  }
  const headers: Record<string, string> = {
    "user-agent": USER_AGENT,
    ...(parsed
      ? webhookHeaders({
          id: `test_${tag}`,
          at: now,
          payload: signedPayload(t.method, parsed, body),
          secrets: secrets.map((s) => s.secret),
        })
      : {}),
    ...(t.method === "POST" ? { "content-type": t.content_type } : {}),
  };
  const request = { method: t.method, url: maskUrl(url), headers, body };
  const t0 = performance.now();
  const took = () => Math.round(performance.now() - t0);
  let target: Awaited<ReturnType<typeof checkTarget>>;
  try {
    target = await checkTarget(url, settings.allowed, settings.resolver);
  } catch (err) {
    const refused = err instanceof BlockedAddressError || err instanceof BadTargetError;
    return {
      outcome: refused ? "refused" : "network_error",
      error: `${refused ? "" : "dns: "}${(err as Error).message}`,
      request,
      response: null,
      latency_ms: took(),
      values,
    };
  }
  try {
    const res = await send(target, { method: t.method, headers, body }, settings.limits);
    const ok = res.status >= 200 && res.status < 300;
    return {
      outcome: ok ? "delivered" : "failed",
      error: ok ? null : `the endpoint answered ${res.status}`,
      request,
      response: {
        status: res.status,
        headers: Object.fromEntries(
          Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : String(v ?? "")]),
        ),
        body: res.excerpt,
        remote_address: res.remoteAddress,
      },
      latency_ms: took(),
      values,
    };
  } catch (err) {
    return {
      outcome: "network_error",
      error: (err as Error).message,
      request,
      response: null,
      latency_ms: took(),
      values,
    };
  }
}
