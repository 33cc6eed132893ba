import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { foldClicks } from "./reports/rollup.ts";
import { dropRawVisitorData } from "./retention.ts";
import { adminHarness, type Harness, program } from "./test-support.ts";

let h: Harness;
let p: Awaited<ReturnType<typeof program>>;

beforeAll(async () => {
  h = await adminHarness("retention");
  p = await program(h);
});
afterAll(async () => {
  await h?.cleanup();
});

const UA =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
const DAY = 86_400_000;

describe("raw visitor data retention per brand", () => {
  test("IPs, user agents and referrers older than the brand's retention are dropped; newer ones, figures and reports stay", async () => {
    const now = new Date();
    const at = (daysAgo: number) => new Date(now.getTime() - daysAgo * DAY);
    const clicks = [40, 31, 29, 1].map((d, i) => ({
      click_id: h.codec.mint(Number(p.link.id), at(d)),
      clicked_at: at(d).toISOString(),
      link_id: p.link.id,
      offer_id: p.offer.id,
      affiliate_id: p.affiliate.id,
      brand_id: p.brand.id,
      is_unique: true,
      ip: `198.51.100.${i + 1}`,
      user_agent: UA,
      referrer: "https://blog.example/",
      subs: { sub1: `s${i}` },
      device_type: "desktop",
      os: "Windows",
      browser: "Chrome",
      reasons: [],
    }));
    await h.sql`
      insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, referrer, subs,
                          is_unique, device_type, os, browser, reasons)
      select click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, referrer, subs, is_unique,
             device_type, os, browser, reasons
      from json_populate_recordset(null::clicks, ${JSON.stringify(clicks)}::text::json)`;
    await h.sql.begin((tx) => foldClicks(tx, { clicks }));
    const { id: destination } = await h.ok<{ id: string }>("POST", "/v1/conversion-destinations", {
      brand_id: p.brand.id,
      platform: "meta",
      name: "Meta",
      platform_account: "1",
      access_token: "EAAB-retention-token",
      events: { ftd: { name: "Purchase" } },
    });
    const conversions = [];
    for (const [i, c] of clicks.entries()) {
      const [row] = await h.sql`
        insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event,
                                 status, amount, currency, occurred_at, receipt_id, ip, user_agent)
        values (${p.advertiser.id}, ${p.brand.id}, ${p.offer.id}, ${p.affiliate.id}, ${p.link.id}, ${c.click_id}, ${c.clicked_at},
                ${`ret-${i}`}, 'ftd', 'approved', 10, 'EUR', ${c.clicked_at}, ${i + 1}, ${c.ip}, ${UA})
        returning id`;
      conversions.push(row?.id as string);
      await h.sql`insert into conversion_rule_hits (conversion_id, reason, action, measured)
                  values (${row?.id}, 'ip_datacenter', 'flag', ${h.sql.json({ ip: c.ip })})`;
      await h.sql`insert into postback_log (received_at, advertiser_id, brand_id, source, method, params, outcome, http_status, ip)
                  values (${c.clicked_at}, ${p.advertiser.id}, ${p.brand.id}, 'pixel', 'GET', '{}', 'accepted', 200, ${c.ip})`;
      // The conversion forwarded to Meta (delivered), its payload carrying the visitor's IP and user agent.
      await h.sql`
        insert into deliveries (conversion_id, change_seq, destination_id, method, url, body, content_type, status, created_at)
        values (${row?.id}, 1, ${destination}, 'POST', 'https://graph.facebook.com/v24.0/1/events',
                ${JSON.stringify({ data: [{ event_id: `ret-${i}`, user_data: { client_ip_address: c.ip, client_user_agent: UA, external_id: ["ab"] } }] })},
                'application/json', 'delivered', ${c.clicked_at})`;
    }
    const range = `from=${at(45).toISOString().slice(0, 10)}&to=${now.toISOString().slice(0, 10)}T23:59:59Z&tz=UTC&group_by=day`;
    const reportBefore = await h.ok<{ rows: { clicks: number }[] }>(
      "GET",
      `/v1/reports/performance?${range}`,
    );
    const figures = () => h.sql`
      select click_id, is_unique, subs, device_type, os, browser, reasons from clicks where brand_id = ${p.brand.id} order by clicked_at`;
    const figuresBefore = await figures();

    // Nothing is dropped while the brand keeps its data.
    expect(await dropRawVisitorData(h.sql, now)).toEqual({
      clicks: 0,
      conversions: 0,
      postback_log: 0,
      rule_hits: 0,
      platform_forwards: 0,
    });

    const set = await h.call("PATCH", `/v1/brands/${p.brand.id}`, h.keys.admin, { raw_retention_days: 30 });
    expect(set.status).toBe(200);
    expect(
      (await h.call("PATCH", `/v1/brands/${p.brand.id}`, h.keys.admin, { raw_retention_days: 0 })).status,
    ).toBe(400);
    expect(await dropRawVisitorData(h.sql, now)).toEqual({
      clicks: 2,
      conversions: 2,
      postback_log: 2,
      rule_hits: 2,
      platform_forwards: 2,
    });
    // A second pass finds nothing left to drop.
    expect(await dropRawVisitorData(h.sql, now)).toEqual({
      clicks: 0,
      conversions: 0,
      postback_log: 0,
      rule_hits: 0,
      platform_forwards: 0,
    });

    const raw =
      await h.sql`select ip, user_agent, referrer from clicks where brand_id = ${p.brand.id} order by clicked_at`;
    expect(raw.map((r) => [r.ip, r.user_agent, r.referrer])).toEqual([
      [null, null, null],
      [null, null, null],
      ["198.51.100.3", UA, "https://blog.example/"],
      ["198.51.100.4", UA, "https://blog.example/"],
    ]);
    const conv =
      await h.sql`select ip, user_agent from conversions where id in ${h.sql(conversions)} order by id`;
    expect(conv.map((c) => c.ip)).toEqual([null, null, "198.51.100.3", "198.51.100.4"]);
    const hits =
      await h.sql`select measured from conversion_rule_hits where conversion_id in ${h.sql(conversions)} order by conversion_id`;
    expect(hits.map((x) => x.measured)).toEqual([{}, {}, { ip: "198.51.100.3" }, { ip: "198.51.100.4" }]);
    const logs = await h.sql`select ip from postback_log where brand_id = ${p.brand.id} order by received_at`;
    expect(logs.map((l) => l.ip)).toEqual([null, null, "198.51.100.3", "198.51.100.4"]);
    const forwards =
      await h.sql`select body from deliveries where conversion_id in ${h.sql(conversions)} order by conversion_id`;
    expect(forwards.map((f) => JSON.parse(f.body).data[0])).toEqual([
      { event_id: "ret-0", user_data: { external_id: ["ab"] } },
      { event_id: "ret-1", user_data: { external_id: ["ab"] } },
      {
        event_id: "ret-2",
        user_data: { client_ip_address: "198.51.100.3", client_user_agent: UA, external_id: ["ab"] },
      },
      {
        event_id: "ret-3",
        user_data: { client_ip_address: "198.51.100.4", client_user_agent: UA, external_id: ["ab"] },
      },
    ]);

    expect(await figures()).toEqual(figuresBefore);
    expect(await h.ok("GET", `/v1/reports/performance?${range}`)).toEqual(reportBefore);
    expect(reportBefore.rows.reduce((n, r) => n + r.clicks, 0)).toBe(4);
  });
});
