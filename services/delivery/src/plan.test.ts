import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ClickIdCodec } from "@roundtrip/clickid";
import type { CommissionBooked } from "@roundtrip/contracts";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { planDeliveries } from "./plan.ts";

let db: TestDatabase;
let sql: Sql;
let brand: string;
let offer: string;
let otherOffer: string;

beforeAll(async () => {
  db = await createTestDatabase("plan");
  sql = db.sql;
  const [b] =
    await sql`insert into brands (slug, name, currency) values ('lucky', 'Lucky', 'EUR') returning id`;
  brand = b?.id;
  const [adv] = await sql`insert into advertisers (brand_id, name) values (${brand}, 'Casino') returning id`;
  const offers = await sql`
    insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${brand}, ${adv?.id}, 'One', 'https://x.example/', 'EUR'), (${brand}, ${adv?.id}, 'Two', 'https://x.example/', 'EUR')
    returning id`;
  [offer, otherOffer] = offers.map((o) => o.id) as [string, string];
});
afterAll(async () => {
  await db?.drop();
});

async function affiliate(): Promise<string> {
  const [a] = await sql`insert into affiliates (name) values ('A') returning id`;
  return a?.id;
}

async function template(affiliateId: string, over: Record<string, unknown> = {}): Promise<string> {
  const row: Record<string, unknown> = {
    affiliate_id: affiliateId,
    url_template: "https://aff.example/pb?cid={click_id}",
    ...over,
  };
  const [t] = await sql`insert into affiliate_postbacks ${sql(row as Record<string, never>)} returning id`;
  return t?.id;
}

let n = 0;
const booked = (affiliateId: string, over: Partial<CommissionBooked> = {}): CommissionBooked => ({
  conversion_id: String(++n),
  seq: 1,
  entry_id: null,
  entry_type: null,
  status: "approved",
  affiliate_id: affiliateId,
  offer_id: offer,
  brand_id: brand,
  click_id: `clk${n}`,
  txid: `tx&${n}`,
  event: "ftd",
  amount: "100.00",
  payout: "25.00",
  currency: "EUR",
  occurred_at: "2026-03-10T12:00:00.000Z",
  ...over,
});

const codec = ClickIdCodec.fromSpec(`plan:${"k".repeat(40)}`);
const storeClick = (clickId: string, at: Date, affiliateId: string, subs: Record<string, string>) =>
  sql`
    insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, subs)
    values (${clickId}, ${at}, 1, ${offer}, ${affiliateId}, ${brand}, ${sql.json(subs)})`;

const plan = (c: CommissionBooked) => sql.begin((tx) => planDeliveries(tx, c));
const rows = (conversionId: string) =>
  sql`select template_id, method, url, body, content_type, status, last_error from deliveries where conversion_id = ${conversionId}`;

describe("planning affiliate postbacks", () => {
  test("the most specific template wins: offer and event, offer, event, global", async () => {
    const a = await affiliate();
    const global = await template(a);
    const byEvent = await template(a, { event: "ftd" });
    const byOffer = await template(a, { offer_id: offer });
    const byBoth = await template(a, { offer_id: offer, event: "ftd" });
    const cases: [Partial<CommissionBooked>, string][] = [
      [{ offer_id: offer, event: "ftd" }, byBoth],
      [{ offer_id: offer, event: "registration" }, byOffer],
      [{ offer_id: otherOffer, event: "ftd" }, byEvent],
      [{ offer_id: otherOffer, event: "registration" }, global],
    ];
    for (const [over, expected] of cases) {
      const c = booked(a, over);
      await plan(c);
      expect((await rows(c.conversion_id))[0]?.template_id).toBe(expected);
    }
  });

  test("exactly one row per (conversion, status change, template), however often the event arrives", async () => {
    const a = await affiliate();
    await template(a);
    const c = booked(a);
    expect(await plan(c)).toBe(1);
    expect(await plan(c)).toBe(0);
    expect(await plan({ ...c, seq: 2, status: "reversed", payout: "0.00" })).toBe(1);
    expect(await rows(c.conversion_id)).toHaveLength(2);
  });

  test("macros are URL-encoded; the click's sub IDs and the brand are filled", async () => {
    const a = await affiliate();
    await template(a, {
      url_template:
        "https://aff.example/pb?cid={click_id}&tx={txid}&s1={sub1}&s2={sub2}&b={brand}&p={payout}",
    });
    // A click from nine days ago (another partition), found by the time its ID carries.
    const clickedAt = new Date(Date.now() - 9 * 86_400_000);
    const c = booked(a, { click_id: codec.mint(1, clickedAt) });
    await storeClick(c.click_id, clickedAt, a, { sub1: "news letter&x=1" });
    await plan(c);
    expect((await rows(c.conversion_id))[0]?.url).toBe(
      `https://aff.example/pb?cid=${c.click_id}&tx=tx%26${n}&s1=news%20letter%26x%3D1&s2=&b=lucky&p=25.00`,
    );
  });

  test("the click is looked up only at the time its ID carries", async () => {
    const a = await affiliate();
    await template(a, { url_template: "https://aff.example/pb?s1={sub1}" });
    const clickedAt = new Date();
    const c = booked(a, { click_id: codec.mint(1, clickedAt) });
    // The same ID stored a day later than it says (no such click exists; it shows the bound).
    await storeClick(c.click_id, new Date(clickedAt.getTime() + 86_400_000), a, { sub1: "elsewhere" });
    await plan(c);
    expect((await rows(c.conversion_id))[0]?.url).toBe("https://aff.example/pb?s1=");
    const d = booked(a, { click_id: codec.mint(1, clickedAt) });
    await storeClick(d.click_id, clickedAt, a, { sub1: "here" });
    await plan(d);
    expect((await rows(d.conversion_id))[0]?.url).toBe("https://aff.example/pb?s1=here");
  });

  test("POST: the standard JSON body, a JSON template escaped as JSON, a form template URL-encoded", async () => {
    const a = await affiliate();
    await template(a, { method: "POST", url_template: "https://aff.example/hook" });
    const c = booked(a, { txid: 'say "hi"' });
    await plan(c);
    const [std] = await rows(c.conversion_id);
    expect(std?.content_type).toBe("application/json");
    expect(JSON.parse(std?.body)).toMatchObject({
      type: "conversion.approved",
      timestamp: "2026-03-10T12:00:00.000Z",
      data: {
        click_id: c.click_id,
        txid: 'say "hi"',
        payout: "25.00",
        currency: "EUR",
        sub1: null,
        brand: "lucky",
      },
    });

    const b = await affiliate();
    await template(b, {
      method: "POST",
      url_template: "https://aff.example/hook",
      body_template: '{"id":"{txid}","pay":"{payout}"}',
    });
    const d = booked(b, { txid: 'a"b\\c' });
    await plan(d);
    expect(JSON.parse((await rows(d.conversion_id))[0]?.body)).toEqual({ id: 'a"b\\c', pay: "25.00" });

    const f = await affiliate();
    await template(f, {
      method: "POST",
      url_template: "https://aff.example/hook",
      content_type: "application/x-www-form-urlencoded",
      body_template: "id={txid}&st={status}",
    });
    const e = booked(f, { txid: "a&b=c" });
    await plan(e);
    const [form] = await rows(e.conversion_id);
    expect(form).toMatchObject({
      body: "id=a%26b%3Dc&st=approved",
      content_type: "application/x-www-form-urlencoded",
    });
  });

  test("an operator-disabled template is skipped; an endpoint the sender disabled gets its row dead-lettered", async () => {
    const a = await affiliate();
    const global = await template(a);
    await template(a, { event: "ftd", status: "disabled", disabled_reason: "operator" });
    const c = booked(a);
    await plan(c);
    expect((await rows(c.conversion_id))[0]?.template_id).toBe(global);

    const b = await affiliate();
    await template(b, { status: "disabled", disabled_reason: "gone" });
    const d = booked(b);
    await plan(d);
    expect((await rows(d.conversion_id))[0]).toMatchObject({
      status: "dead",
      last_error: "endpoint disabled (gone)",
    });
  });

  test("an affiliate without a template gets nothing", async () => {
    expect(await plan(booked(await affiliate()))).toBe(0);
  });
});
