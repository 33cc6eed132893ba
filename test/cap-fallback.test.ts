import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { addAffiliate, createProgram, type Program } from "./support/fixtures.ts";
import { BROWSER_UA } from "./support/load.ts";
import { Replicas } from "./support/replicas.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * Conversion and payout caps send an offer's traffic to its fallback at once (issue 13,
 * docs/routing.md), across the real processes with two click replicas: postbacks through the
 * gateway fill a cap (attribution counts conversions, commission counts payout), and the clicks
 * made right after the counter commits — no wait, no retry — go to the fallback URL on both
 * replicas, recorded with the cap's reason. Raising the cap, or a conversion giving its place or
 * its payout back, reopens the offer for the very next click.
 */
const FALLBACK = "https://fallback.example/full?cid={click_id}";

let env: TestStack;
let replicas: Replicas;
const affiliate = startAffiliateEndpoint();

beforeAll(async () => {
  // The test stands in for the load balancer: each visitor its own address, so no click flood flags
  // one (30 clicks a minute from one address by default).
  env = await startTestStack(
    "capfallback",
    { TRUSTED_PROXIES: "127.0.0.0/8,::1/128" },
    { readyTimeoutMs: 90_000 },
  );
  replicas = new Replicas(env);
  await replicas.start("click", 1);
}, 240_000);

afterAll(async () => {
  await replicas?.stop();
  await env?.stop();
  affiliate.stop();
}, 60_000);

let visitors = 0;
const visitor = () => {
  visitors++;
  return {
    "user-agent": BROWSER_UA,
    "x-forwarded-for": `10.${(visitors >> 16) & 255}.${(visitors >> 8) & 255}.${visitors & 255}`,
  };
};

/** A click of a new visitor through replica `replica`: where it went, and its click ID. */
async function click(replica: number, code: string) {
  const res = await fetch(`${replicas.get("click", replica).url}/c/${code}`, {
    redirect: "manual",
    headers: visitor(),
  });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get("location") as string);
  return { host: location.host, clickId: location.searchParams.get("cid") as string };
}

/** Whether replica `replica` knows the link (a 302, not a 404). */
async function redirects(replica: number, code: string): Promise<boolean> {
  const res = await fetch(`${replicas.get("click", replica).url}/c/${code}`, {
    redirect: "manual",
    headers: visitor(),
  });
  await res.arrayBuffer();
  return res.status === 302;
}

/** Three clicks on each replica at once. */
const burst = (code: string) => Promise.all([0, 0, 0, 1, 1, 1].map((r) => click(r, code)));

async function postback(
  program: Program,
  clickId: string,
  txid: string,
  event: string,
  status = "approved",
): Promise<void> {
  const res = await fetch(
    `${env.urls.gateway}/postback?${new URLSearchParams({
      token: program.advertiser.token,
      click_id: clickId,
      txid,
      event,
      status,
    })}`,
  );
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

/** The click rows, once attribution has stored them from the CLICKS stream. */
async function storedClicks(clickIds: string[]) {
  return eventually(
    async () => {
      const rows = await env.sql<{ click_id: string; offer_id: string; reasons: string[] }[]>`
        select click_id, offer_id, reasons from clicks where click_id in ${env.sql(clickIds)}`;
      return rows.length === clickIds.length ? rows : undefined;
    },
    "the clicks stored",
    30_000,
  );
}

const conversionsUsed = async (offerId: string) => {
  const [row] = await env.sql<{ used: number }[]>`
    select coalesce(sum(used), 0)::int as used from offer_cap_usage
    where offer_id = ${offerId} and event = 'registration' and period = 'day'`;
  return row?.used ?? 0;
};

const payoutUsed = async (offerId: string) => {
  const [row] = await env.sql<{ payout: string }[]>`
    select payout::text from offer_payout_usage where offer_id = ${offerId} and period = 'day'`;
  return row ? Number(row.payout) : 0;
};

describe("a conversion cap", () => {
  test("filled by postbacks, sends the next clicks of both replicas to the fallback; a smart link's destination gives way; raising the cap or a rejection reopens it", async () => {
    const program = await createProgram(env.admin, { postbackUrl: affiliate.url });
    const offer = program.offer.id;
    await env.admin.patch(`/v1/offers/${offer}`, { fallback_url: FALLBACK });
    await env.admin.put(`/v1/offers/${offer}/events/registration`, { cap_daily: 2 });
    // A smart link of another affiliate, on a spare offer: its rule sends every visitor to the
    // capped offer (its fallback is its own offer).
    const spare = await env.admin.post<{ id: string }>("/v1/offers", {
      brand_id: program.brand.id,
      advertiser_id: program.advertiser.id,
      name: "Spare",
      destination_url: "https://spare.example/?cid={click_id}",
      currency: "EUR",
      events: [{ code: "registration" }],
    });
    const smart = await addAffiliate(env.admin, { offerId: spare.id, postbackUrl: affiliate.url });
    await env.admin.put(`/v1/links/${smart.link.id}/routing`, {
      rules: [{ destinations: [{ offer_id: offer }] }],
    });
    // Both replicas follow the configuration (the link cache reloads on the bus announcement; the
    // routing was set last).
    for (const r of [0, 1])
      await eventually(
        async () =>
          (await redirects(r, smart.link.code)) &&
          (await click(r, smart.link.code)).host === "casino.example",
        `replica ${r}`,
      );

    const before = await burst(program.link.code);
    expect(before.map((c) => c.host)).toEqual(Array(6).fill("casino.example"));
    const run = crypto.randomUUID().slice(0, 8);
    await postback(program, before[0]?.clickId as string, `${run}-1`, "registration");
    await postback(program, before[3]?.clickId as string, `${run}-2`, "registration");
    await eventually(async () => (await conversionsUsed(offer)) === 2, "attribution to count both", 30_000);

    // At once: the first clicks after the count committed, on both replicas.
    const full = await burst(program.link.code);
    expect(full.map((c) => c.host)).toEqual(Array(6).fill("fallback.example"));
    const rows = await storedClicks(full.map((c) => c.clickId));
    expect(rows.map((r) => [r.offer_id, r.reasons])).toEqual(Array(6).fill([offer, ["conversion_cap"]]));
    // The smart link's destination gives way to the next: its fallback's spare offer.
    const routed = await Promise.all([click(0, smart.link.code), click(1, smart.link.code)]);
    expect(routed.map((c) => c.host)).toEqual(["spare.example", "spare.example"]);
    // The trace says which cap sent it away.
    const trace = await env.admin.get<{ timeline: { kind: string; summary: string }[] }>(
      `/v1/trace?click_id=${full[0]?.clickId}`,
    );
    expect(trace.timeline.find((e) => e.kind === "click")?.summary).toContain(
      "sent to the offer's fallback URL (conversion_cap)",
    );

    // Raised: the very next click reaches the offer again (the caps are read where they are kept).
    await env.admin.put(`/v1/offers/${offer}/events/registration`, { cap_daily: 3 });
    const raised = await Promise.all([click(0, program.link.code), click(1, program.link.code)]);
    expect(raised.map((c) => c.host)).toEqual(["casino.example", "casino.example"]);

    // Full again at 3; a rejection gives its place back, and the offer reopens.
    await postback(program, raised[0]?.clickId as string, `${run}-3`, "registration");
    await eventually(async () => (await conversionsUsed(offer)) === 3, "the third conversion", 30_000);
    expect((await burst(program.link.code)).map((c) => c.host)).toEqual(Array(6).fill("fallback.example"));
    await postback(program, before[0]?.clickId as string, `${run}-1`, "registration", "rejected");
    await eventually(async () => (await conversionsUsed(offer)) === 2, "the place given back", 30_000);
    expect((await burst(program.link.code)).map((c) => c.host)).toEqual(Array(6).fill("casino.example"));
  }, 180_000);
});

describe("a payout cap", () => {
  test("reached by booked commissions, sends the next clicks of both replicas to the fallback; raising it or a reversal reopens it", async () => {
    // CPA 25 EUR on ftd; the cap is 50 EUR a day.
    const program = await createProgram(env.admin, { postbackUrl: affiliate.url, ftdPayout: "25.00" });
    const offer = program.offer.id;
    await env.admin.patch(`/v1/offers/${offer}`, { fallback_url: FALLBACK, payout_cap_daily: "50" });
    // Both replicas follow the configuration: a link made after it redirects on each.
    const probe = await addAffiliate(env.admin, { offerId: offer, postbackUrl: affiliate.url });
    for (const r of [0, 1]) await eventually(() => redirects(r, probe.link.code), `replica ${r}`);
    const before = await burst(program.link.code);
    expect(before.map((c) => c.host)).toEqual(Array(6).fill("casino.example"));
    const run = crypto.randomUUID().slice(0, 8);
    await postback(program, before[0]?.clickId as string, `${run}-1`, "ftd");
    await postback(program, before[3]?.clickId as string, `${run}-2`, "ftd");
    await eventually(async () => (await payoutUsed(offer)) === 50, "commission to count 50 EUR", 30_000);

    const full = await burst(program.link.code);
    expect(full.map((c) => c.host)).toEqual(Array(6).fill("fallback.example"));
    const rows = await storedClicks(full.map((c) => c.clickId));
    expect(rows.map((r) => [r.offer_id, r.reasons])).toEqual(Array(6).fill([offer, ["payout_cap"]]));

    await env.admin.patch(`/v1/offers/${offer}`, { payout_cap_daily: "75.00" });
    const raised = await Promise.all([click(0, program.link.code), click(1, program.link.code)]);
    expect(raised.map((c) => c.host)).toEqual(["casino.example", "casino.example"]);

    // 75 of 75, then a reversal takes 25 back.
    await postback(program, raised[1]?.clickId as string, `${run}-3`, "ftd");
    await eventually(async () => (await payoutUsed(offer)) === 75, "the third commission", 30_000);
    expect((await burst(program.link.code)).map((c) => c.host)).toEqual(Array(6).fill("fallback.example"));
    await postback(program, before[0]?.clickId as string, `${run}-1`, "ftd", "reversed");
    await eventually(async () => (await payoutUsed(offer)) === 50, "the reversal counted", 30_000);
    expect((await burst(program.link.code)).map((c) => c.host)).toEqual(Array(6).fill("casino.example"));
  }, 180_000);

  test("set on an offer that already paid its cap today, it closes the offer at once", async () => {
    const program = await createProgram(env.admin, { postbackUrl: affiliate.url, ftdPayout: "30.00" });
    const offer = program.offer.id;
    await eventually(() => redirects(0, program.link.code), "the link known");
    const first = await click(0, program.link.code);
    await postback(program, first.clickId, `paid-${crypto.randomUUID().slice(0, 8)}`, "ftd");
    await eventually(
      async () => {
        const [n] = await env.sql<{ n: number }[]>`
          select count(*)::int as n from ledger_entries where offer_id = ${offer} and type = 'commission'`;
        return n?.n === 1;
      },
      "the commission booked",
      30_000,
    );
    await env.admin.patch(`/v1/offers/${offer}`, { fallback_url: FALLBACK, payout_cap_daily: "30" });
    expect(await payoutUsed(offer)).toBe(30);
    // The cap itself reaches the click service with the link cache (within a second).
    for (const r of [0, 1])
      await eventually(
        async () => (await click(r, program.link.code)).host === "fallback.example",
        `replica ${r} to close the offer`,
      );
  }, 120_000);
});
