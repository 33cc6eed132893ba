/**
 * The intake edge as an integrator meets it: the real click, gateway and admin processes (plus
 * a second gateway configured behind a proxy), driven over real ports.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ClickIdCodec } from "@roundtrip/clickid";
import { isCurrency } from "@roundtrip/contracts";
import { type Stack, startStack } from "@roundtrip/stack";
import fc from "fast-check";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { clickRequests, gatewayRequests } from "./support/hostile.ts";
import { CLICK_ID_KEYS, eventually, NATS_URL, startTestStack, type TestStack } from "./support/test-stack.ts";

const codec = ClickIdCodec.fromSpec(CLICK_ID_KEYS);

let env: TestStack;
let proxied: Stack<"gateway">;
let affiliate: ReturnType<typeof startAffiliateEndpoint>;
let program: Program;

beforeAll(async () => {
  affiliate = startAffiliateEndpoint();
  env = await startTestStack("intakeedge");
  program = await createProgram(env.admin, { postbackUrl: affiliate.url });
  // A second gateway on the same database and streams, deployed behind one proxy: the test's
  // own connection plays the proxy, its X-Forwarded-For the header the proxy appended to.
  proxied = await startStack({
    databaseUrl: env.databaseUrl,
    natsUrl: NATS_URL,
    busPrefix: env.busPrefix,
    services: ["gateway"],
    ports: "free",
    migrate: false,
    provision: false,
    env: { CLICK_ID_KEYS, TRUSTED_PROXY_HOPS: "1", LOG_LEVEL: "warn" },
    stopTimeoutMs: 8_000,
  });
}, 120_000);

afterAll(async () => {
  await proxied?.stop();
  await env?.stop();
  affiliate?.stop();
}, 60_000);

/** An advertiser with its own offer (ftd, deposit) and a link for the program's affiliate. */
async function advertiser(settings: Record<string, unknown> = {}) {
  const adv = await env.admin.post<{ id: string; token: string }>("/v1/advertisers", {
    brand_id: program.brand.id,
    name: `Adv ${crypto.randomUUID().slice(0, 6)}`,
    ...settings,
  });
  const offer = await env.admin.post<{ id: string }>("/v1/offers", {
    brand_id: program.brand.id,
    advertiser_id: adv.id,
    name: "Offer",
    destination_url: "https://casino.example/?cid={click_id}",
    currency: "EUR",
    events: [{ code: "ftd" }, { code: "deposit" }],
  });
  const link = await env.admin.post<{ id: string }>("/v1/links", {
    offer_id: offer.id,
    affiliate_id: program.affiliate.id,
  });
  return { ...adv, offerId: offer.id, linkId: Number(link.id) };
}

const postback = (base: string, params: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${base}/postback?${new URLSearchParams(params)}`, { headers });

type Answer = { status: number; code?: string; events?: string[] };
async function answer(res: Response): Promise<Answer> {
  const body = (await res.json()) as { error?: { code: string; events?: string[] } };
  return { status: res.status, code: body.error?.code, events: body.error?.events };
}

describe("the IP allowlist in a running gateway", () => {
  test("the socket's address decides: 127.0.0.1/32 is let in, 10.0.0.0/8 is not, and a forged X-Forwarded-For changes nothing", async () => {
    const local = await advertiser({ ip_allowlist: ["127.0.0.1/32", "::1/128"] });
    const internal = await advertiser({ ip_allowlist: ["10.0.0.0/8"] });
    const send = (a: typeof local, txid: string, headers: Record<string, string> = {}) =>
      postback(
        env.urls.gateway,
        { click_id: codec.mint(a.linkId), txid, event: "ftd", token: a.token },
        headers,
      ).then(answer);

    expect(await send(local, "AL-1")).toMatchObject({ status: 200 });
    expect(await send(internal, "AL-2")).toMatchObject({ status: 403, code: "ip_not_allowed" });
    // No proxy is trusted here: the header is the client's own claim.
    expect(await send(internal, "AL-3", { "x-forwarded-for": "10.1.2.3" })).toMatchObject({
      status: 403,
      code: "ip_not_allowed",
    });
    const logged = await env.sql`
      select params->>'txid' as txid, ip from postback_log where params->>'txid' like 'AL-%' order by txid`;
    expect(logged.map((r) => [r.txid, r.ip])).toEqual([
      ["AL-1", "127.0.0.1"],
      ["AL-2", "127.0.0.1"],
      ["AL-3", "127.0.0.1"],
    ]);
  });

  test("behind a trusted proxy the right-most untrusted hop is the client; entries left of it are not", async () => {
    const internal = await advertiser({ ip_allowlist: ["10.0.0.0/8"] });
    const send = (txid: string, forwardedFor: string) =>
      postback(
        proxied.urls.gateway,
        { click_id: codec.mint(internal.linkId), txid, event: "ftd", token: internal.token },
        { "x-forwarded-for": forwardedFor },
      ).then(answer);

    // The proxy appended 10.1.2.3 (what it saw); 203.0.113.9 is whatever the client sent.
    expect(await send("PX-1", "203.0.113.9, 10.1.2.3")).toMatchObject({ status: 200 });
    // A client outside claiming to be inside: the proxy appended its real address.
    expect(await send("PX-2", "10.1.2.3, 203.0.113.9")).toMatchObject({
      status: 403,
      code: "ip_not_allowed",
    });
    const logged = await env.sql`
      select params->>'txid' as txid, ip from postback_log where params->>'txid' like 'PX-%' order by txid`;
    expect(logged.map((r) => [r.txid, r.ip])).toEqual([
      ["PX-1", "10.1.2.3"],
      ["PX-2", "203.0.113.9"],
    ]);
  });
});

describe("what the gateway can know, it answers now", () => {
  test("a burst of new links: a valid click ID fired the moment its link exists converts (no 422 click_id_unknown_link)", async () => {
    // Each postback leaves the moment admin has answered for its link, as an advertiser's
    // server may when a visitor converts within a second of the link's first click.
    const answers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const link = await env.admin.post<{ id: string }>("/v1/links", {
          offer_id: program.offer.id,
          affiliate_id: program.affiliate.id,
        });
        return postback(env.urls.gateway, {
          click_id: codec.mint(Number(link.id)),
          txid: `NL-${i}`,
          event: "ftd",
          token: program.advertiser.token,
        }).then(answer);
      }),
    );
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
  });

  test("an event the offer does not define: 422 naming it, with the offer's events", async () => {
    const a = await postback(env.urls.gateway, {
      click_id: codec.mint(Number(program.link.id)),
      txid: "UE-1",
      event: "withdrawal",
      token: program.advertiser.token,
    });
    expect(a.status).toBe(422);
    const body = (await a.json()) as { error: { code: string; message: string; events: string[] } };
    expect(body.error.code).toBe("unknown_event");
    expect(body.error.message).toContain("withdrawal");
    expect(body.error.events).toEqual(["ftd", "registration", "refund", "chargeback"]);
  });

  test("the click service resolves the visitor's address the same way (socket, no proxy trusted)", async () => {
    const res = await eventually(async () => {
      const r = await fetch(`${env.urls.click}/c/${program.link.code}?sub1=ip-check`, {
        redirect: "manual",
        headers: { "x-forwarded-for": "198.51.100.77", "user-agent": "Mozilla/5.0 (ip-check)" },
      });
      return r.status === 302 ? r : undefined;
    }, "the tracking link to redirect");
    const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
    const row = await eventually(
      async () => (await env.sql`select ip from clicks where click_id = ${clickId}`)[0],
      "the click row",
    );
    expect(row.ip).toBe("127.0.0.1");
  });
});

describe("hostile input is data, never a failure", () => {
  test("generated hostile requests to the real gateway and click: no 5xx, every request logged, nothing unstorable or invalid stored", async () => {
    const known = {
      clickId: codec.mint(Number(program.link.id)),
      token: program.advertiser.token,
      brand: program.brand.slug,
    };
    const [{ before }] =
      (await env.sql`select coalesce(max(id), 0)::bigint as before from postback_log`) as unknown as [
        { before: string },
      ];
    const failures: string[] = [];
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(gatewayRequests(known), async (req) => {
        const res = await fetch(`${env.urls.gateway}${req.path}`, req.init);
        await res.arrayBuffer();
        sent++;
        if (res.status >= 500) failures.push(`${req.label} ${req.path.slice(0, 120)} → ${res.status}`);
        expect(res.status).toBeLessThan(500);
      }),
      { numRuns: 250 },
    );
    expect(failures).toEqual([]);
    // Every request, accepted or not, has its row: none was lost to a row PostgreSQL refused.
    const [{ logged }] = (await env.sql`
      select count(*)::int as logged from postback_log where id > ${before}`) as unknown as [
      { logged: number },
    ];
    expect(logged).toBe(sent);
    const receipts =
      await env.sql`select currency, txid, event from postback_receipts where currency is not null`;
    expect(receipts.filter((r) => !isCurrency(r.currency))).toEqual([]);

    const UA = `Mozilla/5.0 (fuzz ${crypto.randomUUID().slice(0, 8)})`;
    let recorded = 0;
    await fc.assert(
      fc.asyncProperty(clickRequests(program.link.code, UA), async (req) => {
        const res = await fetch(`${env.urls.click}${req.path}`, req.init);
        await res.arrayBuffer();
        expect([302, 404]).toContain(res.status);
        if (res.status === 302) recorded++;
      }),
      { numRuns: 150 },
    );
    // Every recorded click reaches the clicks table through CLICKS: no batch was poisoned.
    await eventually(
      async () => {
        const [{ stored }] = (await env.sql`
          select count(*)::int as stored from clicks where user_agent = ${UA}`) as unknown as [
          { stored: number },
        ];
        return stored === recorded;
      },
      `all ${recorded} fuzzed clicks stored`,
      30_000,
    );
  }, 120_000);
});
