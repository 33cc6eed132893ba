import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Bus, connectBus, provision } from "@roundtrip/bus";
import { ClickIdCodec } from "@roundtrip/clickid";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { SIGNATURE_HEADER, signPostback } from "@roundtrip/intake";
import { startServiceForTest, type TestService } from "@roundtrip/service";
import { PIXEL_JS } from "./pixel.ts";
import { buildGateway, gatewayEnv } from "./service.ts";

const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const CLICK_ID_KEYS = `t1:${"k".repeat(40)}`;
const codec = ClickIdCodec.fromSpec(CLICK_ID_KEYS);
const TOKEN = "tok_abcdefghijklmnopqrstuvwxyz";
const SECRET = "s".repeat(40);
const sha256 = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");

let db: TestDatabase;
let sql: Sql;
let bus: Bus;
let gateway: TestService;
let link: number;
let signedLink: number;
let limitedLink: number;
let localLink: number;

async function advertiser(
  brandId: string,
  columns: Record<string, unknown>,
  secret?: string,
): Promise<number> {
  const [a] =
    await sql`insert into advertisers ${sql({ brand_id: brandId, name: "A", ...columns })} returning id`;
  if (secret)
    await sql`insert into advertiser_signing_keys (advertiser_id, secret) values (${a?.id}, ${secret})`;
  const [o] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${brandId}, ${a?.id}, 'O', 'https://x.example/?c={click_id}', 'EUR') returning id`;
  for (const code of ["registration", "ftd", "deposit"])
    await sql`insert into offer_events (offer_id, code) values (${o?.id}, ${code})`;
  const [af] = await sql`insert into affiliates (name) values ('Aff') returning id`;
  const [l] =
    await sql`insert into links (code, offer_id, affiliate_id) values (${crypto.randomUUID().slice(0, 8)}, ${o?.id}, ${af?.id}) returning id`;
  return Number(l?.id);
}

beforeAll(async () => {
  db = await createTestDatabase("gateway");
  sql = db.sql;
  const [b] =
    await sql`insert into brands (slug, name, currency) values ('casino', 'Casino', 'EUR') returning id`;
  link = await advertiser(b?.id, { token_hash: sha256(TOKEN), pixel_enabled: true });
  signedLink = await advertiser(b?.id, { ip_allowlist: ["198.51.100.0/24", "2001:db8::/32"] }, SECRET);
  limitedLink = await advertiser(b?.id, { rate_limit_per_second: 2 });
  localLink = await advertiser(b?.id, { ip_allowlist: ["127.0.0.1/32", "::1/128"] }, SECRET);
  bus = await connectBus({
    url: NATS_URL,
    prefix: `gw${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`,
    name: "gateway-test",
  });
  await provision(bus);
  gateway = await startServiceForTest("gateway", gatewayEnv, buildGateway, {
    sql,
    bus,
    env: {
      CLICK_ID_KEYS,
      IP_TRUNCATE: "last-octet",
      // The test is the proxy: its X-Forwarded-For names the advertiser.
      TRUSTED_PROXIES: "127.0.0.1/32, ::1/128",
      POSTBACK_MAX_BODY_BYTES: "4096",
    },
  });
});

afterAll(async () => {
  await gateway?.stop();
  if (bus) {
    for await (const name of bus.jsm.streams.names())
      if (name.startsWith(`${bus.names.prefix}_`)) await bus.jsm.streams.delete(name);
    await bus.close();
  }
  await db?.drop();
});

/** Through a real port, as an advertiser's server reaches the deployed gateway. */
const call = (path: string, init: RequestInit = {}) => fetch(`${gateway.url}${path}`, init);
const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

describe("gateway HTTP", () => {
  test("serves its OpenAPI document, as built by the entry", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual(["/pixel", "/pixel.gif", "/postback", "/postback/{brand}"]);
  });

  test("GET with query, POST with JSON and with a form: 200 after the commit", async () => {
    const get = await call(
      `/postback?${q({ click_id: codec.mint(link), txid: "G-1", event: "ftd", token: TOKEN })}`,
    );
    expect(get.status).toBe(200);
    const body = (await get.json()) as { status: string; receipt_id: string; duplicate: boolean };
    expect(body).toEqual({ status: "accepted", receipt_id: expect.any(String), duplicate: false });
    const [row] = await sql`select txid from postback_receipts where id = ${body.receipt_id}`;
    expect(row?.txid).toBe("G-1");

    const json = await call(`/postback?token=${TOKEN}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"click_id":"${codec.mint(link)}","txid":"J-1","event":"deposit","amount":12345678901234.123456}`,
    });
    expect(json.status).toBe(200);
    const [j] = await sql`select amount::text from postback_receipts where txid = 'J-1'`;
    // The JSON number never went through a float.
    expect(j?.amount).toBe("12345678901234.123456");

    const form = await call("/postback", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: q({ cid: codec.mint(link), transaction_id: "F-1", goal: "ftd", token: TOKEN }),
    });
    expect(form.status).toBe(200);
  });

  test("bad bodies: too large (declared or streamed), not JSON, not an object, unknown type — each refused and logged", async () => {
    const big = await call("/postback", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"x":"${"y".repeat(5000)}"}`,
    });
    expect(big.status).toBe(413);
    let chunks = 0;
    const stream = new ReadableStream({
      pull(controller) {
        if (chunks++ < 8) controller.enqueue(new TextEncoder().encode("x".repeat(1024)));
        else controller.close();
      },
    });
    const streamed = await call("/postback", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream,
    });
    expect(streamed.status).toBe(413);
    expect(((await streamed.json()) as { error: { code: string } }).error.code).toBe("body_too_large");
    const notJson = await call("/postback", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{nope",
    });
    expect(notJson.status).toBe(400);
    const array = await call("/postback", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "[1,2]",
    });
    expect(array.status).toBe(400);
    const xml = await call("/postback", {
      method: "POST",
      headers: { "content-type": "application/xml" },
      body: "<a/>",
    });
    expect(xml.status).toBe(415);
    const logged =
      await sql`select reason, http_status from postback_log where reason in ('body_too_large', 'invalid_body', 'unsupported_media_type')`;
    expect(logged.length).toBe(5);
  });

  test("a parameter in both query and body, or repeated, is refused by name", async () => {
    const clickId = codec.mint(link);
    const both = await call(`/postback?event=ftd&token=${TOKEN}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ click_id: clickId, event: "deposit" }),
    });
    expect(both.status).toBe(400);
    expect(((await both.json()) as { error: { field: string } }).error.field).toBe("event");
    const repeated = await call(`/postback?click_id=${clickId}&event=ftd&event=deposit&token=${TOKEN}`);
    expect(repeated.status).toBe(400);
  });

  test("a signed POST from an allowed IP is accepted; tampering, old timestamps, replays and other IPs are not", async () => {
    const body = JSON.stringify({
      click_id: codec.mint(signedLink),
      txid: "S-1",
      event: "ftd",
      amount: "10.00",
    });
    const send = (header: string, ip: string, payload = body) =>
      call("/postback", {
        method: "POST",
        headers: { "content-type": "application/json", [SIGNATURE_HEADER]: header, "x-forwarded-for": ip },
        body: payload,
      });
    const header = signPostback(SECRET, { method: "POST", target: "/postback", body });
    expect((await send(header, "203.0.113.1")).status).toBe(403);
    expect((await send(header, "198.51.100.7", body.replace("10.00", "99.00"))).status).toBe(401);
    const old = signPostback(SECRET, {
      method: "POST",
      target: "/postback",
      body,
      timestamp: Math.floor(Date.now() / 1000) - 3600,
    });
    const oldAnswer = await send(old, "198.51.100.7");
    expect(oldAnswer.status).toBe(401);
    expect(((await oldAnswer.json()) as { error: { code: string } }).error.code).toBe("signature_expired");
    expect((await send(header, "2001:db8::42")).status).toBe(200);
    const replay = await send(header, "198.51.100.7");
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: { code: string } }).error.code).toBe("signature_replayed");
  });

  test("the socket's address reaches the allowlist and the request log (no proxy header): S2S addresses are kept whole", async () => {
    const body = JSON.stringify({ click_id: codec.mint(localLink), txid: "SOCK-1", event: "ftd" });
    const res = await call("/postback", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        [SIGNATURE_HEADER]: signPostback(SECRET, { method: "POST", target: "/postback", body }),
      },
      body,
    });
    expect(res.status).toBe(200);
    const [logged] = await sql`select ip from postback_log where params->>'txid' = 'SOCK-1'`;
    expect(logged?.ip).toBe("127.0.0.1");
  });

  test("over the advertiser's rate: 429 with Retry-After", async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const res = await call(`/postback?${q({ click_id: codec.mint(limitedLink), event: "ftd" })}`);
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get("retry-after");
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(3);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });

  test("a HEAD request never books anything", async () => {
    const query = q({ click_id: codec.mint(link), txid: "HEAD-1", event: "ftd", token: TOKEN });
    expect((await call(`/postback?${query}`, { method: "HEAD" })).status).toBe(405);
    expect((await call(`/pixel?${query}`, { method: "HEAD" })).status).toBe(200);
    expect(await sql`select 1 from postback_receipts where txid = 'HEAD-1'`).toHaveLength(0);
  });

  test("per-brand endpoint", async () => {
    expect(
      (await call(`/postback/casino?${q({ click_id: codec.mint(link), event: "ftd", token: TOKEN })}`))
        .status,
    ).toBe(200);
    expect(
      (await call(`/postback/unknown?${q({ click_id: codec.mint(link), event: "ftd", token: TOKEN })}`))
        .status,
    ).toBe(404);
  });

  test("every outcome is counted per advertiser", async () => {
    const text = await gateway.registry.metrics();
    for (const outcome of ["accepted", "unauthorized", "forbidden", "invalid", "rate_limited"]) {
      expect(text).toContain(`outcome="${outcome}"`);
    }
  });
});

describe("pixel fallback", () => {
  test("the pixel answers a GIF, reads the rt_cid cookie, and reports the outcome in headers", async () => {
    const clickId = codec.mint(link);
    const res = await call("/pixel?event=registration&txid=PX-1", {
      headers: { cookie: `other=1; rt_cid=${clickId}`, "x-forwarded-for": "203.0.113.77" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/gif");
    expect(res.headers.get("x-roundtrip-outcome")).toBe("accepted");
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(30);
    const [r] = await sql`select source, click_id from postback_receipts where txid = 'PX-1'`;
    expect(r).toEqual({ source: "pixel", click_id: clickId });
    const [logged] = await sql`select ip from postback_log where source = 'pixel' order by id desc limit 1`;
    expect(logged?.ip).toBe("203.0.113.0");
    const none = await call("/pixel?event=registration");
    expect(none.status).toBe(400);
    expect(none.headers.get("content-type")).toBe("image/gif");
  });

  test("pixel.js stores the landing page's click ID first-party and fires the pixel with it", async () => {
    const res = await call("/pixel.js");
    expect(res.headers.get("content-type")).toContain("javascript");
    expect(await res.text()).toBe(PIXEL_JS);

    // A minimal browser: the landing page, then the conversion page on the advertiser's domain.
    const clickId = codec.mint(link);
    const images: string[] = [];
    const browser = (search: string, dataset: Record<string, string>) => {
      const document = { cookie: jar, currentScript: { src: "https://track.example/pixel.js", dataset } };
      const window: Record<string, unknown> = {};
      class Image {
        set src(value: string) {
          images.push(value);
        }
      }
      new Function("document", "location", "window", "Image", "URL", "URLSearchParams", PIXEL_JS)(
        document,
        { search, protocol: "https:" },
        window,
        Image,
        URL,
        URLSearchParams,
      );
      return document.cookie;
    };
    let jar = "";
    jar = browser(`?click_id=${clickId}&utm=x`, {});
    expect(jar).toContain(`rt_cid=${clickId}`);
    expect(images).toEqual([]);
    browser("", { event: "ftd", txid: "JS-1", amount: "50.00" });
    const fired = new URL(images[0] as string);
    expect(fired.origin + fired.pathname).toBe("https://track.example/pixel");
    expect(Object.fromEntries(fired.searchParams)).toEqual({
      event: "ftd",
      txid: "JS-1",
      amount: "50.00",
      click_id: clickId,
    });
    // The pixel it fires is accepted by the gateway.
    expect((await call(`/pixel${fired.search}`)).status).toBe(200);
  });
});
