import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ClickIdCodec } from "@roundtrip/clickid";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { Replicas } from "./support/replicas.ts";
import { CLICK_ID_KEYS, eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * Smart links end to end (issue 13, docs/routing.md), across the real processes with two click
 * replicas: one tracking link routes a UK iPhone to the sportsbook offer and everyone else to the
 * casino; each advertiser postback credits the offer the click was routed to (its payout), and the
 * affiliate's postback carries that offer — also for a postback that overtakes its click row,
 * because the click ID names the destination's link.
 */
const SAFARI_IPHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const CHROME_WINDOWS =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const UK_IP = "81.2.69.142";
const US_IP = "8.8.8.8";

let env: TestStack;
let replicas: Replicas;
let program: Program;
let sportsbook: { id: string };
const affiliate = startAffiliateEndpoint();

beforeAll(async () => {
  // The test stands in for the load balancer in front of the click service.
  env = await startTestStack(
    "smartlinks",
    { TRUSTED_PROXIES: "127.0.0.0/8,::1/128" },
    { readyTimeoutMs: 90_000 },
  );
  replicas = new Replicas(env);
  program = await createProgram(env.admin, { postbackUrl: affiliate.url, ftdPayout: "25.00" });
  sportsbook = await env.admin.post<{ id: string }>("/v1/offers", {
    brand_id: program.brand.id,
    advertiser_id: program.advertiser.id,
    name: "Sportsbook",
    destination_url: "https://sportsbook.example/welcome?cid={click_id}",
    currency: "EUR",
    events: [{ code: "ftd", window_days: 30 }],
  });
  await env.admin.post("/v1/payout-rules", {
    offer_id: sportsbook.id,
    event: "ftd",
    model: "cpa",
    payout: "40.00",
    revenue: "60.00",
    currency: "EUR",
  });
  // Per offer, so the affiliate's postback says which offer earned it.
  for (const offerId of [program.offer.id, sportsbook.id])
    await env.admin.post("/v1/affiliate-postbacks", {
      affiliate_id: program.affiliate.id,
      offer_id: offerId,
      url_template: `${affiliate.url}/routed?cid={click_id}&offer={offer_id}&pay={payout}&st={status}`,
    });
  await replicas.start("click", 1);
}, 240_000);

afterAll(async () => {
  await replicas?.stop();
  await env?.stop();
  affiliate.stop();
}, 60_000);

type Routing = {
  rules: { id: string; destinations: { offer_id: string; link_id: string }[] }[];
  fallback: { id: string };
};

/** A click through replica `replica` from `ip` with `userAgent`: where it went and its click ID. */
async function click(replica: number, ip: string, userAgent: string) {
  const res = await fetch(`${replicas.get("click", replica).url}/c/${program.link.code}?sub1=r${replica}`, {
    redirect: "manual",
    headers: { "user-agent": userAgent, "x-forwarded-for": ip, "accept-language": "en-GB,en;q=0.8" },
  });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get("location") as string);
  return { host: location.host, clickId: location.searchParams.get("cid") as string };
}

async function ftd(clickId: string, txid: string) {
  const res = await fetch(
    `${env.urls.gateway}/postback?${new URLSearchParams({
      token: program.advertiser.token,
      click_id: clickId,
      txid,
      event: "ftd",
      status: "approved",
      amount: "100",
    })}`,
  );
  expect(res.status).toBe(200);
}

describe("a smart link across two click replicas", () => {
  let routing: Routing;

  test("routes by country and device: each click goes to its offer and records what served it", async () => {
    routing = await env.admin.put<Routing>(`/v1/links/${program.link.id}/routing`, {
      rules: [
        {
          name: "UK mobile → sportsbook",
          when: { countries: ["GB"], device_types: ["mobile"], os: ["iOS"] },
          destinations: [{ offer_id: sportsbook.id }],
        },
      ],
    });
    const sportsbookLink = routing.rules[0]?.destinations[0]?.link_id as string;
    // Both replicas' link caches follow the change (announced on the bus).
    const routed = await eventually(async () => {
      const c = await click(1, UK_IP, SAFARI_IPHONE);
      return c.host === "sportsbook.example" ? c : undefined;
    }, "replica 1 to route the UK iPhone");
    const plain = await click(0, US_IP, CHROME_WINDOWS);
    expect(plain.host).toBe("casino.example");
    const rows = await eventually(
      async () => {
        const r =
          await env.sql`select * from clicks where click_id in ${env.sql([routed.clickId, plain.clickId])}`;
        return r.length === 2 ? r : undefined;
      },
      "both clicks stored",
      30_000,
    );
    const byId = new Map(rows.map((r) => [r.click_id, r]));
    expect(byId.get(routed.clickId)).toMatchObject({
      link_id: sportsbookLink,
      offer_id: sportsbook.id,
      via_link_id: program.link.id,
      route_rule_id: routing.rules[0]?.id,
      country: "GB",
      device_type: "mobile",
    });
    expect(byId.get(plain.clickId)).toMatchObject({
      link_id: program.link.id,
      offer_id: program.offer.id,
      via_link_id: program.link.id,
      route_rule_id: routing.fallback.id,
      country: "US",
    });

    // Each postback credits the routed offer: its payout, and the affiliate's postback names it.
    await ftd(routed.clickId, `sl-${crypto.randomUUID().slice(0, 8)}`);
    await ftd(plain.clickId, `sl-${crypto.randomUUID().slice(0, 8)}`);
    const sent = (clickId: string) =>
      eventually(
        async () =>
          affiliate.received.find(
            (p) => p.url.pathname === "/routed" && p.url.searchParams.get("cid") === clickId,
          ),
        `the affiliate's postback for ${clickId}`,
        30_000,
      );
    const toSportsbook = await sent(routed.clickId);
    expect(toSportsbook.url.searchParams.get("offer")).toBe(sportsbook.id);
    expect(toSportsbook.url.searchParams.get("pay")).toBe("40.00");
    const toCasino = await sent(plain.clickId);
    expect(toCasino.url.searchParams.get("offer")).toBe(program.offer.id);
    expect(toCasino.url.searchParams.get("pay")).toBe("25.00");
    const conversions = await env.sql`
      select c.click_id, c.offer_id, c.link_id, l.payout from conversions c
      join ledger_entries l on l.conversion_id = c.id
      where c.click_id in ${env.sql([routed.clickId, plain.clickId])}`;
    expect(conversions.find((c) => c.click_id === routed.clickId)).toMatchObject({
      offer_id: sportsbook.id,
      link_id: sportsbookLink,
    });
    expect(conversions.find((c) => c.click_id === plain.clickId)).toMatchObject({
      offer_id: program.offer.id,
    });

    // The trace says which rule and destination served the click.
    const trace = await env.admin.get<{
      clicks: { route: Record<string, unknown> | null; click: Record<string, unknown> | null }[];
      timeline: { kind: string; summary: string }[];
    }>(`/v1/trace?click_id=${routed.clickId}`);
    expect(trace.clicks[0]?.route).toMatchObject({
      via_link_code: program.link.code,
      rule_id: routing.rules[0]?.id,
      rule_name: "UK mobile → sportsbook",
      offer_id: sportsbook.id,
      country: "GB",
    });
    expect(trace.timeline.find((e) => e.kind === "click")?.summary).toContain(
      `routed to offer ${sportsbook.id}`,
    );
  }, 120_000);

  test("a postback that overtakes its click credits the routed offer: the click ID names the destination's link", async () => {
    const sportsbookLink = Number(routing.rules[0]?.destinations[0]?.link_id);
    // A click ID as the click service mints it for the routed destination, whose row never arrives.
    const clickId = ClickIdCodec.fromSpec(CLICK_ID_KEYS).mint(sportsbookLink, new Date());
    await ftd(clickId, `sl-${crypto.randomUUID().slice(0, 8)}`);
    const conversion = await eventually(
      async () => {
        const [c] = await env.sql`select offer_id, status from conversions where click_id = ${clickId}`;
        return c;
      },
      "the conversion of a click not stored",
      30_000,
    );
    expect(conversion.offer_id).toBe(sportsbook.id);
    const sent = await eventually(
      async () => affiliate.received.find((p) => p.url.searchParams.get("cid") === clickId),
      "the affiliate's postback",
      30_000,
    );
    expect(sent.url.searchParams.get("offer")).toBe(sportsbook.id);
  }, 60_000);
});
