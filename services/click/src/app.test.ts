import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Bus, connectBus, provision, publish, subjects } from "@roundtrip/bus";
import { ClickIdCodec } from "@roundtrip/clickid";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { startServiceForTest, type TestService } from "@roundtrip/service";
import { buildClick, clickEnv } from "./service.ts";

const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
// Rotation: `new` signs, `old` still verifies.
const CLICK_ID_KEYS = `new:${"n".repeat(40)},old:${"o".repeat(40)}`;
const codec = ClickIdCodec.fromSpec(CLICK_ID_KEYS);
const oldCodec = ClickIdCodec.fromSpec(`old:${"o".repeat(40)}`);

let db: TestDatabase;
let sql: Sql;
let bus: Bus;
let click: TestService;
let ids: { offer: string; affiliate: string; brand: string; plainOffer: string };

beforeAll(async () => {
  db = await createTestDatabase("click");
  sql = db.sql;
  bus = await connectBus({
    url: NATS_URL,
    prefix: `clk${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`,
    name: "click-test",
  });
  await provision(bus);
  const [b] =
    await sql`insert into brands (slug, name, currency) values ('casino', 'Casino', 'EUR') returning id`;
  const [a] = await sql`insert into advertisers (brand_id, name) values (${b?.id}, 'Adv') returning id`;
  const [o] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${b?.id}, ${a?.id}, 'O', 'https://casino.example/land?cid={click_id}&a={affiliate_id}&o={offer_id}&b={brand}&s1={sub1}&s2={sub2}', 'EUR') returning id`;
  const [plain] =
    await sql`insert into offers (brand_id, advertiser_id, name, destination_url, click_id_param, currency)
    values (${b?.id}, ${a?.id}, 'P', 'https://shop.example/p?ref=aff', 'clickid', 'EUR') returning id`;
  const [paused] =
    await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency, status)
    values (${b?.id}, ${a?.id}, 'Paused', 'https://paused.example/', 'EUR', 'paused') returning id`;
  const [af] = await sql`insert into affiliates (name) values ('Aff') returning id`;
  await sql`insert into links (code, offer_id, affiliate_id) values ('live', ${o?.id}, ${af?.id}), ('plain', ${plain?.id}, ${af?.id}),
            ('pausedoffer', ${paused?.id}, ${af?.id})`;
  await sql`insert into links (code, offer_id, affiliate_id, status) values ('pausedlink', ${o?.id}, ${af?.id}, 'paused')`;
  ids = { offer: o?.id, affiliate: af?.id, brand: b?.id, plainOffer: plain?.id };

  click = await startServiceForTest("click", clickEnv, buildClick, { sql, bus, env: clickTestEnv });
});

/** The rows are the click service's own to write here (the `jetstream` sink leaves them to attribution). */
const clickTestEnv = {
  CLICK_ID_KEYS,
  CLICK_SINK: "postgres",
  CLICK_BATCH_DELAY_MS: "2",
  CLICK_BATCH_CONCURRENCY: "2",
  IP_TRUNCATE: "last-octet",
  // The test stands in for a proxy chain: loopback, then an internal load balancer.
  TRUSTED_PROXIES: "127.0.0.0/8, ::1/128, 10.0.0.0/8",
};

afterAll(async () => {
  await click?.stop();
  if (bus) {
    for await (const name of bus.jsm.streams.names())
      if (name.startsWith(`${bus.names.prefix}_`)) await bus.jsm.streams.delete(name);
    await bus.close();
  }
  await db?.drop();
});

const CHROME_WINDOWS =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const SAFARI_IPHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

/** Through a real port, as a visitor's browser reaches the deployed click service. */
const hit = (path: string, init: RequestInit = {}, base = click.url) =>
  fetch(`${base}${path}`, {
    redirect: "manual",
    ...init,
    headers: { "user-agent": CHROME_WINDOWS, ...init.headers },
  });

async function clickRow(clickId: string) {
  const [row] = await sql`select * from clicks where click_id = ${clickId}`;
  return row;
}

describe("the redirect", () => {
  test("unknown, paused link and paused offer answer 404 and never redirect", async () => {
    for (const code of ["nope", "pausedlink", "pausedoffer", "..%2F..%2Fetc", "<script>"]) {
      const res = await hit(`/c/${code}?url=https://evil.example`);
      expect(res.status).toBe(404);
      expect(res.headers.get("location")).toBeNull();
    }
  });

  test("302 to the offer's template with macros URL-encoded; url= and other parameters are ignored", async () => {
    const res = await hit(
      `/c/live?sub1=${encodeURIComponent("news letter&x=1/é")}&sub2=${"z".repeat(400)}&url=https://evil.example&redirect=//evil.example`,
    );
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get("location") as string);
    expect(location.origin + location.pathname).toBe("https://casino.example/land");
    expect(location.searchParams.get("s1")).toBe("news letter&x=1/é");
    expect(location.searchParams.get("s2")).toBe("z".repeat(255));
    expect(location.searchParams.get("a")).toBe(ids.affiliate);
    expect(location.searchParams.get("o")).toBe(ids.offer);
    expect(location.searchParams.get("b")).toBe("casino");
    expect(res.headers.get("location")).not.toContain("evil");
  });

  test("without {click_id} in the template the click ID goes under the offer's parameter name", async () => {
    const res = await hit("/c/plain");
    const location = new URL(res.headers.get("location") as string);
    expect(location.searchParams.get("ref")).toBe("aff");
    const clickId = location.searchParams.get("clickid") as string;
    expect(codec.verify(clickId).ok).toBe(true);
  });

  test("click IDs: ≤ 40 URL-safe characters, signed with the newest key; IDs under a rotated-out key still verify", async () => {
    const res = await hit("/c/live");
    const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
    expect(clickId.length).toBeLessThanOrEqual(40);
    expect(clickId).toMatch(/^[A-Za-z0-9_-]+$/);
    const verified = codec.verify(clickId);
    expect(verified.ok && verified.claims.kid).toBe("new");
    const old = oldCodec.mint(1);
    const check = codec.verify(old);
    expect(check.ok && check.claims.kid).toBe("old");
  });
});

describe("recording", () => {
  test("the click is committed before the 302: IP truncated, user agent, referrer, subs, link, time; one CLICKS outbox event", async () => {
    const res = await hit("/c/live?sub1=a&sub3=c", {
      headers: {
        "x-forwarded-for": "203.0.113.77, 10.0.0.1",
        referer: "https://blog.example/post",
        "user-agent": SAFARI_IPHONE,
      },
    });
    const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
    const row = await clickRow(clickId);
    expect(row).toMatchObject({
      ip: "203.0.113.0",
      user_agent: SAFARI_IPHONE,
      device_type: "mobile",
      os: "iOS",
      browser: "Mobile Safari",
      reasons: [],
      referrer: "https://blog.example/post",
      subs: { sub1: "a", sub3: "c" },
      offer_id: ids.offer,
      affiliate_id: ids.affiliate,
      brand_id: ids.brand,
      is_unique: true,
    });
    const events =
      await sql`select payload from bus_outbox where subject = 'clicks.recorded' and payload::text like ${`%${clickId}%`}`;
    expect(events).toHaveLength(1);
  });

  test("IPv6 is truncated to /48", async () => {
    const res = await hit("/c/live", {
      headers: { "x-forwarded-for": "2001:db8:abcd:12::7", "user-agent": FIREFOX_LINUX },
    });
    const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
    expect((await clickRow(clickId))?.ip).toBe("2001:db8:abcd::");
  });

  test("each click carries its visitor key: the same link, IP and user agent give the same key, a repeat is decided downstream", async () => {
    const headers = { "x-forwarded-for": "198.51.100.5", "user-agent": FIREFOX_LINUX };
    const ids = [];
    for (const h of [
      headers,
      headers,
      { ...headers, "user-agent": CHROME_WINDOWS },
      { ...headers, "x-forwarded-for": "198.51.100.6" },
    ]) {
      const res = await hit("/c/live", { headers: h });
      ids.push(new URL(res.headers.get("location") as string).searchParams.get("cid") as string);
    }
    const visitors = await Promise.all(
      ids.map(async (id) => {
        const [row] = await sql<{ visitor: string | null; is_unique: boolean }[]>`
          select c->>'visitor' as visitor, (c->>'is_unique')::boolean as is_unique
          from bus_outbox, jsonb_array_elements(payload->'clicks') c
          where subject = 'clicks.recorded' and c->>'click_id' = ${id}`;
        return row;
      }),
    );
    // The click service's candidate; the consumers of CLICKS decide for the cluster (unique-visits.ts).
    expect(visitors.map((v) => v?.is_unique)).toEqual([true, true, true, true]);
    const [a, b, c, d] = visitors.map((v) => v?.visitor);
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(b).toBe(a);
    expect(new Set([a, c, d]).size).toBe(3);
    // Keyed: not a bare hash of what the visitor sent.
    const bare = new Bun.CryptoHasher("sha256")
      .update(`1\u0000198.51.100.5\u0000${FIREFOX_LINUX}`)
      .digest("base64url");
    expect(a).not.toBe(bare.slice(0, 22));
  });

  test("HEAD and browser prefetches redirect but are not recorded", async () => {
    const before = await outcomeCount("prefetch");
    for (const init of [{ method: "HEAD" }, { headers: { "sec-purpose": "prefetch;prerender" } }]) {
      const res = await hit("/c/live", init);
      expect(res.status).toBe(302);
      const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
      expect(await clickRow(clickId)).toBeUndefined();
    }
    expect((await outcomeCount("prefetch")) - before).toBe(2);
  });

  test("bots (isbot's list) redirect and are recorded with reason bot, never unique; browsers are not bots", async () => {
    const before = await outcomeCount("bot");
    const bots = [
      "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
      "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
      "TelegramBot (like TwitterBot)",
      "curl/8.5.0",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
    ];
    for (const ua of bots) {
      const res = await hit("/c/live", { headers: { "user-agent": ua, "x-forwarded-for": "198.51.100.90" } });
      expect(res.status).toBe(302);
      const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
      expect(await clickRow(clickId)).toMatchObject({ reasons: ["bot"], is_unique: false, user_agent: ua });
    }
    expect((await outcomeCount("bot")) - before).toBe(bots.length);
    // A browser on a fresh address is a unique visitor with no reason.
    const res = await hit("/c/live", { headers: { "x-forwarded-for": "198.51.100.91" } });
    const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
    expect(await clickRow(clickId)).toMatchObject({
      reasons: [],
      is_unique: true,
      device_type: "desktop",
      os: "Windows",
      browser: "Chrome",
    });
  });
});

async function outcomeCount(outcome: string): Promise<number> {
  const metrics = await click.registry.metrics();
  const m = metrics.match(
    new RegExp(`roundtrip_clicks_total\\{outcome="${outcome}",service="click"\\} (\\d+)`),
  );
  return m ? Number(m[1]) : 0;
}

describe("privacy per brand", () => {
  test("a brand's IP truncation overrides the service's, and a brand without the cookie gets none", async () => {
    const [b] = await sql`insert into brands (slug, name, currency, ip_truncation, click_cookie)
      values ('private', 'Private', 'EUR', 'none', false) returning id`;
    const [a] = await sql`insert into advertisers (brand_id, name) values (${b?.id}, 'PrivAdv') returning id`;
    const [o] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
      values (${b?.id}, ${a?.id}, 'P', 'https://private.example/?cid={click_id}', 'EUR') returning id`;
    const [l] =
      await sql`insert into links (code, offer_id, affiliate_id) values ('private', ${o?.id}, ${ids.affiliate}) returning id`;
    await publish(
      bus,
      subjects.configChanged("links"),
      { resource: "links", id: l?.id },
      { msgId: crypto.randomUUID() },
    );
    await waitFor(async () => (await hit("/c/private")).status === 302);

    const res = await hit("/c/private", { headers: { "x-forwarded-for": "203.0.113.99" } });
    expect(res.headers.get("set-cookie")).toBeNull();
    const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
    // The service truncates (IP_TRUNCATE=last-octet); this brand keeps the address whole.
    expect((await clickRow(clickId))?.ip).toBe("203.0.113.99");

    await sql`update brands set ip_truncation = null, click_cookie = true where id = ${b?.id}`;
    await publish(
      bus,
      subjects.configChanged("brands"),
      { resource: "brands", id: b?.id },
      { msgId: crypto.randomUUID() },
    );
    await waitFor(async () => (await hit("/c/private")).headers.get("set-cookie") !== null);
    const again = await hit("/c/private", { headers: { "x-forwarded-for": "203.0.113.99" } });
    const id2 = new URL(again.headers.get("location") as string).searchParams.get("cid") as string;
    expect((await clickRow(id2))?.ip).toBe("203.0.113.0");
  });
});

describe("click caps", () => {
  test("a capped offer sends exactly its cap to the offer and the rest to its fallback, across two click replicas at once", async () => {
    const [brand] = await sql`select id from brands where slug = 'casino'`;
    const [adv] = await sql`select id from advertisers where brand_id = ${brand?.id} limit 1`;
    const [o] =
      await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency, click_cap_lifetime, fallback_url)
      values (${brand?.id}, ${adv?.id}, 'Capped', 'https://capped.example/?cid={click_id}', 'EUR', 5,
              'https://fallback.example/?cid={click_id}&a={affiliate_id}') returning id`;
    const [l] =
      await sql`insert into links (code, offer_id, affiliate_id) values ('capped', ${o?.id}, ${ids.affiliate}) returning id`;
    const second = await startServiceForTest("click", clickEnv, buildClick, { sql, bus, env: clickTestEnv });
    try {
      await publish(
        bus,
        subjects.configChanged("links"),
        { resource: "links", id: l?.id },
        { msgId: crypto.randomUUID() },
      );
      // Both replicas know the link before the race starts (a HEAD takes no place in the cap).
      for (const base of [click.url, second.url])
        await waitFor(async () => (await hit("/c/capped", { method: "HEAD" }, base)).status === 302);
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          hit(
            "/c/capped",
            { headers: { "x-forwarded-for": `198.51.100.${100 + i}` } },
            i % 2 ? second.url : click.url,
          ),
        ),
      );
      const hosts = answers.map((r) => new URL(r.headers.get("location") as string).host);
      expect(hosts.filter((h) => h === "capped.example")).toHaveLength(5);
      expect(hosts.filter((h) => h === "fallback.example")).toHaveLength(15);
      const fallback = new URL(answers[hosts.indexOf("fallback.example")]?.headers.get("location") as string);
      expect(fallback.searchParams.get("a")).toBe(ids.affiliate);
      const rows = await sql`select reasons from clicks where offer_id = ${o?.id}`;
      expect(rows).toHaveLength(20);
      expect(rows.filter((r) => r.reasons.includes("click_cap"))).toHaveLength(15);
      const [usage] =
        await sql`select used from offer_click_usage where offer_id = ${o?.id} and period = 'lifetime'`;
      expect(usage?.used).toBe(5);
    } finally {
      await second.stop();
    }
  });
});

describe("conversion and payout caps", () => {
  test("a full conversion or payout cap sends every click to the fallback with its reason, read at each click; without a fallback URL nothing changes", async () => {
    const [brand] = await sql`select id, timezone from brands where slug = 'casino'`;
    const [adv] = await sql`select id from advertisers where brand_id = ${brand?.id} limit 1`;
    const offer = async (name: string, fallback: string | null) => {
      const [o] = await sql`
        insert into offers (brand_id, advertiser_id, name, destination_url, currency, payout_cap_monthly, fallback_url)
        values (${brand?.id}, ${adv?.id}, ${name}, ${`https://${name}.example/?cid={click_id}`}, 'EUR', 100, ${fallback})
        returning id`;
      await sql`insert into offer_events (offer_id, code, cap_daily) values (${o?.id}, 'ftd', 2), (${o?.id}, 'registration', null)`;
      await sql`insert into links (code, offer_id, affiliate_id) values (${name}, ${o?.id}, ${ids.affiliate})`;
      return o?.id as string;
    };
    const capped = await offer("filled", "https://fallback.example/?cid={click_id}");
    const homeless = await offer("homeless", null);
    await publish(
      bus,
      subjects.configChanged("offers"),
      { resource: "offers", id: capped },
      { msgId: crypto.randomUUID() },
    );
    await waitFor(
      async () => (await hit("/c/filled")).status === 302 && (await hit("/c/homeless")).status === 302,
    );
    const hostOf = async (code: string, userAgent = CHROME_WINDOWS) => {
      const r = await hit(`/c/${code}`, { headers: { "user-agent": userAgent } });
      const location = new URL(r.headers.get("location") as string);
      return { host: location.host, clickId: location.searchParams.get("cid") as string };
    };
    const period = (unit: "day" | "month") =>
      sql`date_trunc(${unit}, now() at time zone ${brand?.timezone as string})::date`;
    // Yesterday's full counter and this month's below the cap leave the offer open.
    for (const o of [capped, homeless]) {
      await sql`insert into offer_cap_usage (offer_id, event, period, period_start, used)
                values (${o}, 'ftd', 'day', ${period("day")} - 1, 2), (${o}, 'ftd', 'day', ${period("day")}, 1)`;
      await sql`insert into offer_payout_usage (offer_id, period, period_start, payout)
                values (${o}, 'month', ${period("month")}, 99.99)`;
    }
    expect((await hostOf("filled")).host).toBe("filled.example");
    // The conversion that fills today's ftd cap: the next click, a bot's too, goes to the fallback.
    await sql`update offer_cap_usage set used = 2 where period_start = ${period("day")}`;
    const full = await hostOf("filled");
    expect(full.host).toBe("fallback.example");
    expect((await hostOf("filled", "curl/8.5.0")).host).toBe("fallback.example");
    expect((await hostOf("homeless")).host).toBe("homeless.example");
    await waitFor(async () => Boolean(await clickRow(full.clickId)));
    expect((await clickRow(full.clickId))?.reasons).toEqual(["conversion_cap"]);
    // Raised: open at once. Then the month's payout reaches 100.
    await sql`update offer_events set cap_daily = 3 where offer_id = ${capped} and code = 'ftd'`;
    expect((await hostOf("filled")).host).toBe("filled.example");
    await sql`update offer_payout_usage set payout = 100 where offer_id in ${sql([capped, homeless])}`;
    const paid = await hostOf("filled");
    expect(paid.host).toBe("fallback.example");
    expect((await hostOf("homeless")).host).toBe("homeless.example");
    await waitFor(async () => Boolean(await clickRow(paid.clickId)));
    expect((await clickRow(paid.clickId))?.reasons).toEqual(["payout_cap"]);
    // Removed: open at once.
    await sql`update offers set payout_cap_monthly = null where id = ${capped}`;
    expect((await hostOf("filled")).host).toBe("filled.example");
  });
});

describe("cookie and cache", () => {
  test("a first-party rt_cid cookie carries the click ID; cross-site (Secure, SameSite=None) and a shared domain when configured", async () => {
    const res = await hit("/c/live");
    const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
    const cookie = res.headers.get("set-cookie") as string;
    expect(cookie).toContain(`rt_cid=${clickId}`);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Lax");
    expect(res.headers.get("cache-control")).toBe("no-store");

    const secure = await startServiceForTest("click", clickEnv, buildClick, {
      sql,
      bus,
      env: { ...clickTestEnv, CLICK_COOKIE_DOMAIN: "track.example.com", CLICK_COOKIE_SECURE: "true" },
    });
    try {
      const r2 = await hit("/c/live", {}, secure.url);
      const c2 = r2.headers.get("set-cookie") as string;
      expect(c2).toContain("SameSite=None; Secure");
      expect(c2).toContain("Domain=track.example.com");
    } finally {
      await secure.stop();
    }
  });

  test("the link cache follows admin changes announced on the bus: no restart, no database read per click", async () => {
    const [link] =
      await sql`insert into links (code, offer_id, affiliate_id) values ('fresh', ${ids.offer}, ${ids.affiliate}) returning id`;
    expect((await hit("/c/fresh")).status).toBe(404);
    const announced = Date.now();
    await publish(
      bus,
      subjects.configChanged("links"),
      { resource: "links", id: link?.id },
      { msgId: crypto.randomUUID() },
    );
    await waitFor(async () => (await hit("/c/fresh")).status === 302);
    const tookMs = Date.now() - announced;
    await sql`update links set status = 'paused' where id = ${link?.id}`;
    await publish(
      bus,
      subjects.configChanged("links"),
      { resource: "links", id: link?.id },
      { msgId: crypto.randomUUID() },
    );
    await waitFor(async () => (await hit("/c/fresh")).status === 404);
    console.log(`link cache picked up a new link ${tookMs} ms after the announcement`);
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await Bun.sleep(20);
  }
  throw new Error("condition not met in time");
}
