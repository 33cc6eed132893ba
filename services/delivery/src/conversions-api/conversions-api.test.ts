import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { ClickIdCodec } from "@roundtrip/clickid";
import type { CommissionBooked, ConversionPlatform } from "@roundtrip/contracts";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { parseCidrs } from "@roundtrip/outbound";
import { createLogger, createRegistry } from "@roundtrip/telemetry";
import { startSender } from "../sender.ts";
import { planPlatformDeliveries } from "./plan.ts";
import { platformVerdict, sha256 } from "@roundtrip/outbound";
import { type PlatformServer, startOAuthServer, startPlatformServer } from "@roundtrip/outbound/testing";

let db: TestDatabase;
let sql: Sql;
let brand: string;
let advertiser: string;
let offer: string;
const running: { stop(): Promise<void> }[] = [];
const servers: PlatformServer[] = [];
const codec = ClickIdCodec.fromSpec(`capi:${"k".repeat(40)}`);
const UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0";
// biome-ignore lint/suspicious/noExplicitAny: payloads as the platform servers received them
type Json = any;

beforeAll(async () => {
  db = await createTestDatabase("capi");
  sql = db.sql;
  const [b] =
    await sql`insert into brands (slug, name, currency) values ('lucky', 'Lucky', 'EUR') returning id`;
  brand = b?.id;
  const [adv] = await sql`insert into advertisers (brand_id, name) values (${brand}, 'Casino') returning id`;
  advertiser = adv?.id;
  const [o] = await sql`
    insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${brand}, ${advertiser}, 'One', 'https://casino.example/landing?cid={click_id}', 'EUR') returning id`;
  offer = o?.id;
}, 60_000);
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
  for (const s of servers.splice(0)) s.stop();
  await sql`update conversion_destinations set status = 'disabled', disabled_reason = 'operator'`;
});
afterAll(async () => {
  await db?.drop();
});

function sender() {
  const s = startSender(sql, {
    logger: createLogger("capi-test", "error"),
    registry: createRegistry("delivery"),
    batch: 20,
    leaseMs: 10_000,
    pollMs: 50,
    concurrency: 8,
    schedule: [0, 0.1, 0.1, 0.1],
    http: { connectTimeoutMs: 500, totalTimeoutMs: 2_000, excerptBytes: 500 },
    endpoint: { concurrency: 4, ratePerSecond: 1_000, breakerFailures: 100, halfOpenAfterMs: 60_000 },
    allowed: parseCidrs("127.0.0.0/8"),
    disableAfterMs: 3 * 86_400_000,
  });
  running.push(s);
  return s;
}

const TOKENS: Record<ConversionPlatform, string> = {
  meta: "EAAB-meta-token-0123456789",
  google: "ya29.google-token-0123456789",
  tiktok: "tt-token-0123456789abcdef",
};
const ACCOUNTS: Record<ConversionPlatform, string> = {
  meta: "1234567890123",
  google: "1234567890",
  tiktok: "CABC123",
};
const EVENTS: Record<ConversionPlatform, string> = {
  meta: "Purchase",
  google: "987654321",
  tiktok: "CompletePayment",
};

async function destination(
  platform: ConversionPlatform,
  server: PlatformServer,
  over: Record<string, unknown> = {},
) {
  const row = {
    brand_id: brand,
    platform,
    name: `${platform} destination`,
    platform_account: ACCOUNTS[platform],
    access_token: TOKENS[platform],
    token_hint: "…6789",
    events: sql.json({ ftd: { name: EVENTS[platform] }, registration: { name: "Lead", value: "none" } }),
    base_url: server.url,
    ...over,
  };
  const [d] =
    await sql`insert into conversion_destinations ${sql(row as unknown as Record<string, never>)} returning id`;
  return d?.id as string;
}

let seq = 0;
/** A conversion with its click: clicked `clickAgoMs` ago with the ad click IDs in its subs. */
async function conversion(
  over: Partial<CommissionBooked> = {},
  opts: { clickAgoMs?: number; subs?: Record<string, string> } = {},
): Promise<CommissionBooked> {
  const clickedAt = new Date(Date.now() - (opts.clickAgoMs ?? 3_600_000));
  clickedAt.setMilliseconds(0);
  const clickId = codec.mint(1, clickedAt);
  const subs = opts.subs ?? {
    sub1: "news",
    fbclid: "IwAR-fb-click",
    gclid: "Cj0-g-click",
    ttclid: "E.C.P.tt-click",
  };
  await sql`
    insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, subs)
    values (${clickId}, ${clickedAt}, 1, ${offer}, 1, ${brand}, '203.0.113.7', ${UA}, ${sql.json(subs)})`;
  const c: CommissionBooked = {
    conversion_id: "0",
    seq: 1,
    entry_id: null,
    entry_type: null,
    status: "approved",
    affiliate_id: "1",
    offer_id: offer,
    brand_id: brand,
    click_id: clickId,
    txid: `tx-${++seq}`,
    event: "ftd",
    amount: "100.50",
    payout: "25.00",
    currency: "EUR",
    occurred_at: new Date(Date.now() - 600_000).toISOString(),
    ...over,
  };
  const [row] = await sql`
    insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event,
                             status, amount, currency, occurred_at, receipt_id)
    values (${advertiser}, ${brand}, ${offer}, 1, 1, ${clickId}, ${clickedAt}, ${c.txid}, ${c.event}, ${c.status},
            ${c.amount}, ${c.currency}, ${c.occurred_at}, ${seq})
    returning id`;
  return { ...c, conversion_id: row?.id };
}

const plan = (c: CommissionBooked) => sql.begin((tx) => planPlatformDeliveries(tx, c));

async function settled(conversionId: string, n: number) {
  for (let i = 0; i < 200; i++) {
    const rows = await sql`
      select d.*, cd.platform from deliveries d join conversion_destinations cd on cd.id = d.destination_id
      where d.conversion_id = ${conversionId} and d.status <> 'pending' order by cd.platform`;
    if (rows.length >= n) return rows;
    await Bun.sleep(50);
  }
  throw new Error(`deliveries of conversion ${conversionId} did not settle`);
}

describe("forwarding conversions to ad platforms", () => {
  test("one request per platform, following each platform's documented payload rules; the token only on the wire", async () => {
    const meta = startPlatformServer("meta", { token: TOKENS.meta, appSecret: "meta-app-secret" });
    const google = startPlatformServer("google", { token: TOKENS.google });
    const tiktok = startPlatformServer("tiktok", { token: TOKENS.tiktok });
    servers.push(meta, google, tiktok);
    await destination("meta", meta, { app_secret: "meta-app-secret" });
    await destination("google", google);
    await destination("tiktok", tiktok);
    sender();
    const c = await conversion();
    expect(await plan(c)).toBe(3);
    expect(await plan(c)).toBe(0); // a redelivered event plans nothing new
    const rows = await settled(c.conversion_id, 3);
    expect(rows.map((r) => [r.platform, r.status, r.platform_event_id, r.affiliate_id])).toEqual([
      ["google", "delivered", c.txid, null],
      ["meta", "delivered", c.txid, null],
      ["tiktok", "delivered", c.txid, null],
    ]);
    for (const s of [meta, google, tiktok]) {
      expect(s.problems()).toEqual([]);
      expect(s.requests).toHaveLength(1);
    }
    const m = (meta.requests[0] as { body: Json }).body.data[0];
    expect(m).toMatchObject({
      event_name: "Purchase",
      event_id: c.txid,
      action_source: "website",
      event_source_url: "https://casino.example/landing",
      user_data: {
        client_ip_address: "203.0.113.7",
        client_user_agent: UA,
        external_id: [sha256(c.click_id)],
      },
      custom_data: { value: 100.5, currency: "EUR" },
    });
    expect(m.user_data.fbc).toMatch(/^fb\.1\.\d{13}\.IwAR-fb-click$/);
    const g = google.requests[0]?.body as Json;
    expect(g.destinations[0]).toEqual({
      operatingAccount: { accountType: "GOOGLE_ADS", accountId: ACCOUNTS.google },
      productDestinationId: EVENTS.google,
    });
    expect(g.events[0]).toMatchObject({
      transactionId: c.txid,
      adIdentifiers: {
        gclid: "Cj0-g-click",
        landingPageDeviceInfo: { userAgent: UA, ipAddress: "203.0.113.7" },
      },
      conversionValue: 100.5,
      currency: "EUR",
    });
    const t = tiktok.requests[0]?.body as Json;
    expect(t).toMatchObject({ event_source: "web", event_source_id: ACCOUNTS.tiktok });
    expect(t.data[0]).toMatchObject({
      event: "CompletePayment",
      event_id: c.txid,
      user: { ttclid: "E.C.P.tt-click", ip: "203.0.113.7", user_agent: UA, external_id: sha256(c.click_id) },
      properties: { value: 100.5, currency: "EUR" },
    });
    // Nothing stored or logged carries a token.
    const stored = JSON.stringify([
      await sql`select * from deliveries where conversion_id = ${c.conversion_id}`,
      await sql`select a.* from delivery_attempts a join deliveries d on d.id = a.delivery_id where d.conversion_id = ${c.conversion_id}`,
    ]);
    for (const token of Object.values(TOKENS)) expect(stored).not.toContain(token);
  });

  test("a retried delivery sends the same event_id; TikTok's HTTP 200 with an error code is retried", async () => {
    const meta = startPlatformServer("meta", { token: TOKENS.meta, failFirst: 2 });
    const tiktok = startPlatformServer("tiktok", { token: TOKENS.tiktok, failFirst: 1 });
    servers.push(meta, tiktok);
    await destination("meta", meta);
    await destination("tiktok", tiktok);
    sender();
    const c = await conversion({ txid: null });
    expect(await plan(c)).toBe(2);
    const rows = await settled(c.conversion_id, 2);
    expect(rows.map((r) => [r.platform, r.status, r.attempts])).toEqual([
      ["meta", "delivered", 3],
      ["tiktok", "delivered", 2],
    ]);
    const ids = meta.requests.map((r) => (r.body as { data: { event_id: string }[] }).data[0]?.event_id);
    expect(ids).toEqual([`rt_${c.conversion_id}`, `rt_${c.conversion_id}`, `rt_${c.conversion_id}`]);
    expect(new Set(tiktok.requests.map((r) => JSON.stringify(r.body))).size).toBe(1);
    const attempts = await sql`
      select a.outcome, a.status_code from delivery_attempts a join deliveries d on d.id = a.delivery_id
      where d.destination_id is not null and d.conversion_id = ${c.conversion_id} order by a.id`;
    expect(attempts.filter((a) => a.outcome === "retry")).toHaveLength(3);
  });

  test("too old for the platform: recorded as skipped with the reason, not sent; Google counts from the click", async () => {
    const meta = startPlatformServer("meta", { token: TOKENS.meta });
    const google = startPlatformServer("google", { token: TOKENS.google });
    servers.push(meta, google);
    await destination("meta", meta);
    await destination("google", google);
    sender();
    const eightDays = 8 * 86_400_000;
    const c = await conversion(
      { occurred_at: new Date(Date.now() - eightDays).toISOString() },
      { clickAgoMs: eightDays + 3_600_000 },
    );
    expect(await plan(c)).toBe(1); // Google only: 8 days is within its 90
    const rows = await settled(c.conversion_id, 2);
    expect(rows.map((r) => [r.platform, r.status, r.last_error])).toEqual([
      ["google", "delivered", null],
      ["meta", "skipped", "too old for meta: the event is more than 7 days old"],
    ]);
    expect(meta.requests).toHaveLength(0);
    // A delivery that ages past the limit while it waits (a retry, a replay) is skipped when it comes up.
    const late = await conversion();
    // (aged in the planning transaction, so the running sender never sees it young)
    await sql.begin(async (tx) => {
      expect(await planPlatformDeliveries(tx, late)).toBe(2);
      await tx`update deliveries set send_before = now() - interval '1 second' where conversion_id = ${late.conversion_id}`;
    });
    const aged = await settled(late.conversion_id, 2);
    expect(aged.map((r) => r.status)).toEqual(["skipped", "skipped"]);
    expect(aged[0]?.last_error).toStartWith("too old to send");
  });

  test("without a gclid Google is skipped; an unmapped event, a rejection or a test conversion forwards nothing", async () => {
    const google = startPlatformServer("google", { token: TOKENS.google });
    const meta = startPlatformServer("meta", { token: TOKENS.meta });
    servers.push(google, meta);
    await destination("google", google);
    await destination("meta", meta, { send_on: "approved" });
    const noGclid = await conversion({}, { subs: { sub1: "x" } });
    expect(await plan(noGclid)).toBe(1);
    const [skipped] = await sql`
      select status, last_error from deliveries where conversion_id = ${noGclid.conversion_id} and status = 'skipped'`;
    expect(skipped).toEqual({
      status: "skipped",
      last_error: "no gclid on the click: Google Ads has nothing to match it to",
    });
    expect(await plan(await conversion({ event: "deposit" }))).toBe(0);
    expect(await plan(await conversion({ status: "rejected" }))).toBe(0);
    // pending: Google (booked) forwards it, Meta (approved only) waits for the approval
    const pending = await conversion({ status: "pending" });
    expect(await plan(pending)).toBe(1);
    expect(await plan({ ...pending, seq: 2, status: "approved" })).toBe(1);
    const test = await conversion();
    await sql`update conversions set is_test = true where id = ${test.conversion_id}`;
    expect(await plan(test)).toBe(0);
  });

  test("an offer's own destination wins over the brand's for the same account", async () => {
    const meta = startPlatformServer("meta", { token: TOKENS.meta });
    servers.push(meta);
    await destination("meta", meta);
    const own = await destination("meta", meta, {
      offer_id: offer,
      events: sql.json({ ftd: { name: "Subscribe" } }),
    });
    const c = await conversion();
    expect(await plan(c)).toBe(1);
    const [row] =
      await sql`select destination_id, body from deliveries where conversion_id = ${c.conversion_id}`;
    expect(row?.destination_id).toBe(own);
    expect(JSON.parse(row?.body).data[0].event_name).toBe("Subscribe");
  });

  test("Google from OAuth refresh credentials: one token an hour, a refused token renewed for the retry, a revoked grant fails", async () => {
    const oauth = startOAuthServer({
      clientId: "client-1",
      clientSecret: "client-secret",
      refreshToken: "1//refresh",
    });
    const revoked = new Set<string>();
    const google = startPlatformServer("google", {
      token: (t) => t !== null && oauth.issued.includes(t) && !revoked.has(t),
    });
    servers.push(google, { ...google, stop: oauth.stop });
    const id = await destination("google", google, {
      access_token: null,
      token_hint: "…resh",
      oauth_client: "client-1",
      oauth_client_secret: "client-secret",
      oauth_refresh_token: "1//refresh",
      oauth_token_url: oauth.url,
    });
    sender();
    const first = await conversion();
    await plan(first);
    expect((await settled(first.conversion_id, 1)).map((r) => r.status)).toEqual(["delivered"]);
    const second = await conversion();
    await plan(second);
    expect((await settled(second.conversion_id, 1)).map((r) => r.status)).toEqual(["delivered"]);
    expect(oauth.issued).toEqual(["ya29.issued-1"]); // cached: one token for both
    // Google stops accepting it (expired early, revoked): the 401 is retried with a new token.
    for (const t of oauth.issued) revoked.add(t);
    const third = await conversion();
    await plan(third);
    const [row] = await settled(third.conversion_id, 1);
    expect([row?.status, row?.attempts]).toEqual(["delivered", 2]);
    expect(oauth.issued).toEqual(["ya29.issued-1", "ya29.issued-2"]);
    expect(google.requests.at(-1)?.headers.get("authorization")).toBe("Bearer ya29.issued-2");
    // A refresh token the endpoint refuses (invalid_grant) fails the forward: only an operator can fix it.
    await sql`update conversion_destinations set oauth_refresh_token = '1//revoked' where id = ${id}`;
    const fourth = await conversion();
    await plan(fourth);
    const [failed] = await settled(fourth.conversion_id, 1);
    expect([failed?.status, failed?.last_error]).toEqual([
      "failed",
      "oauth token refresh: 400 invalid_grant",
    ]);
    const stored = JSON.stringify(await sql`select * from delivery_attempts`);
    for (const secret of ["client-secret", "1//refresh", "ya29.issued"]) expect(stored).not.toContain(secret);
  });

  test("what each platform's answer means", () => {
    expect(platformVerdict("tiktok", 200, '{"code":0,"message":"OK"}')).toBe("delivered");
    expect(platformVerdict("tiktok", 200, '{"code":40002,"message":"bad"}')).toBe("permanent");
    expect(platformVerdict("tiktok", 200, '{"code":40100,"message":"rate"}')).toBe("retryable");
    expect(platformVerdict("tiktok", 200, "<html>proxy</html>")).toBe("retryable");
    expect(platformVerdict("meta", 400, '{"error":{"code":100,"message":"invalid"}}')).toBe("permanent");
    expect(platformVerdict("meta", 400, '{"error":{"code":4,"message":"throttled"}}')).toBe("retryable");
    expect(platformVerdict("google", 401, "{}")).toBe("permanent");
    expect(platformVerdict("google", 429, "{}")).toBe("retryable");
  });
});
