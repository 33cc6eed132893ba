/**
 * Test support: small real HTTP servers on 127.0.0.1 that stand in for Meta's Conversions API,
 * Google's Data Manager API and TikTok's Events API. Each checks the platform's documented rules
 * for what it receives (authentication, required fields, hashed identifiers as 64 lower-case hex,
 * event_id present, event_time within the age limit, value with a currency) and answers as the
 * platform does — including its error shapes (TikTok refuses with HTTP 200 and a non-zero code).
 * Used by the delivery service's tests and the end-to-end test; never by the running service.
 */
import { createHmac } from "node:crypto";
import { isIP } from "node:net";
import type { ConversionPlatform } from "@roundtrip/contracts";

export type PlatformRequest = {
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: unknown;
  /** Rule violations found in the request; empty when it follows the platform's documentation. */
  problems: string[];
};

export type PlatformServerOptions = {
  /** The access token it accepts, or a test of the one it got (tokens issued by startOAuthServer). */
  token: string | ((token: string | null) => boolean);
  /** Meta: the app secret whose appsecret_proof every request must carry. */
  appSecret?: string;
  /** Answer the first n well-formed requests with the platform's transient error (then accept). */
  failFirst?: number;
};

const HEX64 = /^[0-9a-f]{64}$/;
const UNAUTHENTICATED = "unauthenticated: ";
const tokenOk = (o: PlatformServerOptions, got: string | null) =>
  typeof o.token === "function" ? o.token(got) : got === o.token;
const DAY_S = 86_400;
const CURRENCY = /^[A-Z]{3}$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function checkHashed(problems: string[], where: string, value: unknown) {
  for (const v of Array.isArray(value) ? value : [value])
    if (typeof v !== "string" || !HEX64.test(v))
      problems.push(`${where} must be SHA-256 as 64 lower-case hex`);
}

function checkTime(problems: string[], where: string, seconds: unknown, maxAgeDays: number) {
  if (!Number.isInteger(seconds)) return problems.push(`${where} must be integer Unix seconds`);
  const now = Date.now() / 1000;
  if ((seconds as number) < now - maxAgeDays * DAY_S)
    problems.push(`${where} is more than ${maxAgeDays} days old`);
  if ((seconds as number) > now + 60) problems.push(`${where} is in the future`);
}

function checkValue(problems: string[], where: string, value: unknown, currency: unknown, required: boolean) {
  if (value === undefined && !required) return;
  if (typeof value !== "number" || !Number.isFinite(value)) problems.push(`${where}.value must be a number`);
  if (typeof currency !== "string" || !CURRENCY.test(currency))
    problems.push(`${where}.currency must be ISO 4217`);
}

const META_HASHED = ["em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id"];

/** Meta: POST /{version}/{dataset}/events?access_token=…, body {data: [server events]}. */
function checkMeta(req: PlatformRequest, o: PlatformServerOptions) {
  const p = req.problems;
  if (!/^\/v\d+\.\d+\/[^/]+\/events$/.test(req.path))
    p.push(`path ${req.path} is not /{version}/{dataset id}/events`);
  const token = req.query.get("access_token");
  if (!tokenOk(o, token)) p.push("access_token missing or wrong");
  if (o.appSecret) {
    const proof = createHmac("sha256", o.appSecret)
      .update(token ?? "")
      .digest("hex");
    if (req.query.get("appsecret_proof") !== proof) p.push("appsecret_proof missing or wrong");
  }
  const body = req.body;
  if (!isObj(body) || !Array.isArray(body.data) || body.data.length < 1 || body.data.length > 1000)
    return p.push("data must be an array of 1 to 1000 events");
  for (const [i, e] of (body.data as unknown[]).entries()) {
    const at = `data[${i}]`;
    if (!isObj(e)) {
      p.push(`${at} must be an object`);
      continue;
    }
    if (typeof e.event_name !== "string" || !e.event_name) p.push(`${at}.event_name is required`);
    checkTime(p, `${at}.event_time`, e.event_time, 7);
    if (typeof e.event_id !== "string" || !e.event_id) p.push(`${at}.event_id is required for deduplication`);
    const sources = [
      "email",
      "website",
      "app",
      "phone_call",
      "chat",
      "physical_store",
      "system_generated",
      "business_messaging",
      "other",
    ];
    if (!sources.includes(e.action_source as string)) p.push(`${at}.action_source is required`);
    const u = e.user_data;
    if (!isObj(u) || Object.keys(u).length === 0)
      return p.push(`${at}.user_data needs a customer information parameter`);
    for (const k of META_HASHED) if (u[k] !== undefined) checkHashed(p, `${at}.user_data.${k}`, u[k]);
    if (e.action_source === "website") {
      if (typeof u.client_user_agent !== "string")
        p.push(`${at}.user_data.client_user_agent is required for website events`);
      if (typeof e.event_source_url !== "string")
        p.push(`${at}.event_source_url is required for website events`);
    }
    if (u.client_ip_address !== undefined && !isIP(String(u.client_ip_address)))
      p.push(`${at}.user_data.client_ip_address must be an IP address in clear (not hashed)`);
    if (u.fbc !== undefined && !/^fb\.\d\.\d{13}\.\S+$/.test(String(u.fbc)))
      p.push(`${at}.user_data.fbc must be fb.<subdomain>.<ms>.<fbclid>`);
    const cd = isObj(e.custom_data) ? e.custom_data : {};
    checkValue(p, `${at}.custom_data`, cd.value, cd.currency, e.event_name === "Purchase");
  }
}

/** TikTok: POST /open_api/v1.3/event/track/ with Access-Token, body {event_source, event_source_id, data}. */
function checkTikTok(req: PlatformRequest, o: PlatformServerOptions) {
  const p = req.problems;
  if (req.path !== "/open_api/v1.3/event/track/")
    p.push(`path ${req.path} is not /open_api/v1.3/event/track/`);
  if (!tokenOk(o, req.headers.get("access-token"))) p.push("Access-Token missing or wrong");
  const body = req.body;
  if (!isObj(body)) return p.push("body must be a JSON object");
  if (!["web", "app", "offline", "crm"].includes(body.event_source as string))
    p.push("event_source is required");
  if (typeof body.event_source_id !== "string" || !body.event_source_id)
    p.push("event_source_id is required");
  if (!Array.isArray(body.data) || body.data.length < 1 || body.data.length > 1000)
    return p.push("data must be an array of 1 to 1000 events");
  for (const [i, e] of (body.data as unknown[]).entries()) {
    const at = `data[${i}]`;
    if (!isObj(e)) {
      p.push(`${at} must be an object`);
      continue;
    }
    if (typeof e.event !== "string" || !e.event) p.push(`${at}.event is required`);
    checkTime(p, `${at}.event_time`, e.event_time, 7);
    if (typeof e.event_id !== "string" || !e.event_id) p.push(`${at}.event_id is required for deduplication`);
    const u = isObj(e.user) ? e.user : {};
    for (const k of ["email", "phone", "external_id"])
      if (u[k] !== undefined) checkHashed(p, `${at}.user.${k}`, u[k]);
    if (u.ip !== undefined && !isIP(String(u.ip))) p.push(`${at}.user.ip must be an IP address in clear`);
    const props = isObj(e.properties) ? e.properties : {};
    checkValue(p, `${at}.properties`, props.value, props.currency, e.event === "CompletePayment");
  }
}

/** Google Data Manager: POST /v1/events:ingest with an OAuth bearer token. */
function checkGoogle(req: PlatformRequest, o: PlatformServerOptions) {
  const p = req.problems;
  if (req.path !== "/v1/events:ingest") p.push(`path ${req.path} is not /v1/events:ingest`);
  const bearer = /^Bearer (\S+)$/.exec(req.headers.get("authorization") ?? "")?.[1] ?? null;
  if (!tokenOk(o, bearer)) p.push(`${UNAUTHENTICATED}Authorization bearer token missing, expired or wrong`);
  const body = req.body;
  if (!isObj(body)) return p.push("body must be a JSON object");
  if (!Array.isArray(body.destinations) || body.destinations.length < 1) p.push("destinations is required");
  else
    body.destinations.forEach((d: unknown, i) => {
      const op = isObj(d) && isObj(d.operatingAccount) ? d.operatingAccount : null;
      if (op?.accountType !== "GOOGLE_ADS" || !/^\d{10}$/.test(String(op?.accountId)))
        p.push(`destinations[${i}].operatingAccount must be a GOOGLE_ADS customer ID (10 digits)`);
      if (!isObj(d) || !/^\d+$/.test(String(d.productDestinationId)))
        p.push(`destinations[${i}].productDestinationId must be a conversion action ID`);
    });
  if (!Array.isArray(body.events) || body.events.length < 1 || body.events.length > 2000)
    return p.push("events must be an array of 1 to 2000 events");
  for (const [i, e] of (body.events as unknown[]).entries()) {
    const at = `events[${i}]`;
    if (!isObj(e)) {
      p.push(`${at} must be an object`);
      continue;
    }
    const ts = Date.parse(String(e.eventTimestamp));
    if (typeof e.eventTimestamp !== "string" || Number.isNaN(ts))
      p.push(`${at}.eventTimestamp must be RFC 3339`);
    else if (ts > Date.now() + 60_000) p.push(`${at}.eventTimestamp is in the future`);
    if (typeof e.transactionId !== "string" || !e.transactionId)
      p.push(`${at}.transactionId is required for deduplication`);
    const ids = isObj(e.adIdentifiers) ? e.adIdentifiers : {};
    const user = isObj(e.userData) ? e.userData : null;
    if (!ids.gclid && !ids.gbraid && !ids.wbraid && !user)
      p.push(`${at} needs a gclid, gbraid, wbraid or userData`);
    if (user) {
      if (body.encoding !== "HEX" && body.encoding !== "BASE64") p.push("encoding is required with userData");
      const identifiers = Array.isArray(user.userIdentifiers) ? user.userIdentifiers : [];
      identifiers.forEach((u: unknown, j) => {
        if (isObj(u) && u.emailAddress !== undefined)
          checkHashed(p, `${at}.userData[${j}].emailAddress`, u.emailAddress);
        if (isObj(u) && u.phoneNumber !== undefined)
          checkHashed(p, `${at}.userData[${j}].phoneNumber`, u.phoneNumber);
      });
    }
    checkValue(p, at, e.conversionValue, e.currency, false);
  }
}

const CHECK: Record<ConversionPlatform, (r: PlatformRequest, o: PlatformServerOptions) => void> = {
  meta: checkMeta,
  tiktok: checkTikTok,
  google: checkGoogle,
};

/** The platform's answers: accepted, refused for the problems found, or a transient error. */
function answer(platform: ConversionPlatform, kind: "ok" | "invalid" | "transient", req: PlatformRequest) {
  const json = (status: number, body: unknown) => Response.json(body, { status });
  const message = req.problems.join("; ");
  const count = isObj(req.body) && Array.isArray(req.body.data) ? req.body.data.length : 1;
  switch (platform) {
    case "meta":
      if (kind === "ok") return json(200, { events_received: count, messages: [], fbtrace_id: "AbCdEf" });
      if (kind === "transient")
        return json(503, {
          error: { message: "temporarily unavailable", code: 2, is_transient: true, fbtrace_id: "x" },
        });
      return json(400, {
        error: { message, type: "OAuthException", code: 100, error_subcode: 2804003, fbtrace_id: "x" },
      });
    case "tiktok":
      if (kind === "ok") return json(200, { code: 0, message: "OK", request_id: "rq1", data: {} });
      if (kind === "transient")
        return json(200, { code: 50000, message: "internal error", request_id: "rq2", data: {} });
      return json(200, { code: 40002, message, request_id: "rq3", data: {} });
    case "google":
      if (kind === "ok") return json(200, { requestId: crypto.randomUUID() });
      if (req.problems.some((p) => p.startsWith(UNAUTHENTICATED)))
        return json(401, { error: { code: 401, message, status: "UNAUTHENTICATED" } });
      if (kind === "transient")
        return json(503, { error: { code: 503, message: "backend error", status: "UNAVAILABLE" } });
      return json(400, { error: { code: 400, message, status: "INVALID_ARGUMENT" } });
  }
}

export function startPlatformServer(platform: ConversionPlatform, options: PlatformServerOptions) {
  const requests: PlatformRequest[] = [];
  let failures = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(raw) {
      const url = new URL(raw.url);
      const text = await raw.text();
      let body: unknown = null;
      const req: PlatformRequest = {
        path: url.pathname,
        query: url.searchParams,
        headers: raw.headers,
        body,
        problems: [],
      };
      if (raw.method !== "POST") req.problems.push("method must be POST");
      if (!raw.headers.get("content-type")?.startsWith("application/json"))
        req.problems.push("content-type must be JSON");
      try {
        body = JSON.parse(text);
        req.body = body;
        CHECK[platform](req, options);
      } catch {
        req.problems.push("body is not JSON");
      }
      requests.push(req);
      if (req.problems.length) return answer(platform, "invalid", req);
      if (failures < (options.failFirst ?? 0)) {
        failures++;
        return answer(platform, "transient", req);
      }
      return answer(platform, "ok", req);
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    /** Every problem found in any request so far. */
    problems: () => requests.flatMap((r) => r.problems),
    stop: () => server.stop(true),
  };
}
export type PlatformServer = ReturnType<typeof startPlatformServer>;

/**
 * An OAuth 2.0 token endpoint (RFC 6749 §6, as Google's https://oauth2.googleapis.com/token):
 * a form POST with grant_type=refresh_token and the client's credentials answers a new access
 * token (`ya29.issued-1`, `-2`…) living an hour; wrong credentials answer 400 invalid_grant.
 */
export function startOAuthServer(c: { clientId: string; clientSecret: string; refreshToken: string }) {
  const issued: string[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(raw) {
      const form = new URLSearchParams(await raw.text());
      const good =
        raw.method === "POST" &&
        raw.headers.get("content-type")?.startsWith("application/x-www-form-urlencoded") &&
        form.get("grant_type") === "refresh_token" &&
        form.get("client_id") === c.clientId &&
        form.get("client_secret") === c.clientSecret &&
        form.get("refresh_token") === c.refreshToken;
      if (!good) return Response.json({ error: "invalid_grant" }, { status: 400 });
      const token = `ya29.issued-${issued.length + 1}`;
      issued.push(token);
      return Response.json({ access_token: token, expires_in: 3599, token_type: "Bearer" });
    },
  });
  return { url: `http://127.0.0.1:${server.port}/token`, issued, stop: () => server.stop(true) };
}
