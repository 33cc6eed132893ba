import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminHarness, type Harness, program } from "../../test-support.ts";

/**
 * GET /v1/attention over a real admin and database: each condition written the way its owner
 * writes it (commission's block row, attribution's rejection, delivery's rows, the bus tables),
 * then found in the panel with where to fix it — and gone once fixed.
 */
let h: Harness;
let p: Awaited<ReturnType<typeof program>>;

type Item = {
  kind: string;
  title: string;
  count: number;
  fix: { page: string; params?: Record<string, string> };
  rate?: number;
};
const items = async (key = h.keys.analyst) => {
  const a = await h.call<{ items: Item[] }>("GET", "/v1/attention", key);
  expect(a.status).toBe(200);
  return a.body.items;
};

beforeAll(async () => {
  h = await adminHarness("attention");
  p = await program(h);
});
afterAll(async () => {
  await h?.cleanup();
});

async function conversion(txid: string): Promise<string> {
  const [r] = await h.sql`
    insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event, status, amount, currency, occurred_at, receipt_id)
    values (${p.advertiser.id}, ${p.brand.id}, ${p.offer.id}, ${p.affiliate.id}, ${p.link.id}, 'c', now(), ${txid}, 'ftd', 'approved', 100, 'EUR', now(), 1)
    returning id`;
  return String(r?.id);
}

describe("needs attention", () => {
  test("a quiet system has nothing to show; affiliates may not ask", async () => {
    expect(await items()).toEqual([]);
    const key = await h.affiliateKey(p.affiliate.id);
    expect((await h.call("GET", "/v1/attention", key)).status).toBe(403);
  });

  test("blocked conversions name the missing FX pair and point at the FX rates page", async () => {
    const ids = [await conversion("att-1"), await conversion("att-2")];
    for (const id of ids)
      await h.sql`insert into commission_blocks (conversion_id, change_seq, change, reason, detail, message)
                  values (${id}, 1, '{}', 'fx_rate_missing', ${h.sql.json({ from: "EUR", to: "CHF" })}, 'no EUR→CHF rate in force')`;
    const blocked = (await items()).find((i) => i.kind === "commission_blocked");
    expect(blocked).toMatchObject({ count: 2, fix: { page: "fx-rates", params: { pair: "EUR→CHF" } } });
    expect(blocked?.title).toContain("EUR→CHF");
    await h.sql`delete from commission_blocks`;
    expect((await items()).some((i) => i.kind === "commission_blocked")).toBe(false);
  });

  test("conversions held over a cap point at their offer, and leave once released", async () => {
    const id = await conversion("att-cap");
    await h.sql`update conversions set cap_blocked_since = now() where id = ${id}`;
    expect((await items()).find((i) => i.kind === "conversions_over_cap")).toMatchObject({
      count: 1,
      fix: { page: "offers", params: { id: p.offer.id } },
    });
    await h.sql`update conversions set cap_blocked_since = null where id = ${id}`;
    expect((await items()).some((i) => i.kind === "conversions_over_cap")).toBe(false);
  });

  test("fixable attribution rejections of the last day; others are the advertiser's", async () => {
    await h.sql`insert into attribution_rejections (receipt_id, advertiser_id, event, reason)
                values (9001, ${p.advertiser.id}, 'deposit2', 'unknown_event'), (9002, ${p.advertiser.id}, 'ftd', 'over_cap'),
                       (9003, ${p.advertiser.id}, 'ftd', 'outside_window')`;
    await h.sql`insert into attribution_rejections (receipt_id, advertiser_id, event, reason, at)
                values (9004, ${p.advertiser.id}, 'ftd', 'over_cap', now() - interval '2 days')`;
    const rejected = (await items()).filter((i) => i.kind === "conversions_rejected");
    // Each links to the offers of the advertiser that sends them.
    expect(rejected.every((i) => i.fix.params?.advertiser_id === p.advertiser.id)).toBe(true);
    expect(rejected.map((i) => [i.fix.page, i.count]).sort()).toEqual([
      ["offers", 1],
      ["offers", 1],
    ]);
    await h.sql`delete from attribution_rejections`;
  });

  test("failing and disabled endpoints, postback success under 98 %, dead letters and owed events", async () => {
    const [template] = await h.sql`
      insert into affiliate_postbacks (affiliate_id, url_template, status) values (${p.affiliate.id}, 'https://aff.example/pb?c={click_id}', 'disabled')
      returning id`;
    const id = await conversion("att-3");
    await h.sql`insert into deliveries (conversion_id, change_seq, template_id, affiliate_id, method, url, status, attempts)
                select ${id}, n, ${template?.id}, ${p.affiliate.id}, 'GET', 'https://aff.example/pb', s, 3
                from (values (1, 'failed'), (2, 'dead'), (3, 'pending')) v(n, s)`;
    await h.sql`insert into deliveries (conversion_id, change_seq, template_id, affiliate_id, method, url, status, attempts)
                select ${id}, n, ${template?.id}, ${p.affiliate.id}, 'GET', 'https://aff.example/pb', 'delivered', 1
                from generate_series(10, 19) n`;
    await h.sql`insert into bus_dead_letters (consumer, message_id) values ('delivery', 'x-1')`;
    await h.sql`insert into bus_outbox (subject, payload, created_at) values ('conversions.changed.1', '{}', now() - interval '10 minutes')`;
    const all = await items();
    const kinds = all.map((i) => i.kind);
    expect(kinds).toContain("endpoint_disabled");
    expect(all.find((i) => i.kind === "endpoint_failing")).toMatchObject({
      count: 3,
      fix: { page: "deliveries" },
    });
    const rate = all.find((i) => i.kind === "delivery_success_low");
    // 10 delivered of 13 settled or tried.
    expect(rate?.rate).toBeCloseTo(10 / 13, 5);
    expect(all.find((i) => i.kind === "dead_letters")?.count).toBe(1);
    expect(all.find((i) => i.kind === "owed_events")?.count).toBeGreaterThanOrEqual(1);
  });

  test("a spike in bot clicks or rule-rejected conversions: what, where, and the filtered list", async () => {
    const hour = (h0: number) => {
      const d = new Date();
      d.setUTCMinutes(0, 0, 0);
      d.setUTCHours(d.getUTCHours() - h0);
      return d;
    };
    // Totals as the report rollup keeps them: 200 clicks and 40 conversions now, 2400 and 480 the day before.
    const rollup = async (at: Date, clicks: number, conversions: number) =>
      h.sql`insert into report_hourly (hour, offer_id, affiliate_id, currency, brand_id, advertiser_id, clicks, conversions)
            values (${at}, ${p.offer.id}, ${p.affiliate.id}, 'EUR', ${p.brand.id}, ${p.advertiser.id}, ${clicks}, ${conversions})`;
    await rollup(hour(0), 200, 40);
    for (let i = 2; i < 26; i++) await rollup(hour(i), 100, 20);
    const clicks = async (n: number, at: Date, reasons: string[]) =>
      h.sql`insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, reasons)
            select 'spike-' || ${at.getTime()} || '-' || g, ${at}, ${p.link.id}, ${p.offer.id}, ${p.affiliate.id}, ${p.brand.id}, ${reasons}
            from generate_series(1, ${n}) g`;
    // The day before: 2 % bots. Not a spike when the last hour is the same.
    await clicks(48, hour(5), ["bot"]);
    await clicks(4, new Date(), ["bot"]);
    expect((await items()).some((i) => i.kind === "flagged_clicks_spike")).toBe(false);
    // Then 40 % of the last hour's clicks are bots.
    await clicks(76, new Date(Date.now() - 60_000), ["bot"]);
    const spike = (await items()).find((i) => i.kind === "flagged_clicks_spike");
    expect(spike).toMatchObject({
      title: "Spike in bot clicks",
      count: 80,
      fix: { page: "clicks", params: { reason: "bot", affiliate_id: p.affiliate.id, offer_id: p.offer.id } },
    });
    expect(spike?.rate).toBeCloseTo(0.4, 5);
    expect(spike?.title).toBeDefined();
    const detail = (await items()).find((i) => i.kind === "flagged_clicks_spike") as Item & {
      detail: string;
    };
    expect(detail.detail).toContain("40 %");
    expect(detail.detail).toContain("2 %");
    expect(detail.detail).toContain("most from Affiliate on Welcome (80)");
    // The link leads to the list it names: the clicks API filters by reason.
    const listed = await h.call<{ data: { reasons: string[] }[] }>(
      "GET",
      `/v1/clicks?reason=bot&affiliate_id=${p.affiliate.id}&from=${hour(6).toISOString()}&limit=500`,
      h.keys.analyst,
    );
    expect(listed.body.data.length).toBe(80 + 48);
    expect(listed.body.data.every((c) => c.reasons.includes("bot"))).toBe(true);
    // An affiliate cannot read reason codes, so cannot filter by them either.
    const key = await h.affiliateKey(p.affiliate.id);
    expect((await h.call("GET", "/v1/clicks?reason=bot", key)).status).toBe(403);

    // Conversions a rule rejected: 10 of the last hour's 40 against none before.
    for (let i = 0; i < 10; i++) {
      const id = await conversion(`spike-rej-${i}`);
      await h.sql`update conversions set status = 'rejected' where id = ${id}`;
      await h.sql`insert into conversion_rule_hits (conversion_id, reason, action) values (${id}, 'ip_blocked', 'reject')`;
    }
    expect((await items()).find((i) => i.kind === "rejected_conversions_spike")).toMatchObject({
      title: "Spike in conversions rejected by a rule (ip_blocked)",
      count: 10,
      rate: 0.25,
      fix: { page: "conversions", params: { status: "rejected", affiliate_id: p.affiliate.id } },
    });
    await h.sql`delete from conversion_rule_hits`;
    await h.sql`delete from clicks where click_id like 'spike-%'`;
    await h.sql`delete from report_hourly`;
  });

  test("anomalies as the Prometheus rules name them: rate, volume, gone quiet, postbacks stopped", async () => {
    const hour = (back: number) => {
      const d = new Date();
      d.setUTCMinutes(0, 0, 0);
      return new Date(d.getTime() - back * 3_600_000);
    };
    const other = await h.ok<{ id: string }>("POST", "/v1/affiliates", { name: "Quiet Partner" });
    const row = (at: Date, affiliate: string, clicks: number, conversions: number, sub1 = "") =>
      h.sql`insert into report_hourly (hour, offer_id, affiliate_id, currency, sub1, brand_id, advertiser_id, clicks, conversions)
            values (${at}, ${p.offer.id}, ${affiliate}, 'EUR', ${sub1}, ${p.brand.id}, ${p.advertiser.id}, ${clicks}, ${conversions})`;
    // The day before: 1 conversion in 100 clicks an hour for the first, 2 an hour for the quiet one.
    for (let i = 3; i < 27; i++) {
      await row(hour(i), p.affiliate.id, 100, 1);
      await row(hour(i), other.id, 50, 2);
    }
    // Now: 30 conversions in 100 clicks (rate 30 %, 30 times the usual); the other, nothing.
    await row(hour(0), p.affiliate.id, 100, 30);
    const all = await items();
    const rate = all.find((i) => i.kind === "affiliate_conversion_rate_anomaly");
    expect(rate).toMatchObject({
      count: 30,
      fix: { page: "conversions", params: { affiliate_id: p.affiliate.id } },
    });
    expect(rate?.title).toBe("Affiliate converts far above its own rate");
    expect(all.find((i) => i.kind === "affiliate_gone_quiet")).toMatchObject({
      title: "Quiet Partner has gone quiet",
      fix: { page: "links", params: { affiliate_id: other.id } },
    });
    // The offer still converts (the first affiliate), so its postbacks have not stopped.
    expect(all.some((i) => i.kind === "offer_postbacks_stopped")).toBe(false);
    // Without the last hours' conversions it has: every affiliate of the offer silent for two hours.
    await h.sql`delete from report_hourly where hour >= ${hour(1)}`;
    const stopped = (await items()).find((i) => i.kind === "offer_postbacks_stopped");
    expect(stopped).toMatchObject({
      severity: "critical",
      fix: { page: "advertiser", params: { id: p.advertiser.id } },
    });
    // Volume without a rate change: many clicks and conversions at the usual rate.
    await row(hour(0), p.affiliate.id, 2000, 20, "burst");
    expect((await items()).find((i) => i.kind === "affiliate_conversion_volume_anomaly")).toMatchObject({
      count: 20,
    });
    await h.sql`delete from report_hourly`;
  });
});
